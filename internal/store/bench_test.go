package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// The SQLite hot path the gateway's throughput rests on: a write outside a transaction (routed
// into the group-commit writer), a write transaction, and a cached read. synchronous=off takes
// the disk out, so the figures are the store's own CPU. Run: go test ./internal/store -run XXX
// -bench SQLite -benchtime 2s.
func benchSQLite(b *testing.B) *store.Store {
	b.Helper()
	return storetest.OpenDSN(b, storetest.DSN(b, store.SQLite)+"?synchronous=off")
}

var benchSeq atomic.Int64

func BenchmarkSQLiteRoutedWrite(b *testing.B) {
	s := benchSQLite(b)
	ctx, now := context.Background(), time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.UseNonce(ctx, "m_bench", fmt.Sprint(benchSeq.Add(1)), now.Add(5*time.Minute), now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSQLiteTransact(b *testing.B) {
	s := benchSQLite(b)
	ctx, now := context.Background(), time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := s.Transact(ctx, func(tx *store.Tx) error {
				_, err := tx.UseNonce(ctx, "m_bench", fmt.Sprint(benchSeq.Add(1)), now.Add(5*time.Minute), now)
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSQLiteRead(b *testing.B) {
	s := benchSQLite(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetPayment(ctx, "pay_none"); err == nil {
				b.Error("found a payment that does not exist")
				return
			}
		}
	})
}

// BenchmarkSQLiteClaim claims a batch whose size follows the free slots (1 to 16, as a delivery
// worker's does) from 2,000 due notifications of one merchant, and gives it back: a claim inside
// the single writer, as in a soak. A LIMIT bound as a parameter made SQLite re-prepare the claim
// whenever the size changed.
func BenchmarkSQLiteClaim(b *testing.B) {
	s := benchSQLite(b)
	ctx, now := context.Background(), time.Now()
	m, _ := storetest.Merchant(b, s, "claim bench", 60)
	err := s.Transact(ctx, func(tx *store.Tx) error {
		for i := range 2000 {
			id := fmt.Sprintf("evt_bench_%05d", i)
			err := tx.InsertNotification(ctx, paygw.Notification{ID: id, MerchantID: m.ID, PaymentID: "pay_" + id,
				Type: paygw.EventPaymentSucceeded, URL: "http://127.0.0.1:9/notify", Body: []byte(`{}`), CreatedAt: now.Add(-time.Minute)})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds, err := s.ClaimNotifications(ctx, store.ClaimOptions{Holder: "bench", Limit: 1 + i%16, PerMerchant: 32, Lease: time.Minute}, now)
		if err != nil || len(ds) != 1+i%16 {
			b.Fatalf("claimed %d, %v", len(ds), err)
		}
		ids := make([]string, len(ds))
		for j, d := range ds {
			ids[j] = d.ID
		}
		if err := s.ReleaseNotifications(ctx, ids, "bench", now.Add(-time.Second), now); err != nil {
			b.Fatal(err)
		}
	}
}
