package settle

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

func i64(v int64) *int64 { return &v }

var t0 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

func pay(id string, amount int64) Payment {
	return Payment{ID: id, OutNo: "o" + id, Currency: "CNY", Amount: amount, BusinessDate: "2026-11-22", PaidAt: t0}
}

func ref(id, payment string, amount, paymentAmount int64, at int) Refund {
	return Refund{ID: id, PaymentID: payment, OutNo: "r" + id, Currency: "CNY", Amount: amount, BusinessDate: "2026-11-22",
		SucceededAt: t0.Add(time.Duration(at) * time.Minute), PaymentAmount: paymentAmount}
}

// summary is the part of a batch the table compares.
type summary struct {
	Cur                                                 money.Currency
	Payments, Refunds, Gross, Refunded, Fee, Carry, Net int64
	Status                                              paygw.SettleStatus
	Fees                                                map[string]int64
}

func summarize(r Result) []summary {
	var out []summary
	for _, b := range r.Batches {
		s := summary{b.Currency, b.Payments, b.Refunds, b.Gross, b.Refunded, b.Fee, b.CarriedIn, b.Net, b.Status, map[string]int64{}}
		for _, it := range b.Items {
			s.Fees[it.ID] = it.Fee
		}
		out = append(out, s)
	}
	return out
}

func TestCompute(t *testing.T) {
	p60 := paygw.FeePlan{RateBps: 60}
	tests := []struct {
		name     string
		plan     paygw.FeePlan
		carried  map[money.Currency]int64
		payments []Payment
		refunds  []Refund
		want     []summary
		deferred int
	}{
		{name: "empty", plan: p60},
		{
			name: "rounding half up at the boundary", plan: p60,
			// 0.6% of 250 = 1.5 -> 2; of 249 = 1.494 -> 1; of 83 = 0.498 -> 0.
			payments: []Payment{pay("a", 250), pay("b", 249), pay("c", 83)},
			want:     []summary{{"CNY", 3, 0, 582, 0, 3, 0, 579, StatusSettled, map[string]int64{"a": 2, "b": 1, "c": 0}}},
		},
		{
			name: "fixed fee with min and max", plan: paygw.FeePlan{RateBps: 100, Fixed: 10, Min: i64(50), Max: i64(500)},
			// 1% of 100 + 10 = 11 -> min 50; of 4000 + 10 = 50 exactly; of 100000 + 10 = 1010 -> max 500.
			payments: []Payment{pay("a", 100), pay("b", 4000), pay("c", 100000)},
			want:     []summary{{"CNY", 3, 0, 104100, 0, 600, 0, 103500, StatusSettled, map[string]int64{"a": 50, "b": 50, "c": 500}}},
		},
		{
			name: "full refund in the same batch returns the whole fee", plan: p60,
			payments: []Payment{pay("a", 10000)},
			refunds:  []Refund{ref("r1", "a", 10000, 10000, 1)},
			want:     []summary{{"CNY", 1, 1, 10000, 10000, 0, 0, 0, StatusCarried, map[string]int64{"a": 60, "r1": 60}}},
		},
		{
			name: "partial refunds: proportional, the last takes what is left", plan: p60,
			// fee 0.6% of 999 = 5.994 -> 6; 333/999 of 6 = 2 each; the last returns 6-2-2 = 2.
			payments: []Payment{pay("a", 999), pay("b", 1001)},
			refunds: []Refund{ref("r1", "a", 333, 999, 1), ref("r2", "a", 333, 999, 2), ref("r3", "a", 333, 999, 3),
				ref("r4", "b", 500, 1001, 4)},
			// b: fee 6.006 -> 6; 500/1001 of 6 = 2.997 -> 3.
			want: []summary{{"CNY", 2, 4, 2000, 1499, 3, 0, 498, StatusSettled,
				map[string]int64{"a": 6, "b": 6, "r1": 2, "r2": 2, "r3": 2, "r4": 3}}},
		},
		{
			name: "rounding never returns more than is left", plan: paygw.FeePlan{RateBps: 0, Fixed: 1},
			// fee 1 on 3: refunds of 2 then 1: round(1×2/3)=1, then the full refund returns 0.
			payments: []Payment{pay("a", 3)},
			refunds:  []Refund{ref("r2", "a", 1, 3, 2), ref("r1", "a", 2, 3, 1)},
			want:     []summary{{"CNY", 1, 2, 3, 3, 0, 0, 0, StatusCarried, map[string]int64{"a": 1, "r1": 1, "r2": 0}}},
		},
		{
			name: "refund of a payment settled earlier uses its recorded fee", plan: paygw.FeePlan{RateBps: 200},
			// recorded fee 50 (the plan was 0.5% then; now 2%), 4000 of 10000 refunded before with 20 returned;
			// this refund of 6000 completes it: returns 50-20 = 30, not 2% of anything.
			refunds: []Refund{func() Refund {
				r := ref("r2", "old", 6000, 10000, 1)
				r.PaymentFee, r.RefundedBefore, r.ReturnedBefore = i64(50), 4000, 20
				return r
			}()},
			want: []summary{{"CNY", 0, 1, 0, 6000, -30, 0, -5970, StatusCarried, map[string]int64{"r2": 30}}},
		},
		{
			name: "two refunds of an earlier payment in one batch", plan: p60,
			refunds: []Refund{
				func() Refund { r := ref("r1", "old", 2500, 10000, 1); r.PaymentFee = i64(60); return r }(),
				func() Refund { r := ref("r2", "old", 7500, 10000, 2); r.PaymentFee = i64(60); return r }(),
			},
			want: []summary{{"CNY", 0, 2, 0, 10000, -60, 0, -9940, StatusCarried, map[string]int64{"r1": 15, "r2": 45}}},
		},
		{
			name: "refund of an unsettled payment waits", plan: p60,
			payments: []Payment{pay("a", 1000)},
			refunds:  []Refund{ref("r1", "elsewhere", 100, 1000, 1)},
			want:     []summary{{"CNY", 1, 0, 1000, 0, 6, 0, 994, StatusSettled, map[string]int64{"a": 6}}},
			deferred: 1,
		},
		{
			name: "carried in makes net non-positive", plan: p60,
			carried:  map[money.Currency]int64{"CNY": -1000, "USD": 500},
			payments: []Payment{pay("a", 1000)},
			want:     []summary{{"CNY", 1, 0, 1000, 0, 6, -1000, -6, StatusCarried, map[string]int64{"a": 6}}},
		},
		{
			name: "carried in paid off", plan: p60,
			carried:  map[money.Currency]int64{"CNY": -994},
			payments: []Payment{pay("a", 2000)},
			want:     []summary{{"CNY", 1, 0, 2000, 0, 12, -994, 994, StatusSettled, map[string]int64{"a": 12}}},
		},
		{
			name: "several currencies, each its own batch and carry", plan: p60,
			carried: map[money.Currency]int64{"USD": -100},
			payments: []Payment{pay("a", 1000), {ID: "u", Currency: "USD", Amount: 2500, PaidAt: t0},
				{ID: "j", Currency: "JPY", Amount: 250, PaidAt: t0}},
			refunds: []Refund{{ID: "ru", PaymentID: "u", Currency: "USD", Amount: 2500, PaymentAmount: 2500, SucceededAt: t0}},
			want: []summary{
				{"CNY", 1, 0, 1000, 0, 6, 0, 994, StatusSettled, map[string]int64{"a": 6}},
				{"JPY", 1, 0, 250, 0, 2, 0, 248, StatusSettled, map[string]int64{"j": 2}},
				{"USD", 1, 1, 2500, 2500, 0, -100, -100, StatusCarried, map[string]int64{"u": 15, "ru": 15}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.plan, tt.carried, tt.payments, tt.refunds)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("batches (-want +got):\n%s", diff)
			}
			if len(got.Deferred) != tt.deferred {
				t.Errorf("deferred = %d, want %d", len(got.Deferred), tt.deferred)
			}
			for _, b := range got.Batches {
				if n, _ := Net(b.Gross, b.Refunded, b.Fee, b.CarriedIn); n != b.Net {
					t.Errorf("%s net %d, formula %d", b.Currency, b.Net, n)
				}
			}
		})
	}
}

func TestComputeErrors(t *testing.T) {
	p := paygw.FeePlan{RateBps: 60}
	tests := []struct {
		name     string
		payments []Payment
		refunds  []Refund
	}{
		{"non-positive amount", []Payment{pay("a", 0)}, nil},
		{"duplicate payment", []Payment{pay("a", 1), pay("a", 1)}, nil},
		{"unknown currency", []Payment{{ID: "x", Currency: "XXX", Amount: 1}}, nil},
		{"refunds exceed payment", []Payment{pay("a", 100)}, []Refund{ref("r1", "a", 60, 100, 1), ref("r2", "a", 60, 100, 2)}},
		{"duplicate refund", []Payment{pay("a", 100)}, []Refund{ref("r1", "a", 10, 100, 1), ref("r1", "a", 10, 100, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compute(p, nil, tt.payments, tt.refunds); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestComputeAcrossDays chains days as Run does: each day's negative net carries into the next
// batch, and a refund of a payment settled on an earlier day returns the fee recorded then.
func TestComputeAcrossDays(t *testing.T) {
	plan := paygw.FeePlan{RateBps: 60, Fixed: 5}
	recorded := map[string]int64{}          // payment id -> fee in its batch
	settledRefunds := map[string][2]int64{} // payment id -> amount, fee of refunds settled
	carry := map[money.Currency]int64{}
	days := []struct {
		payments []Payment
		refunds  []Refund
		wantNet  int64
		wantCar  int64
	}{
		// day 1: 10000 -> fee 65; net 9935.
		{payments: []Payment{pay("a", 10000)}, wantNet: 9935},
		// day 2: refund 4000 of a -> returns round(65×0.4)=26; small payment 100 -> fee 6. net 100-6-4000+26 = -3880.
		{payments: []Payment{pay("b", 100)}, refunds: []Refund{ref("r1", "a", 4000, 10000, 1)}, wantNet: -3880, wantCar: 0},
		// day 3: refund the rest of a (6000) -> returns 65-26 = 39; payment 20000 -> fee 125.
		// net 20000-6000-(125-39)-3880 = 10034.
		{payments: []Payment{pay("c", 20000)}, refunds: []Refund{ref("r2", "a", 6000, 10000, 1)}, wantNet: 10034, wantCar: -3880},
	}
	for i, d := range days {
		for j := range d.refunds {
			r := &d.refunds[j]
			if f, ok := recorded[r.PaymentID]; ok {
				r.PaymentFee = i64(f)
				r.RefundedBefore, r.ReturnedBefore = settledRefunds[r.PaymentID][0], settledRefunds[r.PaymentID][1]
			}
		}
		res, err := Compute(plan, carry, d.payments, d.refunds)
		if err != nil {
			t.Fatalf("day %d: %v", i+1, err)
		}
		b := res.Batches[0]
		if b.Net != d.wantNet || b.CarriedIn != d.wantCar {
			t.Fatalf("day %d: net %d carried in %d, want %d %d", i+1, b.Net, b.CarriedIn, d.wantNet, d.wantCar)
		}
		for _, it := range b.Items {
			if it.Kind == KindPayment {
				recorded[it.ID] = it.Fee
			} else {
				s := settledRefunds[it.PaymentID]
				settledRefunds[it.PaymentID] = [2]int64{s[0] + it.Amount, s[1] + it.Fee}
			}
		}
		carry[b.Currency] = CarryOut(b.Net)
	}
	if got := settledRefunds["a"]; got != [2]int64{10000, 65} {
		t.Errorf("refunds of a settled %v, want all 10000 with the whole fee 65 returned", got)
	}
}

func TestShardStable(t *testing.T) {
	// FNV-1a 32 of "mch_1" is fixed; the partition must never change between releases.
	if got := Shard("mch_1", 7); got != int(fnv1a("mch_1")%7) {
		t.Fatalf("Shard = %d", got)
	}
	counts := make([]int, 4)
	for range 1000 {
		counts[Shard(paygw.NewID("mch"), 4)]++
	}
	for s, n := range counts {
		if n < 150 {
			t.Errorf("shard %d has %d of 1000 merchants: not spread", s, n)
		}
	}
	if Shard("x", 1) != 0 || Shard("x", 0) != 0 {
		t.Error("one shard must be shard 0")
	}
}

func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
