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

// itemOf returns the run's item of class for payment id.
func itemOf(t *testing.T, res *reconcile.Result, class reconcile.Class, paymentID string) paygw.ReconItem {
	t.Helper()
	for _, it := range res.Items {
		if it.Class == class && it.PaymentID == paymentID {
			return it
		}
	}
	t.Fatalf("no %s item for %s in %+v", class, paymentID, res.Items)
	return paygw.ReconItem{}
}

func TestResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		// A merchant notify URL, so that a state change queues a notification.
		if _, err := s.DB().ExecContext(ctx, s.Rebind(`UPDATE merchants SET notify_url = ?`), "https://merchant.example/notify"); err != nil {
			t.Fatal(err)
		}
		file := writeFile(t, "sandbox.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		now := at(23, 59).Add(11 * time.Hour)

		// Accepting the channel's "succeeded" on a processing payment moves it through the
		// normal transition: one capture journal and one notification, in one transaction.
		st := itemOf(t, res, reconcile.StatusMismatch, "pay_st")
		got, err := reconcile.Resolve(ctx, s, st.ID, reconcile.AcceptChannel, "bill shows the payer was charged", "alice", now, sh)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != paygw.ReconItemResolved || got.Resolution != paygw.ReconAcceptChannel || got.ResolvedBy != "alice" ||
			got.ResolutionNote != "bill shows the payer was charged" || got.ResolvedAt == nil || !got.ResolvedAt.Equal(store.Now(now)) {
			t.Errorf("resolved item %+v", got)
		}
		p, err := s.GetPayment(ctx, "pay_st")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != paygw.PaymentSucceeded || p.ChannelTradeNo != "Cpay_st" || p.PaidAt == nil || !p.PaidAt.Equal(at(12, 2)) {
			t.Errorf("payment after accept channel: %s %q %v", p.Status, p.ChannelTradeNo, p.PaidAt)
		}
		assertEffects := func(journals, notifications int) {
			t.Helper()
			if n, err := s.JournalCount(ctx, ledger.KindCapture, "pay_st"); err != nil || n != journals {
				t.Errorf("capture journals of pay_st: %d, %v; want %d", n, err, journals)
			}
			if n, err := s.CountNotifications(ctx, store.NotificationFilter{PaymentID: "pay_st", Type: paygw.EventPaymentSucceeded}); err != nil || n != notifications {
				t.Errorf("payment.succeeded notifications of pay_st: %d, %v; want %d", n, err, notifications)
			}
		}
		assertEffects(1, 1)
		if ra, _ := s.ReconciledAt(ctx, false, "pay_st"); ra == nil {
			t.Error("pay_st not reconciled after its resolution")
		}

		// Resolving twice is refused and changes nothing.
		again, err := reconcile.Resolve(ctx, s, st.ID, reconcile.AcceptChannel, "again", "bob", now.Add(time.Hour), sh)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second resolve: %v, want ErrConflict", err)
		}
		if again.ResolvedBy != "alice" {
			t.Errorf("second resolve reports %+v, want the first resolution", again)
		}
		assertEffects(1, 1)

		// Amount and fee mismatches: the decision is recorded (who, when, why), no payment moves
		// (accepting the channel's fee posts a fee adjustment, TestResolveAcceptChannelAdjusts), and
		// the payment becomes reconciled so that settlement takes it.
		for _, c := range []struct {
			class  reconcile.Class
			id     string
			accept reconcile.Accept
			want   paygw.ReconResolution
		}{
			{reconcile.AmountMismatch, "pay_amt", reconcile.AcceptOurs, paygw.ReconAcceptOurs},
			{reconcile.FeeMismatch, "pay_fee", reconcile.AcceptChannel, paygw.ReconAcceptChannel},
		} {
			it := itemOf(t, res, c.class, c.id)
			before, _ := s.GetPayment(ctx, c.id)
			captures, _ := s.JournalCount(ctx, ledger.KindCapture, c.id)
			got, err := reconcile.Resolve(ctx, s, it.ID, c.accept, "checked with the channel", "carol", now, sh)
			if err != nil {
				t.Fatalf("%s: %v", c.class, err)
			}
			if got.Resolution != c.want || got.ResolvedBy != "carol" || got.ResolutionNote != "checked with the channel" ||
				got.ResolvedAt == nil || !got.ResolvedAt.Equal(store.Now(now)) {
				t.Errorf("%s resolved as %+v", c.class, got)
			}
			after, _ := s.GetPayment(ctx, c.id)
			if after.Status != before.Status || after.Amount != before.Amount || after.Version != before.Version {
				t.Errorf("%s: payment changed: %+v -> %+v", c.class, before, after)
			}
			if n, _ := s.JournalCount(ctx, ledger.KindCapture, c.id); n != captures {
				t.Errorf("%s: %d capture journals, %d before", c.class, n, captures)
			}
			if ra, _ := s.ReconciledAt(ctx, false, c.id); ra == nil {
				t.Errorf("%s: %s not reconciled", c.class, c.id)
			}
			if _, err := reconcile.Resolve(ctx, s, it.ID, c.accept, "twice", "carol", now, sh); !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s resolved twice: %v", c.class, err)
			}
		}

		// Accepting the channel's side of a missing_channel item (the channel never collected) is
		// refused: TestResolveRefusesMissingChannel.

		// Bad requests change nothing.
		fee := itemOf(t, res, reconcile.FeeMismatch, "pay_r1")
		for _, bad := range []struct {
			accept   reconcile.Accept
			note, by string
		}{{"both", "n", "x"}, {reconcile.AcceptOurs, "", "x"}, {reconcile.AcceptOurs, "n", ""}} {
			if _, err := reconcile.Resolve(ctx, s, fee.ID, bad.accept, bad.note, bad.by, now, sh); err == nil {
				t.Errorf("Resolve(%q, %q, %q) accepted", bad.accept, bad.note, bad.by)
			}
		}
		if _, err := reconcile.Resolve(ctx, s, 1<<40, reconcile.AcceptOurs, "n", "x", now, sh); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown item: %v, want ErrNotFound", err)
		}
		open, err := s.ListReconItems(ctx, store.ReconItemFilter{RunID: res.Run.ID, OpenOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != len(res.Items)-3 {
			t.Errorf("%d items open after 3 resolutions of %d", len(open), len(res.Items))
		}
	})
}

// TestResolveRefusesUncollecting: the channel says it did not collect (revoked), paygw did;
// accepting the channel's side would need a transition the state machine does not have.
func TestResolveRefusesUncollecting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		for i := range rows {
			if rows[i].OutTradeNo == "pay_okb" {
				rows[i].Status = statement.StatusRevoked
			}
		}
		file := writeFile(t, "sandbox.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		res, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		it := itemOf(t, res, reconcile.StatusMismatch, "pay_okb")
		if _, err := reconcile.Resolve(ctx, s, it.ID, reconcile.AcceptChannel, "revoked", "erin", at(23, 0), sh); !errors.Is(err, reconcile.ErrCannotApply) {
			t.Fatalf("accept channel on a revoked row: %v, want ErrCannotApply", err)
		}
		still, err := s.GetReconItem(ctx, it.ID)
		if err != nil || still.State != paygw.ReconItemOpen {
			t.Errorf("item after refusal: %+v, %v", still, err)
		}
		if _, err := reconcile.Resolve(ctx, s, it.ID, reconcile.AcceptOurs, "channel bill wrong; confirmed by phone", "erin", at(23, 0), sh); err != nil {
			t.Fatal(err)
		}
	})
}
