package sqlitedb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paygw/paygw/internal/store/internal/sqlitedb"
)

var errBusy = errors.New("busy")

// open opens a fresh database file as the store does: a reading pool and a writer.
func open(t *testing.T) (*sqlx.DB, *sqlitedb.Writer) {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "w.db") + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db := sqlx.NewDb(sqlitedb.Open(dsn), "sqlite3")
	wdb := sqlx.NewDb(sqlitedb.Open(dsn), "sqlite3")
	wdb.SetMaxOpenConns(1)
	w := sqlitedb.NewWriter(wdb, func(err error) error { return err }, errBusy)
	sqlitedb.Attach(db.DB, w)
	t.Cleanup(func() { w.Close(); db.Close() })
	if err := w.Do(context.Background(), func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`CREATE TABLE t (v INTEGER PRIMARY KEY)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db, w
}

// Each pool knows its own writer: nothing is shared between databases or kept process-wide.
func TestWriterOfIsPerDatabase(t *testing.T) {
	db1, w1 := open(t)
	db2, w2 := open(t)
	if sqlitedb.WriterOf(db1.DB) != w1 || sqlitedb.WriterOf(db2.DB) != w2 || w1 == w2 {
		t.Fatal("a pool does not find its own writer")
	}
	other := sqlx.NewDb(sqlitedb.Open("file:"+filepath.Join(t.TempDir(), "x.db")), "sqlite3")
	defer other.Close()
	if sqlitedb.WriterOf(other.DB) != nil {
		t.Fatal("a pool without Attach has a writer")
	}
}

// Concurrent jobs share group commits; a failing job rolls back only itself, a panicking one is
// re-raised in its caller and the writer keeps running.
func TestWriterGroupsIsolateJobs(t *testing.T) {
	db, w := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.Do(ctx, func(tx *sqlx.Tx) error {
				if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, i); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("job %d fails", i)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	want := 0
	for i, err := range errs {
		if (i%3 == 0) != (err != nil) {
			t.Errorf("job %d: %v", i, err)
		}
		if i%3 != 0 {
			want++
		}
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("panic in a job re-raised as %v, want boom", p)
			}
		}()
		_ = w.Do(ctx, func(tx *sqlx.Tx) error {
			_, _ = tx.Exec(`INSERT INTO t (v) VALUES (-1)`)
			panic("boom")
		})
	}()
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM t`); err != nil || n != want {
		t.Fatalf("%d rows (%v), want %d: failed or panicked jobs left rows, or committed ones are missing", n, err, want)
	}
	if err := w.Do(ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec(`INSERT INTO t (v) VALUES (-2)`); return err }); err != nil {
		t.Fatalf("writer after a panic: %v", err)
	}
}

// A transaction asked of a closed writer fails at once: it used to be queued, half the time,
// behind a loop that had already stopped, and its caller waited forever.
func TestWriterClosedRefusesWithoutBlocking(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "c.db") + "?_txlock=immediate"
	wdb := sqlx.NewDb(sqlitedb.Open(dsn), "sqlite3")
	w := sqlitedb.NewWriter(wdb, func(err error) error { return err }, errBusy)
	w.Close()
	for i := 0; i < 50; i++ {
		done := make(chan error, 1)
		go func() { done <- w.Do(context.Background(), func(*sqlx.Tx) error { return nil }) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a closed writer ran a transaction")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Do on a closed writer blocked (attempt %d)", i+1)
		}
	}
}
