package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/paygw/paygw/internal/store/internal/sqlitedb"
)

// Options tune Open.
type Options struct {
	// MaxConns bounds the pool (PostgreSQL default 16, SQLite default 8).
	MaxConns int
	// StatementTimeout bounds every PostgreSQL statement (default 30s; batch jobs pass more).
	StatementTimeout time.Duration
	// Keys seals merchant secrets. nil: no keyring; sealing or opening a secret then fails
	// with ErrNoSecretKey (commands that do either refuse to start without a key).
	Keys *Keyring
	// MustExist refuses a SQLite file that does not exist instead of creating it: only
	// `paygw migrate up` creates a database, so a mistyped --db is named, not made.
	MustExist bool
	// ReadCacheKiB is SQLite's page cache per reading connection (default 32 MiB, which batch
	// jobs' parallel readers use). Each of the MaxConns readers fills its cache as the database
	// grows, so a long-running process passes less: serve's memory would otherwise grow with the
	// database's history up to MaxConns × 32 MiB. The writer's cache stays 32 MiB (a group
	// commit's dirty pages stay in memory).
	ReadCacheKiB int
	// WriteBatches is how many statements of batched payment outcomes, and as many of batched
	// creates, may run at once on PostgreSQL (default 1): concurrent requests queue behind them
	// and go together into the next statement of their kind. Fewer, larger statements cost the
	// database less per payment; more keep the queue short on a host with many cores.
	WriteBatches int
}

// NotMigratedError is a database whose schema is missing or behind this binary's migrations.
type NotMigratedError struct {
	DSN     DSN
	Detail  string  // why: "no such file", "migrations 11, 12 are pending"
	Pending []int64 // the versions not applied
}

func (e *NotMigratedError) Error() string {
	return fmt.Sprintf("database at %s is not migrated (run `paygw migrate up`): %s", e.DSN, e.Detail)
}

// Open connects to dsn. It does not migrate: `paygw migrate up` does.
func Open(ctx context.Context, dsnStr string, opts Options) (*Store, error) {
	dsn, err := ParseDSN(dsnStr)
	if err != nil {
		return nil, err
	}
	keys := opts.Keys
	s, err := dsn.Dialect.open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	s.keys = keys
	return s, nil
}

func openSQLite(ctx context.Context, dsn DSN, opts Options) (*Store, error) {
	sync := "FULL"
	if v := dsn.Options.Get("synchronous"); v != "" {
		sync = strings.ToUpper(v)
	}
	busy := "10000"
	if v := dsn.Options.Get("busy_timeout"); v != "" {
		busy = v
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+busy+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "temp_store(memory)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	if opts.MustExist {
		if _, err := os.Stat(dsn.Path); errors.Is(err, os.ErrNotExist) {
			return nil, &NotMigratedError{DSN: dsn, Detail: "no such file (is --db right?)"}
		}
		q.Set("mode", "rw") // and never create it, even if it vanishes meanwhile
	} else if err := createPrivate(dsn.Path); err != nil {
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	readCache := opts.ReadCacheKiB
	if readCache <= 0 {
		readCache = 32768
	}
	rq, wq := cloneValues(q), cloneValues(q)
	rq.Add("_pragma", "cache_size(-"+strconv.Itoa(readCache)+")")
	wq.Add("_pragma", "cache_size(-32768)") // 32 MiB: a group commit's dirty pages stay in memory
	// "sqlite3" tells sqlx the placeholders are ? (queries are rebound by the dialect anyway).
	db := sqlx.NewDb(sqlitedb.Open("file:"+dsn.Path+"?"+rq.Encode()), "sqlite3")
	wdb := sqlx.NewDb(sqlitedb.Open("file:"+dsn.Path+"?"+wq.Encode()), "sqlite3")
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	n := opts.MaxConns
	if n <= 0 {
		n = 8
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(0)
	if err := pingBusy(ctx, wdb); err != nil {
		db.Close()
		wdb.Close()
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	s := &Store{db: db, dialect: SQLite, dsn: dsn}
	s.w = sqlitedb.NewWriter(wdb, translate, ErrBusy)
	sqlitedb.Attach(db.DB, s.w)
	return s, nil
}

// createPrivate creates the SQLite file 0600 if it does not exist: SQLite creates the -wal and
// -shm files with the database file's permissions, so the whole database is the owner's only.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// pingBusy pings a new SQLite handle, waiting out SQLITE_BUSY for a while: opening a file that
// another process is converting to WAL or migrating can be refused for longer than busy_timeout.
func pingBusy(ctx context.Context, db *sqlx.DB) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := translate(db.PingContext(ctx))
		if err == nil || !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func openPostgres(ctx context.Context, dsn DSN, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn.URL)
	if err != nil {
		return nil, &DSNError{Msg: fmt.Sprintf("%s: %v", dsn, err)}
	}
	if !strings.Contains(dsn.URL, "pool_max_conns") {
		n := opts.MaxConns
		if n <= 0 {
			n = 16
		}
		cfg.MaxConns = int32(n)
	}
	st := opts.StatementTimeout
	if st <= 0 {
		st = 30 * time.Second
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["statement_timeout"]; !ok {
		rp["statement_timeout"] = fmt.Sprint(st.Milliseconds())
	}
	if _, ok := rp["idle_in_transaction_session_timeout"]; !ok {
		rp["idle_in_transaction_session_timeout"] = "60000"
	}
	if _, ok := rp["timezone"]; !ok {
		rp["timezone"] = "UTC"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	db := sqlx.NewDb(stdlib.OpenDBFromPool(pool), "pgx")
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", dsn, err)
	}
	s := &Store{db: db, dialect: Postgres, dsn: dsn, closers: []func(){pool.Close},
		outcomeStmts: newPlanGenerations(writeSetsSQL), createStmts: newPlanGenerations(createsSQL)}
	s.outcomes = newBatcher(opts.WriteBatches, maxWriteSetBatch, func(ws PaymentWriteSet) []string { return []string{ws.PaymentID} },
		s.ApplyPaymentWriteSets, func(err error) WriteSetResult { return WriteSetResult{Err: err} })
	s.creates = newBatcher(opts.WriteBatches, maxCreateBatch, createKeys, s.insertPaymentsWithNonces,
		func(err error) createRes { return createRes{err: err} })
	s.outcomes.stallAfter, s.creates.stallAfter = batchStallAfter, batchStallAfter
	return s, nil
}

// batchStallAfter is how long a queued create or outcome waits for the running statements of its
// kind before it may lead one more beside them (batcher.stallAfter). Under load a statement and
// its commit take a few milliseconds on the development VM; a statement held up by a checkpoint or
// an autovacuum pass took 30–40 ms, and with one statement in flight every payment waited for it.
const batchStallAfter = 10 * time.Millisecond

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// PrivateFiles makes a SQLite database's files (the database, -wal, -shm) readable by their owner
// only, and returns those whose mode it changed: databases created before paygw made them 0600
// hold sealed secrets and every payment in files others may read. A PostgreSQL DSN has none.
func PrivateFiles(dsnStr string) ([]string, error) {
	dsn, err := ParseDSN(dsnStr)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, p := range dsn.Dialect.files(dsn) {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, err
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
			return changed, fmt.Errorf("make %s private: %w", p, err)
		}
		changed = append(changed, p)
	}
	return changed, nil
}
