package ledger

import (
	"errors"
	"testing"
)

func TestNewJournalRefusesUnbalanced(t *testing.T) {
	_, err := NewJournal(KindCapture, "pay_1",
		line("a", "CNY", 100), line("b", "CNY", -99))
	if !errors.Is(err, ErrUnbalanced) {
		t.Fatalf("want ErrUnbalanced, got %v", err)
	}
	_, err = NewJournal(KindCapture, "pay_1",
		line("a", "CNY", 100), line("b", "USD", -100))
	if !errors.Is(err, ErrUnbalanced) {
		t.Fatalf("cross-currency journal accepted: %v", err)
	}
	if _, err := NewJournal(KindCapture, "", line("a", "CNY", 1), line("b", "CNY", -1)); err == nil {
		t.Fatal("journal without reference accepted")
	}
}

func TestEventJournalsBalance(t *testing.T) {
	cases := []struct {
		name string
		j    func() (Journal, error)
		n    int
	}{
		{"capture", func() (Journal, error) { return Capture("pay_1", "sandbox", "m1", "CNY", 1234) }, 2},
		{"refund", func() (Journal, error) { return Refund("ref_1", "sandbox", "m1", "CNY", 500) }, 2},
		{"settlement", func() (Journal, error) { return Settlement("b1", "m1", "CNY", 1234, 500, 7) }, 3},
		{"settlement negative net", func() (Journal, error) { return Settlement("b2", "m1", "CNY", 0, 500, -3) }, 3},
		{"settlement zero fee", func() (Journal, error) { return Settlement("b3", "m1", "JPY", 100, 0, 0) }, 2},
		{"payout", func() (Journal, error) { return Payout("b1", "m1", "CNY", 727) }, 2},
	}
	for _, c := range cases {
		j, err := c.j()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(j.Postings) != c.n {
			t.Errorf("%s: %d postings, want %d", c.name, len(j.Postings), c.n)
		}
		if err := j.Check(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := Payout("b", "m", "CNY", 0); err == nil {
		t.Error("payout of zero accepted")
	}
}

// TestAdjustmentJournals: an accepted amount difference moves between the channel's receivable
// and the merchant's pending account, an accepted fee difference between the channel's
// receivable and our channel fee cost; zero and unrepresentable deltas are refused.
func TestAdjustmentJournals(t *testing.T) {
	cases := []struct {
		name string
		j    func() (Journal, error)
		want map[string]int64
	}{
		{"amount up", func() (Journal, error) { return AmountAdjustment("pay_1", "sb", "m1", "CNY", 100) },
			map[string]int64{"channel:sb:receivable": 100, "merchant:m1:pending": -100}},
		{"amount down", func() (Journal, error) { return AmountAdjustment("ref_1", "sb", "m1", "CNY", -7) },
			map[string]int64{"channel:sb:receivable": -7, "merchant:m1:pending": 7}},
		{"fee up", func() (Journal, error) { return FeeAdjustment("pay_1", "sb", "CNY", 2) },
			map[string]int64{"channel:sb:fee_cost": 2, "channel:sb:receivable": -2}},
		{"fee down", func() (Journal, error) { return FeeAdjustment("pay_1", "sb", "CNY", -3) },
			map[string]int64{"channel:sb:fee_cost": -3, "channel:sb:receivable": 3}},
	}
	for _, c := range cases {
		j, err := c.j()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := map[string]int64{}
		for _, p := range j.Postings {
			got[p.Account] += p.Amount
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: postings %v, want %v", c.name, got, c.want)
		}
		for a, v := range c.want {
			if got[a] != v {
				t.Errorf("%s: %s = %d, want %d", c.name, a, got[a], v)
			}
		}
	}
	for _, d := range []int64{0, minInt64} {
		if _, err := AmountAdjustment("pay_1", "sb", "m1", "CNY", d); err == nil {
			t.Errorf("amount adjustment of %d accepted", d)
		}
		if _, err := FeeAdjustment("pay_1", "sb", "CNY", d); err == nil {
			t.Errorf("fee adjustment of %d accepted", d)
		}
	}
}
