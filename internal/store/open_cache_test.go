package store_test

import (
	"context"
	"testing"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestSQLiteReadCacheBounded: the page cache of reading connections follows ReadCacheKiB (serve
// passes a small one so its memory does not grow with the database), while the default stays
// 32 MiB for batch jobs.
func TestSQLiteReadCacheBounded(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kib  int
		want int64
	}{{0, -32768}, {4096, -4096}} {
		dsn := storetest.DSN(t, store.SQLite)
		s, err := store.Open(ctx, dsn, store.Options{Keys: storetest.TestKeys(), ReadCacheKiB: tc.kib, MaxConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		// Hold every reading connection at once so each one's pragma is checked.
		var conns []interface{ Close() error }
		for i := 0; i < 3; i++ {
			c, err := s.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			var got int64
			if err := c.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ReadCacheKiB %d: reader %d cache_size = %d, want %d", tc.kib, i, got, tc.want)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		s.Close()
	}
}
