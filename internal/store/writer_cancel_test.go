package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func TestCancelledCallerDoesNotFailItsGroup(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	// a blocker job so that A and B queue into the same next group
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.Transact(ctx, func(tx *store.Tx) error {
			close(started)
			time.Sleep(200 * time.Millisecond)
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
	time.Sleep(20 * time.Millisecond)
	go func() {
		defer wg.Done()
		bctx, cancel := context.WithCancel(ctx)
		errB = s.Transact(bctx, func(tx *store.Tx) error {
			go func() { time.Sleep(30 * time.Millisecond); cancel() }()
			_, err := tx.SQL().ExecContext(bctx, `INSERT INTO zz (v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 50000000) SELECT x FROM c`)
			return err
		})
	}()
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
