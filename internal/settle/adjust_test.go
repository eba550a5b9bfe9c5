package settle

import (
	"testing"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// TestAddAdjustments: accepted reconciliation differences join the batch of their currency, a
// positive one in gross and a negative one in refunded, with no fee; a merchant with nothing
// else to settle gets a batch of its own that carries in its previous negative net.
func TestAddAdjustments(t *testing.T) {
	adj := func(id string, cur money.Currency, amount int64) Adjustment {
		return Adjustment{ID: id, ObjectID: "pay_" + id, PaymentID: "pay_" + id, Currency: cur, BusinessDate: "2026-11-22", Amount: amount}
	}
	plan := paygw.FeePlan{RateBps: 60}
	cases := []struct {
		name     string
		payments []Payment
		carried  map[money.Currency]int64
		adjs     []Adjustment
		want     []summary
		refusing bool
	}{
		{name: "up, into the payment's batch", payments: []Payment{pay("p1", 58299)}, adjs: []Adjustment{adj("a1", "CNY", 100)},
			want: []summary{{"CNY", 1, 0, 58399, 0, 350, 0, 58049, StatusSettled, map[string]int64{"p1": 350}}}},
		{name: "down counts as money out", payments: []Payment{pay("p1", 20000)}, adjs: []Adjustment{adj("a1", "CNY", -50)},
			want: []summary{{"CNY", 1, 0, 20000, 50, 120, 0, 19830, StatusSettled, map[string]int64{"p1": 120}}}},
		{name: "both ways in one batch", payments: []Payment{pay("p1", 10000)}, adjs: []Adjustment{adj("a1", "CNY", 7), adj("a2", "CNY", -3)},
			want: []summary{{"CNY", 1, 0, 10007, 3, 60, 0, 9944, StatusSettled, map[string]int64{"p1": 60}}}},
		{name: "alone: a batch of its own", adjs: []Adjustment{adj("a1", "CNY", 10)},
			want: []summary{{"CNY", 0, 0, 10, 0, 0, 0, 10, StatusSettled, map[string]int64{}}}},
		{name: "alone, after a carried net", carried: map[money.Currency]int64{"CNY": -500}, adjs: []Adjustment{adj("a1", "CNY", 100)},
			want: []summary{{"CNY", 0, 0, 100, 0, 0, -500, -400, StatusCarried, map[string]int64{}}}},
		{name: "alone, down: carried", adjs: []Adjustment{adj("a1", "CNY", -10)},
			want: []summary{{"CNY", 0, 0, 0, 10, 0, 0, -10, StatusCarried, map[string]int64{}}}},
		{name: "another currency: its own batch", payments: []Payment{pay("p1", 10000)}, adjs: []Adjustment{adj("a1", "USD", 5)},
			want: []summary{{"CNY", 1, 0, 10000, 0, 60, 0, 9940, StatusSettled, map[string]int64{"p1": 60}},
				{"USD", 0, 0, 5, 0, 0, 0, 5, StatusSettled, map[string]int64{}}}},
		{name: "zero refused", adjs: []Adjustment{adj("a1", "CNY", 0)}, refusing: true},
		{name: "unknown currency refused", adjs: []Adjustment{adj("a1", "XXY", 5)}, refusing: true},
		{name: "gross overflow refused", payments: []Payment{pay("p1", 1<<62)}, adjs: []Adjustment{adj("a1", "CNY", 1<<62)}, refusing: true},
		{name: "most negative refused", adjs: []Adjustment{adj("a1", "CNY", -1<<63)}, refusing: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Compute(plan, c.carried, c.payments, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = AddAdjustments(&res, c.carried, c.adjs)
			if c.refusing {
				if err == nil {
					t.Fatalf("accepted: %+v", summarize(res))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := summarize(res)
			if len(got) != len(c.want) {
				t.Fatalf("batches %+v, want %+v", got, c.want)
			}
			n := 0
			for i := range got {
				if got[i].Cur != c.want[i].Cur || got[i].Payments != c.want[i].Payments || got[i].Gross != c.want[i].Gross ||
					got[i].Refunded != c.want[i].Refunded || got[i].Fee != c.want[i].Fee || got[i].Carry != c.want[i].Carry ||
					got[i].Net != c.want[i].Net || got[i].Status != c.want[i].Status {
					t.Errorf("batch %d: %+v, want %+v", i, got[i], c.want[i])
				}
				n += len(res.Batches[i].Adjustments)
			}
			if n != len(c.adjs) {
				t.Errorf("%d adjustments in the batches, want %d", n, len(c.adjs))
			}
		})
	}
}
