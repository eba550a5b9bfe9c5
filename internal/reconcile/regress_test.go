package reconcile_test

// Regression: a reviewed defect, a settlement payout for money the channel never collected.

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func TestRerunKeepsAcceptedShortfallUnreconciled(t *testing.T) {
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
		// Resolve refuses this today (TestResolveRefusesMissingChannel); a database may still hold
		// such a resolution from before, written here as it was then.
		if _, err := s.ResolveReconItem(ctx, miss.ID, paygw.ReconAcceptChannel, "dave", "never charged", now, nil); err != nil {
			t.Fatal(err)
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_miss"); ra != nil {
			t.Fatal("reconciled after resolve")
		}
		// Re-running the date carries the resolution over; the payment must stay unreconciled.
		if _, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, "")); err != nil {
			t.Fatal(err)
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_miss"); ra != nil {
			t.Error("a re-run carried over accept_channel on a missing_channel item and marked the payment reconciled: it would be paid out")
		}
	})
}
