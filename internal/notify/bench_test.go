package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/notify"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// BenchmarkDelivery measures end-to-end delivery throughput: b.N due notifications of 16
// merchants, two workers (as two replicas) with the default concurrency (16 each, 8 per
// merchant), a local receiver answering 200 at once. The clock stops when every notification
// is recorded as delivered. Run it with a fixed count, e.g.
//
//	PAYGW_TEST_POSTGRES=… go test ./internal/notify -run '^$' -bench Delivery -benchtime 20000x
func BenchmarkDelivery(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, d)
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
			defer srv.Close()
			var merchants []string
			for i := 0; i < 16; i++ {
				m, _ := storetest.Merchant(b, s, fmt.Sprintf("m%d", i), 60)
				merchants = append(merchants, m.ID)
			}
			at := time.Now().UTC().Add(-time.Minute)
			for start := 0; start < b.N; start += 1000 {
				err := s.Transact(ctx, func(tx *store.Tx) error {
					for i := start; i < b.N && i < start+1000; i++ {
						id := paygw.NewID("evt")
						n := paygw.Notification{ID: id, MerchantID: merchants[i%len(merchants)], PaymentID: paygw.NewID("pay"),
							Type: paygw.EventPaymentSucceeded, URL: srv.URL,
							Body:      []byte(`{"id":"` + id + `","type":"payment.succeeded","data":{"amount":1234,"currency":"CNY"}}`),
							CreatedAt: at}
						if err := tx.InsertNotification(ctx, n); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if d == store.Postgres { // as autovacuum would have by now: claims plan on the due index
				if _, err := s.DB().ExecContext(ctx, "ANALYZE notifications"); err != nil {
					b.Fatal(err)
				}
			}
			cfg := testConfig()
			cfg.Workers, cfg.PerMerchant = benchWorkers(), 8
			b.ResetTimer()
			start := time.Now()
			runCtx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for i := 0; i < 2; i++ {
				w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithID(fmt.Sprintf("bench-%d", i)), notify.WithStatsInterval(0))
				wg.Add(1)
				go func() { defer wg.Done(); _ = w.Run(runCtx) }()
			}
			for hits.Load() < int64(b.N) { // cheap wait first: counting rows costs the database CPU
				time.Sleep(5 * time.Millisecond)
			}
			for {
				n, err := s.CountNotifications(ctx, store.NotificationFilter{Status: paygw.NotificationDelivered})
				if err != nil {
					b.Fatal(err)
				}
				if n >= b.N {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			stop()
			wg.Wait()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			if hits.Load() < int64(b.N) {
				b.Errorf("receiver got %d of %d", hits.Load(), b.N)
			}
		})
	}
}

// BenchmarkDeliveryOneMerchant measures how fast one merchant's notifications are delivered:
// b.N due notifications of a single merchant, one worker (one serve) with the production
// defaults (notify.workers 16, per_merchant_concurrency 8, poll_interval 500ms), a loopback
// receiver answering 200 at once. The per-merchant cap bounds how many are in flight, never
// how fast they follow each other. Run it with a fixed count, e.g.
//
//	PAYGW_TEST_POSTGRES=… go test ./internal/notify -run '^$' -bench DeliveryOneMerchant -benchtime 2000x
func BenchmarkDeliveryOneMerchant(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, d)
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
			defer srv.Close()
			m, _ := storetest.Merchant(b, s, "big", 60)
			insertDue(b, s, m.ID, srv.URL, b.N, time.Now().UTC().Add(-time.Minute))
			cfg := testConfig()
			cfg.Workers, cfg.PerMerchant, cfg.PollInterval = 16, 8, config.Duration(500*time.Millisecond)
			w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithStatsInterval(0))
			b.ResetTimer()
			start := time.Now()
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = w.Run(runCtx) }()
			waitDelivered(b, s, &hits, b.N)
			elapsed := time.Since(start)
			b.StopTimer()
			stop()
			<-done
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
		})
	}
}

// insertDue adds n notifications of merchant to url, due since at.
func insertDue(b *testing.B, s *store.Store, merchant, url string, n int, at time.Time) {
	ctx := context.Background()
	for start := 0; start < n; start += 1000 {
		err := s.Transact(ctx, func(tx *store.Tx) error {
			for i := start; i < n && i < start+1000; i++ {
				id := paygw.NewID("evt")
				note := paygw.Notification{ID: id, MerchantID: merchant, PaymentID: paygw.NewID("pay"),
					Type: paygw.EventPaymentSucceeded, URL: url,
					Body:      []byte(`{"id":"` + id + `","type":"payment.succeeded","data":{"amount":1234,"currency":"CNY"}}`),
					CreatedAt: at}
				if err := tx.InsertNotification(ctx, note); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if s.Dialect() == store.Postgres { // as autovacuum would have by now
		if _, err := s.DB().ExecContext(ctx, "ANALYZE notifications"); err != nil {
			b.Fatal(err)
		}
	}
}

// waitDelivered returns when the receiver got n requests and n notifications are delivered.
func waitDelivered(b *testing.B, s *store.Store, hits *atomic.Int64, n int) {
	ctx := context.Background()
	for hits.Load() < int64(n) { // cheap wait first: counting rows costs the database CPU
		time.Sleep(5 * time.Millisecond)
	}
	for {
		c, err := s.CountNotifications(ctx, store.NotificationFilter{Status: paygw.NotificationDelivered})
		if err != nil {
			b.Fatal(err)
		}
		if c >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func benchWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("PAYGW_BENCH_NOTIFY_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 16
}
