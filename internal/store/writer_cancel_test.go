package store_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// waitQueued yields until n transactions wait for the writer.
func waitQueued(s *store.Store, n int) {
	for store.QueuedWrites(s) < n {
		runtime.Gosched()
	}
}

func TestCancelledCallerDoesNotFailItsGroup(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	// A blocker holds the writer until A and B are both queued, so they share the next group.
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.Transact(ctx, func(tx *store.Tx) error {
			close(started)
			<-release
			_, err := tx.SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS zz (v INTEGER)`)
			return err
		})
	}()
	<-started
	var errA, errB error
	wg.Add(2)
	go func() {
		defer wg.Done()
		errA = s.Transact(ctx, func(tx *store.Tx) error {
			_, err := tx.SQL().ExecContext(ctx, `INSERT INTO zz (v) VALUES (1)`)
			return err
		})
	}()
	waitQueued(s, 1) // A first in the group
	bctx, cancel := context.WithCancel(ctx)
	bRunning := make(chan struct{})
	go func() {
		defer wg.Done()
		once := sync.Once{}
		errB = s.Transact(bctx, func(tx *store.Tx) error {
			once.Do(func() { close(bRunning) })
			// Long enough (seconds) that the cancel below lands while it runs.
			_, err := tx.SQL().ExecContext(bctx, `INSERT INTO zz (v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 50000000) SELECT x FROM c`)
			return err
		})
	}()
	waitQueued(s, 2)
	close(release)
	<-bRunning
	cancel()
	wg.Wait()
	var n int
	_ = s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM zz WHERE v = 1`)
	if errB == nil {
		t.Error("the cancelled transaction reported success")
	}
	if errA != nil {
		t.Errorf("an unrelated transaction in the same group failed because another caller's context was cancelled: %v", errA)
	}
	if errA == nil && n != 1 {
		t.Errorf("A reported success but its row is missing")
	}
}
