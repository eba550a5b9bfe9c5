package gateway_test

import (
	"fmt"
	"testing"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestPayerDeclineIsTheOutcome: with real sandboxes on loopback that decline every payment
// (--failure-rate 1), a decline is the payment's outcome: the payment fails on the channel that
// declined it, no other channel is tried, and no breaker counts it, so every create keeps
// answering 201 (before: both breakers opened on declines alone and creates got 503).
func TestPayerDeclineIsTheOutcome(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{
			Sandbox:  sandbox.Options{FailureRate: 1, Seed: 1},
			Channels: []string{"backup"},
			ExtraYAML: `routing:
  wallet_qr:
    - {channel: sandbox, priority: 1}
    - {channel: backup, priority: 2}
`,
		})
		const n = 12 // four times the breakers' threshold of consecutive failures
		for i := 0; i < n; i++ {
			p, st, err := e.Client.CreatePayment(ctx, qr(fmt.Sprintf("DEC%02d", i), 100))
			if err != nil || st != 201 {
				t.Fatalf("create %d: %d %v", i, st, apiCode(err))
			}
			if p.Status != "failed" || p.Channel != "sandbox" {
				t.Fatalf("create %d: status %s on %s, want failed on sandbox (no failover)", i, p.Status, p.Channel)
			}
		}
		for _, name := range []string{"sandbox", "backup"} {
			if e.Gateway.Router().BreakerOpen(name) {
				t.Errorf("breaker of %s opened on payer declines", name)
			}
		}
		var backup int
		if err := s.DB().GetContext(ctx, &backup, s.Rebind("SELECT COUNT(*) FROM channel_attempts WHERE channel = ?"), "backup"); err != nil {
			t.Fatal(err)
		}
		if backup != 0 {
			t.Fatalf("%d attempts on the backup channel: declined payments failed over", backup)
		}
		var reason string
		if err := s.DB().GetContext(ctx, &reason, s.Rebind("SELECT fail_reason FROM payments WHERE out_trade_no = ?"), "DEC00"); err != nil {
			t.Fatal(err)
		}
		if reason == "" {
			t.Fatal("failed payment has no fail_reason")
		}
	})
}
