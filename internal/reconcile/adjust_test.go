package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// balancesOf returns the stored balance of every ledger account.
func balancesOf(t *testing.T, s *store.Store) map[string]int64 {
	t.Helper()
	bs, err := s.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, b := range bs {
		out[b.Account+" "+b.Currency] = b.Balance
	}
	return out
}

// movedSince returns what every ledger account moved since base (balancesOf before): the seeded
// payments' own capture and refund journals are in base, so only the adjustments show.
func movedSince(t *testing.T, s *store.Store, base map[string]int64) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range balancesOf(t, s) {
		if d := v - base[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// adjustmentProblems runs verify's ledger check and keeps the adjustment findings (the seeded
// payments have no capture journals, which other checks report).
func adjustmentProblems(t *testing.T, s *store.Store) []store.LedgerProblem {
	t.Helper()
	ps, err := s.LedgerCheck(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.LedgerProblem
	for _, p := range ps {
		if p.Check == store.CheckAdjustment || p.Check == store.CheckJournalBalanced || p.Check == store.CheckAccountBalance {
			out = append(out, p)
		}
	}
	return out
}

// TestResolveAcceptChannelAdjusts: accepting the channel's amount posts the difference between
// the channel's receivable and the merchant's pending account, accepting its fee posts the fee
// difference to our channel fee cost; each exactly once per transaction, whatever re-runs and
// second items follow.
func TestResolveAcceptChannelAdjusts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		file := writeFile(t, "sandbox.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		now := at(23, 59).Add(11 * time.Hour)
		base := balancesOf(t, s)
		amt := itemOf(t, res, reconcile.AmountMismatch, "pay_amt") // ours 100.00, channel 100.01
		if _, err := reconcile.Resolve(ctx, s, amt.ID, reconcile.AcceptChannel, "channel collected 100.01; ticket 7", "alice", now, sh); err != nil {
			t.Fatal(err)
		}
		adjs, err := s.ReconAdjustmentsOfItem(ctx, amt.ID)
		if err != nil || len(adjs) != 1 {
			t.Fatalf("adjustments of item %d: %+v, %v", amt.ID, adjs, err)
		}
		a := adjs[0]
		if a.Kind != paygw.AdjustAmount || a.ObjectID != "pay_amt" || a.PaymentID != "pay_amt" || a.Amount != 1 || a.Currency != "CNY" ||
			a.BusinessDate != date || a.BatchID != "" || a.CreatedBy != "alice" || a.OutNo != "pay_amt" || a.Channel != "sandbox" || a.Seq != 1 {
			t.Errorf("amount adjustment %+v", a)
		}
		if n, _ := s.JournalCount(ctx, ledger.KindAmountAdjustment, a.ID); n != 1 {
			t.Errorf("%d amount adjustment journals of %s, want 1", n, a.ID)
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_amt"); ra == nil {
			t.Error("pay_amt not reconciled after accepting the channel's amount")
		}
		mch := "merchant:" + a.MerchantID + ":pending CNY"
		bal := movedSince(t, s, base)
		if bal["channel:sandbox:receivable CNY"] != 1 || bal[mch] != -1 {
			t.Errorf("balances after the amount adjustment: %v", bal)
		}

		// Fees: the payment's channel fee 0.31 against 0.30 expected costs us 0.01 more; ref_2's
		// channel returned 0.09 where 0.03 was expected, 0.06 less cost. The merchant's accounts
		// do not move.
		for _, c := range []struct {
			item         paygw.ReconItem
			object       string
			want         int64
			wantFeeCost  int64
			wantReceived int64
		}{
			{itemOf(t, res, reconcile.FeeMismatch, "pay_fee"), "pay_fee", 1, 1, 0},
			{refundItem(t, res, reconcile.FeeMismatch, "ref_2"), "ref_2", -6, -5, 6},
		} {
			if _, err := reconcile.Resolve(ctx, s, c.item.ID, reconcile.AcceptChannel, "channel's fee table", "bob", now, sh); err != nil {
				t.Fatalf("%s: %v", c.object, err)
			}
			adjs, err := s.ReconAdjustmentsOfItem(ctx, c.item.ID)
			if err != nil || len(adjs) != 1 || adjs[0].Kind != paygw.AdjustFee || adjs[0].Amount != c.want || adjs[0].ObjectID != c.object {
				t.Errorf("%s: fee adjustment %+v, %v; want %d", c.object, adjs, err, c.want)
			}
			if n, _ := s.JournalCount(ctx, ledger.KindFeeAdjustment, adjs[0].ID); len(adjs) == 1 && n != 1 {
				t.Errorf("%s: %d fee adjustment journals", c.object, n)
			}
			bal := movedSince(t, s, base)
			if bal["channel:sandbox:fee_cost CNY"] != c.wantFeeCost || bal["channel:sandbox:receivable CNY"] != 1-c.wantFeeCost || bal[mch] != -1 {
				t.Errorf("%s: balances %v", c.object, bal)
			}
		}
		if ps := adjustmentProblems(t, s); len(ps) != 0 {
			t.Errorf("ledger check after the adjustments: %+v", ps)
		}

		// A re-run with the same bill carries the resolutions over and posts nothing again.
		before := balancesOf(t, s)
		if _, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, "")); err != nil {
			t.Fatal(err)
		}
		if after := balancesOf(t, s); !sameBalances(before, after) {
			t.Errorf("a re-run moved balances: %v -> %v", before, after)
		}
		// A corrected bill (the channel now says 100.02) opens a new item for pay_amt; accepting
		// the channel's side posts only the 0.01 the first adjustment lacks.
		for i := range rows {
			if rows[i].OutTradeNo == "pay_amt" {
				rows[i].Amount = 10002
			}
		}
		file2 := writeFile(t, "sandbox2.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res2, err := reconcile.Run(ctx, s, opts(file2, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		amt2 := itemOf(t, res2, reconcile.AmountMismatch, "pay_amt")
		if amt2.State != paygw.ReconItemOpen {
			t.Fatalf("new item %+v", amt2)
		}
		if _, err := reconcile.Resolve(ctx, s, amt2.ID, reconcile.AcceptChannel, "corrected bill", "carol", now, sh); err != nil {
			t.Fatal(err)
		}
		adjs2, err := s.ReconAdjustmentsOfItem(ctx, amt2.ID)
		if err != nil || len(adjs2) != 1 || adjs2[0].Amount != 1 || adjs2[0].Seq != 2 {
			t.Fatalf("top-up adjustment: %+v, %v", adjs2, err)
		}
		if bal := movedSince(t, s, base); bal[mch] != -2 {
			t.Errorf("merchant pending %d after accepting 100.02, want -2", bal[mch])
		}
		// The first bill back again (100.01): a new item whose difference is less than what was
		// posted: the 0.01 is taken back.
		for i := range rows {
			if rows[i].OutTradeNo == "pay_amt" {
				rows[i].Amount = 10001
			}
		}
		file3 := writeFile(t, "sandbox3.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res3, err := reconcile.Run(ctx, s, opts(file3, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		amt3 := itemOf(t, res3, reconcile.AmountMismatch, "pay_amt")
		if _, err := reconcile.Resolve(ctx, s, amt3.ID, reconcile.AcceptChannel, "first bill stands", "carol", now, sh); err != nil {
			t.Fatal(err)
		}
		if adjs3, _ := s.ReconAdjustmentsOfItem(ctx, amt3.ID); len(adjs3) != 1 || adjs3[0].Amount != -1 || adjs3[0].Seq != 3 {
			t.Errorf("taking back: %+v", adjs3)
		}
		// A bill without pay_amt, then the 100.01 bill again: its new item is not a carried
		// resolution (the run before had pay_amt missing), and accepting it posts nothing: the
		// difference is all there.
		var without []statement.Row
		for _, r := range rows {
			if r.OutTradeNo != "pay_amt" {
				without = append(without, r)
			}
		}
		file4 := writeFile(t, "sandbox4.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, without) })
		if _, err := reconcile.Run(ctx, s, opts(file4, statement.FormatSandbox, "")); err != nil {
			t.Fatal(err)
		}
		res5, err := reconcile.Run(ctx, s, opts(file3, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		amt5 := itemOf(t, res5, reconcile.AmountMismatch, "pay_amt")
		if amt5.State != paygw.ReconItemOpen {
			t.Fatalf("item after a run without pay_amt: %+v", amt5)
		}
		if _, err := reconcile.Resolve(ctx, s, amt5.ID, reconcile.AcceptChannel, "same as before", "carol", now, sh); err != nil {
			t.Fatal(err)
		}
		if adjs5, _ := s.ReconAdjustmentsOfItem(ctx, amt5.ID); len(adjs5) != 0 {
			t.Errorf("an item whose difference was posted posted again: %+v", adjs5)
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_amt"); ra == nil {
			t.Error("pay_amt not reconciled after its item was accepted")
		}
		if bal := movedSince(t, s, base); bal[mch] != -1 {
			t.Errorf("merchant pending %d, want -1", bal[mch])
		}
		if ps := adjustmentProblems(t, s); len(ps) != 0 {
			t.Errorf("ledger check after the re-runs: %+v", ps)
		}
	})
}

func sameBalances(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func refundItem(t *testing.T, res *reconcile.Result, class reconcile.Class, refundID string) paygw.ReconItem {
	t.Helper()
	for _, it := range res.Items {
		if it.Class == class && it.RefundID == refundID {
			return it
		}
	}
	t.Fatalf("no %s item for %s in %+v", class, refundID, res.Items)
	return paygw.ReconItem{}
}

// TestResolveRefusesMissingChannel: the channel never collected; accepting its side would need
// a transition that un-collects a succeeded payment. It is refused, nothing changes, and the
// payment stays out of settlement until the operator accepts ours or a bill carries it.
func TestResolveRefusesMissingChannel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		file := writeFile(t, "sandbox.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		now := at(23, 59).Add(11 * time.Hour)
		miss := itemOf(t, res, reconcile.MissingChannel, "pay_miss")
		before, _ := s.GetPayment(ctx, "pay_miss")
		if _, err := reconcile.Resolve(ctx, s, miss.ID, reconcile.AcceptChannel, "never charged", "dave", now, sh); !errors.Is(err, reconcile.ErrCannotApply) {
			t.Fatalf("accept channel on missing_channel: %v, want ErrCannotApply", err)
		}
		if got, _ := s.GetReconItem(ctx, miss.ID); got.State != paygw.ReconItemOpen || got.Resolution != "" {
			t.Errorf("item after refusal: %+v", got)
		}
		if after, _ := s.GetPayment(ctx, "pay_miss"); after.Status != before.Status || after.Version != before.Version {
			t.Errorf("payment changed: %+v -> %+v", before, after)
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_miss"); ra != nil {
			t.Error("pay_miss reconciled after a refused resolution")
		}
		if adjs, _ := s.ReconAdjustmentsOfItem(ctx, miss.ID); len(adjs) != 0 {
			t.Errorf("adjustments %+v", adjs)
		}
		// Accepting ours is a claim against the channel: recorded, and the payment settles.
		if _, err := reconcile.Resolve(ctx, s, miss.ID, reconcile.AcceptOurs, "channel owes it; claim 12", "dave", now, sh); err != nil {
			t.Fatal(err)
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_miss"); ra == nil {
			t.Error("pay_miss not reconciled after accepting ours")
		}
	})
}

// TestResolveRefundAmountAdjusts: the channel refunded more than paygw recorded; accepting its
// side takes the difference from the merchant (debit merchant pending, credit the channel's
// receivable). A channel refund larger than its payment is refused.
func TestResolveRefundAmountAdjusts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		for i := range rows {
			switch rows[i].OutRefundNo {
			case "ref_1":
				rows[i].Amount = 5100 // paygw: 50.00
			case "ref_2":
				rows[i].Amount, rows[i].Fee = 20000, 3 // paygw: 10.00 of a 100.00 payment
			}
		}
		file := writeFile(t, "sandbox.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		now := at(23, 59).Add(11 * time.Hour)
		base := balancesOf(t, s)
		it := refundItem(t, res, reconcile.AmountMismatch, "ref_1")
		if _, err := reconcile.Resolve(ctx, s, it.ID, reconcile.AcceptChannel, "channel refunded 51.00", "erin", now, sh); err != nil {
			t.Fatal(err)
		}
		adjs, err := s.ReconAdjustmentsOfItem(ctx, it.ID)
		if err != nil || len(adjs) != 1 {
			t.Fatalf("adjustments %+v, %v", adjs, err)
		}
		if a := adjs[0]; a.Amount != -100 || a.ObjectKind != "refund" || a.ObjectID != "ref_1" || a.PaymentID != "pay_r1" || a.OutNo != "ref_1" {
			t.Errorf("refund adjustment %+v", a)
		}
		bal := movedSince(t, s, base)
		if bal["merchant:"+it.MerchantID+":pending CNY"] != 100 || bal["channel:sandbox:receivable CNY"] != -100 {
			t.Errorf("balances %v", bal)
		}
		if ra, _ := s.ReconciledAt(ctx, true, "ref_1"); ra == nil {
			t.Error("ref_1 not reconciled")
		}
		big := refundItem(t, res, reconcile.AmountMismatch, "ref_2")
		if _, err := reconcile.Resolve(ctx, s, big.ID, reconcile.AcceptChannel, "?", "erin", now, sh); !errors.Is(err, reconcile.ErrCannotApply) {
			t.Errorf("a channel refund larger than its payment: %v, want ErrCannotApply", err)
		}
		if got, _ := s.GetReconItem(ctx, big.ID); got.State != paygw.ReconItemOpen {
			t.Errorf("refused item %+v", got)
		}
		if ps := adjustmentProblems(t, s); len(ps) != 0 {
			t.Errorf("ledger check: %+v", ps)
		}
	})
}

// TestAdjustmentKeys: the store's unique keys, which decide a race between two resolutions of
// the same transaction: one row per item, and one row per transaction, kind and number.
func TestAdjustmentKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		file := writeFile(t, "sandbox.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		amt := itemOf(t, res, reconcile.AmountMismatch, "pay_amt")
		fee := itemOf(t, res, reconcile.FeeMismatch, "pay_fee")
		row := func(id string, item int64, seq int64) paygw.ReconAdjustment {
			return paygw.ReconAdjustment{ID: id, ItemID: item, Kind: paygw.AdjustAmount, ObjectKind: "payment", ObjectID: "pay_amt",
				PaymentID: "pay_amt", MerchantID: amt.MerchantID, Channel: "sandbox", Currency: "CNY", BusinessDate: date,
				Seq: seq, Amount: 1, CreatedBy: "t", CreatedAt: at(23, 0)}
		}
		insert := func(a paygw.ReconAdjustment) error {
			return s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertReconAdjustment(ctx, a) })
		}
		if err := insert(row("adj_1", amt.ID, 1)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			a    paygw.ReconAdjustment
		}{
			{"same transaction, kind and number from another item", row("adj_2", fee.ID, 1)},
			{"a second row of the same item", row("adj_3", amt.ID, 2)},
		} {
			if err := insert(c.a); !errors.Is(err, store.ErrAlreadyAdjusted) {
				t.Errorf("%s: %v, want ErrAlreadyAdjusted", c.name, err)
			}
		}
		if err := insert(row("adj_4", fee.ID, 2)); err != nil {
			t.Errorf("the next number: %v", err)
		}
		zero := row("adj_5", itemOf(t, res, reconcile.StatusMismatch, "pay_st").ID, 3)
		zero.Amount = 0
		if err := insert(zero); err == nil {
			t.Error("a zero adjustment was stored")
		}
	})
}
