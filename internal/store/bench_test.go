package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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
			if _, err := s.UseNonce(ctx, "m_bench", fmt.Sprint(benchSeq.Add(1)), now.Add(time.Hour), now); err != nil {
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
				_, err := tx.UseNonce(ctx, "m_bench", fmt.Sprint(benchSeq.Add(1)), now.Add(time.Hour), now)
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
