package store_test

import (
	"context"
	"fmt"
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
