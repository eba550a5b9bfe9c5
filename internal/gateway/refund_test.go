package gateway_test

import (
	"sync"
	"testing"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestConcurrentIdenticalRefunds: ~50 concurrent retries of the same refund (same out_refund_no,
// the full amount) answer one 201 and 49 200 with the same refund — never 422
// refund_exceeds_amount (before: the reservation ran before the unique key decided).
func TestConcurrentIdenticalRefunds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{})
		agr := sign(t, e.Client, "AG-RR", "6222021234560123")
		p, _, err := e.Client.CreatePayment(ctx, withholdReq("PRR", 1000, agr))
		if err != nil || p.Status != "succeeded" {
			t.Fatalf("payment: %v %+v", err, p)
		}
		const n = 50
		var wg sync.WaitGroup
		statuses := make([]int, n)
		ids := make([]string, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, st, err := e.Client.Refund(ctx, p.ID, "R-SAME", 1000)
				statuses[i], ids[i], errs[i] = st, r.ID, err
			}()
		}
		wg.Wait()
		created, repeated := 0, 0
		for i := 0; i < n; i++ {
			switch {
			case errs[i] != nil:
				t.Errorf("refund %d: %s", i, apiCode(errs[i]))
			case statuses[i] == 201:
				created++
			case statuses[i] == 200:
				repeated++
			}
			if errs[i] == nil && ids[i] != ids[0] {
				t.Errorf("refund %d: id %s, want %s", i, ids[i], ids[0])
			}
		}
		if created != 1 || repeated != n-1 {
			t.Fatalf("%d answered 201 and %d 200; want 1 and %d", created, repeated, n-1)
		}
		var rows int
		_ = s.DB().GetContext(ctx, &rows, s.Rebind("SELECT COUNT(*) FROM refunds WHERE payment_id = ?"), p.ID)
		if rows != 1 {
			t.Fatalf("%d refunds stored", rows)
		}
	})
}
