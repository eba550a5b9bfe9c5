package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestClaimDuePaymentsOncePerReplica: sweepers of several replicas claiming at once take each due
// payment once; a claimed payment is due again only when its lease ends (the claimer died).
func TestClaimDuePaymentsOncePerReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
		due := now.Add(-time.Second)
		later := now.Add(time.Hour)
		const n = 60
		for i := range n + 5 {
			next := &due
			if i >= n {
				next = &later // not due
			}
			p := paygw.Payment{ID: fmt.Sprintf("pay_%03d", i), MerchantID: m.ID, OutTradeNo: fmt.Sprintf("o%03d", i), Amount: 100,
				Currency: "CNY", PayMethod: paygw.PayMethodWalletQR, RequestHash: "h", Status: paygw.PaymentProcessing,
				Channel: "sandbox", CreatedAt: now, NextQueryAt: next}
			if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertPayment(ctx, p) }); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					ps, err := s.ClaimDuePayments(ctx, now, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ps) == 0 {
						return
					}
					mu.Lock()
					for _, p := range ps {
						seen[p.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d distinct payments, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%s claimed %d times", id, c)
			}
		}
		// Within the lease nothing is due; after it, the unfinished ones are again.
		if ps, _ := s.ClaimDuePayments(ctx, now.Add(30*time.Second), 100, time.Minute); len(ps) != 0 {
			t.Fatalf("%d claimed again within the lease", len(ps))
		}
		if ps, _ := s.ClaimDuePayments(ctx, now.Add(61*time.Second), 100, time.Minute); len(ps) != n {
			t.Fatalf("%d due after the lease, want %d", len(ps), n)
		}
	})
}

// TestClaimDuePaymentsReadsTheIndex: the sweeper's claim (every second on every replica) reads
// the due payments through payments_next_query, never the whole table, on a table of finished
// payments without statistics — where the planner chose a sequential scan of every payment
// (26 ms at 24 k payments, growing with history). PostgreSQL only: SQLite's plan is fixed.
func TestClaimDuePaymentsReadsTheIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.Postgres {
			t.Skip("a PostgreSQL planner question")
		}
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		if err := s.SeedFinishedPayments(ctx, m.ID, 30000, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		plan, err := s.ExplainDuePayments(ctx, now, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan[0], `"Seq Scan"`) || !strings.Contains(plan[0], "payments_next_query") {
			t.Errorf("the claim does not read payments_next_query alone:\n%s", plan[0])
		}
		if ps, err := s.ClaimDuePayments(ctx, now, 100, time.Minute); err != nil || len(ps) != 0 {
			t.Errorf("claimed %d finished payments: %v", len(ps), err)
		}
	})
}
