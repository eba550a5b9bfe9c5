package store

import (
	"slices"
	"testing"

	"github.com/paygw/paygw/internal/paygw"
)

// TestWriteSetsArgsInPaymentOrder: a batch's arrays list its payments in id order (whatever order
// the batch came in), so the statement locks their rows in that order and two statements — two
// replicas' — cannot deadlock on two payments; each set's journal plan stays at its set's index.
func TestWriteSetsArgsInPaymentOrder(t *testing.T) {
	s := &Store{dialect: Postgres}
	var wss []PaymentWriteSet
	for _, id := range []string{"pay_c", "pay_a", "pay_b"} {
		wss = append(wss, PaymentWriteSet{PaymentID: id,
			Transition: PaymentTransition{Version: 1, From: []paygw.PaymentStatus{paygw.PaymentProcessing}, To: paygw.PaymentSucceeded},
			Journal: &paygw.Journal{Kind: "capture", RefID: id, Postings: []paygw.Posting{
				{Account: "a:" + id, Currency: "CNY", Amount: 100}, {Account: "b", Currency: "CNY", Amount: -100}}}})
	}
	w, plans, err := s.writeSetsArgs(wss)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pay_a", "pay_b", "pay_c"}; !slices.Equal(w.vID, want) || !slices.Equal(w.jRef, want) {
		t.Fatalf("payments %v, journals %v; want both %v", w.vID, w.jRef, want)
	}
	for i, ws := range wss {
		k := slices.Index(w.jRef, ws.PaymentID)
		if plans[i].id != w.jID[k] {
			t.Errorf("set %d (%s): plan %s, but its journal in the arrays is %s", i, ws.PaymentID, plans[i].id, w.jID[k])
		}
	}
}
