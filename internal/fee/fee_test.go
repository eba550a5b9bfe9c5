package fee

import (
	"testing"

	"github.com/paygw/paygw/internal/paygw"
)

func p64(v int64) *int64 { return &v }

func TestPayment(t *testing.T) {
	tests := []struct {
		name   string
		plan   paygw.FeePlan
		amount int64
		want   int64
	}{
		{"zero plan", paygw.FeePlan{}, 1000, 0},
		{"60bps exact", paygw.FeePlan{RateBps: 60}, 10000, 60},
		{"60bps half rounds up", paygw.FeePlan{RateBps: 60}, 25, 0}, // 0.15 -> 0
		{"just below half", paygw.FeePlan{RateBps: 30}, 1666, 5},    // 4.998
		{"exactly half", paygw.FeePlan{RateBps: 30}, 1500, 5},       // 4.5 -> 5
		{"below half", paygw.FeePlan{RateBps: 30}, 1483, 4},         // 4.449
		{"one cent 50bps", paygw.FeePlan{RateBps: 50}, 100, 1},      // 0.5 -> 1
		{"one cent 49bps", paygw.FeePlan{RateBps: 49}, 100, 0},      // 0.49 -> 0
		{"fixed added", paygw.FeePlan{RateBps: 30, Fixed: 10}, 1000, 13},
		{"min clamps", paygw.FeePlan{RateBps: 30, Min: p64(50)}, 1000, 50},
		{"max clamps", paygw.FeePlan{RateBps: 30, Max: p64(200)}, 1000000, 200},
		{"min max inside", paygw.FeePlan{RateBps: 30, Min: p64(1), Max: p64(200)}, 10000, 30},
		{"at max boundary", paygw.FeePlan{RateBps: 100, Max: p64(100)}, 10000, 100},
	}
	for _, tt := range tests {
		got, err := Payment(tt.plan, tt.amount)
		if err != nil || got != tt.want {
			t.Errorf("%s: Payment(%d) = %d, %v; want %d", tt.name, tt.amount, got, err, tt.want)
		}
	}
}

func TestRefund(t *testing.T) {
	tests := []struct {
		name                                   string
		fee, amount, refund, before, retBefore int64
		want                                   int64
	}{
		{"full refund returns the whole fee", 7, 1234, 1234, 0, 0, 7},
		{"half refund", 7, 1000, 500, 0, 0, 4}, // 3.5 -> 4
		{"second half gets the rest", 7, 1000, 500, 500, 4, 3},
		{"three thirds never drift", 10, 300, 100, 0, 0, 3},
		{"third of three", 10, 300, 100, 200, 6, 4},
		{"tiny refund", 7, 1000, 1, 0, 0, 0},
		{"zero fee", 0, 1000, 400, 0, 0, 0},
	}
	for _, tt := range tests {
		got, err := Refund(tt.fee, tt.amount, tt.refund, tt.before, tt.retBefore)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
	if _, err := Refund(7, 1000, 600, 500, 0); err == nil {
		t.Error("refund beyond the amount accepted")
	}
}

func TestValidate(t *testing.T) {
	bad := []paygw.FeePlan{{RateBps: -1}, {RateBps: 10001}, {Fixed: -1}, {Min: p64(5), Max: p64(4)}}
	for _, p := range bad {
		if Validate(p) == nil {
			t.Errorf("Validate(%+v) accepted", p)
		}
	}
	if err := Validate(paygw.FeePlan{RateBps: 60, Fixed: 0, Min: p64(1), Max: p64(100)}); err != nil {
		t.Error(err)
	}
}
