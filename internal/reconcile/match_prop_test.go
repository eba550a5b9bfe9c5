package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/statement"
)

// TestMatchProperty drives the matcher with random statements against random payments and
// refunds (seeded, so a failure repeats) and checks the accounting every run must satisfy:
// every statement row ends in exactly one item of exactly one class; each of paygw's
// transactions ends in at most one item, exactly one when the statement has it; a collected
// transaction of the date that the statement lacks is reported unless a neighbouring date
// already matched it; and the per-class counts add up to the items.
func TestMatchProperty(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkMatchProperty(t, seed) })
	}
}

func checkMatchProperty(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	p := Params{Start: dayStart, End: dayEnd, PendingWindow: 30 * time.Minute, FeeRateBps: 30,
		PrevDone: r.IntN(2) == 0, NextDone: r.IntN(2) == 0, OpenPending: map[string]bool{}}
	when := func() time.Time {
		return dayStart.Add(-90*time.Minute + time.Duration(r.Int64N(int64(27*time.Hour))))
	}
	payStatuses := []string{"succeeded", "succeeded", "succeeded", "partially_refunded", "refunded", "processing", "failed", "closed"}
	refStatuses := []string{"succeeded", "succeeded", "processing", "failed"}

	var ours []Ours
	var rows []statement.Row
	onStatement := map[string]bool{} // ours' key → the statement has a row for it
	line := 1
	addRow := func(row statement.Row) {
		line++
		row.Line = line
		rows = append(rows, row)
	}
	n := 1 + r.IntN(60)
	for i := range n {
		o := pay(fmt.Sprintf("pay_%d", i), fmt.Sprintf("C%d", i), 100+r.Int64N(100000), payStatuses[r.IntN(len(payStatuses))], when())
		if r.IntN(8) == 0 {
			o.ChannelTradeNo = "" // paygw never learnt the channel's number
		}
		o.Reconciled = r.IntN(4) == 0
		ours = append(ours, o)
		var earlier []int64
		for j := range r.IntN(3) {
			if o.Status != "partially_refunded" && o.Status != "refunded" {
				break
			}
			rf := ref(fmt.Sprintf("ref_%d_%d", i, j), o.PaymentID, fmt.Sprintf("R%d_%d", i, j), 1+r.Int64N(o.Amount/4+1),
				o.Amount, refStatuses[r.IntN(len(refStatuses))], when(), slices.Clone(earlier)...)
			rf.ChannelTradeNo = fmt.Sprintf("C%d", i)
			rf.Reconciled = r.IntN(4) == 0
			if rf.Collected {
				earlier = append(earlier, rf.Amount)
			}
			ours = append(ours, rf)
		}
	}
	for _, o := range ours {
		if r.IntN(5) == 0 {
			p.OpenPending[o.key()] = true
		}
		if r.IntN(10) < 3 {
			continue // the statement lacks it
		}
		onStatement[o.key()] = true
		at := o.At
		if at.IsZero() {
			at = noon
		}
		amount, status := o.Amount, statement.StatusSucceeded
		switch r.IntN(10) {
		case 0:
			amount++
		case 1:
			status = statement.StatusRevoked
		}
		var row statement.Row
		if o.Kind == KindPayment {
			fee, _ := (&Matcher{p: p}).expectedFee(&o)
			row = srowP(0, fmt.Sprintf("C%s", o.PaymentID[len("pay_"):]), o.PaymentID, amount, fee+int64(r.IntN(2)), status, at)
		} else {
			fee, _ := (&Matcher{p: p}).expectedFee(&o)
			row = srowR(0, o.ChannelTradeNo, o.ChannelRefundNo, o.PaymentID, o.RefundID, amount, fee+int64(r.IntN(2)), at)
			row.Status = status
		}
		addRow(row)
		if r.IntN(15) == 0 {
			addRow(row) // the channel printed it twice
		}
	}
	for k := range r.IntN(5) { // rows paygw never sent
		addRow(srowP(0, fmt.Sprintf("X%d", k), fmt.Sprintf("pay_x%d", k), 500, 2, statement.StatusSucceeded, when()))
	}
	r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	r.Shuffle(len(ours), func(i, j int) { ours[i], ours[j] = ours[j], ours[i] })

	m := NewMatcher(p, len(rows))
	var items []Item
	for _, row := range rows {
		it, dup, err := m.Add(row)
		if err != nil {
			t.Fatal(err)
		}
		if dup {
			items = append(items, it)
		}
	}
	for _, o := range ours {
		it, ok, err := m.Match(o)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			items = append(items, it)
		}
	}
	if err := m.Finish(func(it Item) error { items = append(items, it); return nil }); err != nil {
		t.Fatal(err)
	}

	byLine := map[int]int{}
	byKey := map[string][]Class{}
	classCount := map[Class]int{}
	for _, it := range items {
		if !slices.Contains(Classes, it.Class) {
			t.Fatalf("item with class %q: %+v", it.Class, it)
		}
		classCount[it.Class]++
		if it.Line != 0 {
			byLine[it.Line]++
		}
		if it.InternalStatus != "" {
			k := ItemKey(it.Kind, it.PaymentID, it.RefundID)
			byKey[k] = append(byKey[k], it.Class)
		}
		if it.Reconcile && it.Class != Matched {
			t.Errorf("%s item marked for reconciling: %+v", it.Class, it)
		}
	}
	total := 0
	for _, c := range classCount {
		total += c
	}
	if total != len(items) {
		t.Errorf("class counts %v add up to %d, want %d items", classCount, total, len(items))
	}
	for _, row := range rows {
		if byLine[row.Line] != 1 {
			t.Errorf("statement line %d ends in %d items, want exactly 1", row.Line, byLine[row.Line])
		}
	}
	for _, o := range ours {
		k := o.key()
		got := len(byKey[k])
		want := 0
		inDay := o.Collected && !o.At.Before(p.Start) && o.At.Before(p.End)
		nearStart := o.At.Before(p.Start.Add(p.PendingWindow))
		nearEnd := !o.At.Before(p.End.Add(-p.PendingWindow))
		switch {
		case onStatement[k]:
			want = 1
		case !o.Collected:
		case !inDay:
			want = b2i(p.OpenPending[k])
		case (nearStart && !p.PrevDone) || (nearEnd && !p.NextDone):
			want = 1 // pending
		case nearStart || nearEnd:
			want = b2i(!o.Reconciled) // a neighbouring date's statement matched it
		default:
			want = 1 // missing_channel
		}
		if got != want {
			t.Errorf("%s (%s at %s, on statement %v) ends in %d items %v, want %d", k, o.Status, o.At, onStatement[k], got, byKey[k], want)
		}
	}
}
