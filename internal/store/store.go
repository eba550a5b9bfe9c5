// Package store is paygw's storage on PostgreSQL and SQLite through sqlx: opening a DSN,
// transactions, migrations over schema/, one file per entity with compare-and-set updates,
// outbox claims, job leases, and the translation of database errors. Nothing above this
// package sees sql.ErrNoRows or a driver error.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/paygw/paygw/internal/store/internal/sqlitedb"
	"github.com/paygw/paygw/internal/trace"
	"go.opentelemetry.io/otel/attribute"
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db       *sqlx.DB
	dialect  Dialect
	dsn      DSN
	keys     *Keyring
	closers  []func()
	w        *sqlitedb.Writer                          // SQLite: the group-committing writer
	accounts accountCache                              // ledger accounts known to exist (PostJournal)
	outcomes *batcher[PaymentWriteSet, WriteSetResult] // PostgreSQL: concurrent payment outcomes in one statement
	creates  *batcher[createReq, createRes]            // PostgreSQL: concurrent creates in one statement

	// PostgreSQL: the batch statements' texts by plan generation (planGenerations).
	outcomeStmts, createStmts *planGenerations

	outcomeCounts, createCounts sharedCounts // WriteSetStats, CreateStats

	noncePurge noncePurgeCursor // PostgreSQL: where the next nonce purge starts (PurgeNonces)
}

// Dialect reports which database this is.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the sqlx handle for packages' own queries on tables they own (reconcile, settle).
func (s *Store) DB() *sqlx.DB { return s.db }

// Keys returns the keyring that seals merchant secrets and bank accounts.
func (s *Store) Keys() *Keyring { return s.keys }

// Close closes the database.
func (s *Store) Close() error {
	if s.w != nil {
		s.w.Close()
	}
	err := s.db.Close()
	for _, c := range s.closers {
		c()
	}
	return err
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// queryer is what both *sqlx.DB and *sqlx.Tx offer; entity methods take it so they run inside
// or outside a transaction.
type queryer interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// Tx is a database transaction. On SQLite it holds the write lock from its start
// (BEGIN IMMEDIATE), so a read-then-write inside it never fails with SQLITE_BUSY.
type Tx struct {
	tx       *sqlx.Tx
	dialect  Dialect
	keys     *Keyring
	accounts *accountCache // the store's known ledger accounts
	after    []func()
}

// Dialect reports the database of the transaction.
func (t *Tx) Dialect() Dialect { return t.dialect }

// SQL exposes the sqlx transaction for packages' own queries on their own tables.
func (t *Tx) SQL() *sqlx.Tx { return t.tx }

// AfterCommit registers f to run once the transaction has committed.
func (t *Tx) AfterCommit(f func()) { t.after = append(t.after, f) }

// Transact runs fn in a transaction, committing when fn returns nil. A serialization failure
// or deadlock on PostgreSQL, or a busy database on SQLite, is retried a few times.
func (s *Store) Transact(ctx context.Context, fn func(tx *Tx) error) (err error) {
	return retryTx(ctx, s.dialect, func() error { return s.transactOnce(ctx, fn) })
}

// retryTx runs once (one transaction) in a span, again after a short wait when it failed with
// a retryable error, up to five times.
func retryTx(ctx context.Context, d Dialect, once func() error) (err error) {
	ctx, span := trace.Start(ctx, "db.transact", attribute.String("db.system", string(d)))
	defer func() { trace.End(span, err) }()
	for attempt := 0; attempt < 5; attempt++ {
		err = once()
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// selectDue reads what a sweep finds due (q scans a partial index on next_query_at): on
// PostgreSQL in a transaction that reads through indexes (selectIndexed), as
// ClaimDuePayments does, since the planner may otherwise read the whole table's history.
func selectDue[T any](ctx context.Context, s *Store, rows *[]T, q string, args ...any) error {
	if s.dialect.preferIndex() == "" {
		return sel(ctx, s.db, s.dialect, rows, q, args...)
	}
	return s.Transact(ctx, func(tx *Tx) error { return selectIndexed(ctx, tx, rows, q, args...) })
}

// selectIndexed runs q into rows (emptied first: a transaction may be retried) in tx, reading
// through indexes on PostgreSQL (Dialect.preferIndex) for the rest of the transaction.
func selectIndexed[T any](ctx context.Context, tx *Tx, rows *[]T, q string, args ...any) error {
	*rows = (*rows)[:0]
	if p := tx.dialect.preferIndex(); p != "" {
		if _, err := tx.tx.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("prefer index: %w", err)
		}
	}
	return sel(ctx, tx.tx, tx.dialect, rows, q, args...)
}

func (s *Store) transactOnce(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if s.w != nil {
		tx := &Tx{dialect: s.dialect, keys: s.keys, accounts: &s.accounts}
		err := s.w.Do(ctx, func(stx *sqlx.Tx) error {
			tx.tx = stx
			return fn(tx)
		})
		if err == nil {
			for _, f := range tx.after {
				f()
			}
		}
		return err
	}
	stx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return translate(fmt.Errorf("begin: %w", err))
	}
	tx := &Tx{tx: stx, dialect: s.dialect, keys: s.keys, accounts: &s.accounts}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = stx.Commit(); err != nil {
		return translate(fmt.Errorf("commit: %w", err))
	}
	for _, f := range tx.after {
		f()
	}
	return nil
}

// Now is the time format every stored instant uses: UTC, microseconds (PostgreSQL's precision).
func Now(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTime(t *time.Time) sql.NullTime {
	if t == nil || t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: Now(*t), Valid: true}
}

func timePtr(n sql.NullTime) *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time.UTC()
	return &t
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Rebind turns ? placeholders into the store's dialect, for packages owning their own queries.
func (s *Store) Rebind(q string) string { return s.dialect.rebind(q) }

// Rebind turns ? placeholders into the transaction's dialect.
func (t *Tx) Rebind(q string) string { return t.dialect.rebind(q) }

func get(ctx context.Context, q queryer, d Dialect, dest any, query string, args ...any) error {
	return translate(q.GetContext(stmtCtx(ctx, q, d), dest, d.rebind(query), args...))
}

func sel(ctx context.Context, q queryer, d Dialect, dest any, query string, args ...any) error {
	return translate(q.SelectContext(stmtCtx(ctx, q, d), dest, d.rebind(query), args...))
}

// stmtCtx keeps a caller's cancellation from interrupting a statement inside a SQLite write
// transaction: an interrupted statement rolls back the whole transaction, which the writer
// shares among several callers. Such statements are short; cancellation is honoured before a
// transaction starts.
func stmtCtx(ctx context.Context, q queryer, d Dialect) context.Context {
	if _, inTx := q.(*sqlx.Tx); inTx && d.SingleWriter() {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func exec(ctx context.Context, q queryer, d Dialect, query string, args ...any) (int64, error) {
	if db, ok := q.(*sqlx.DB); ok && d.SingleWriter() {
		if w := sqlitedb.WriterOf(db.DB); w != nil {
			// A write outside a transaction joins the writer's next group commit.
			var n int64
			err := retryTx(ctx, d, func() error {
				return w.Do(ctx, func(stx *sqlx.Tx) error {
					var err error
					n, err = exec(ctx, stx, d, query, args...)
					return err
				})
			})
			return n, err
		}
	}
	res, err := q.ExecContext(stmtCtx(ctx, q, d), d.rebind(query), args...)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate(err)
	}
	return n, nil
}

// WriterStats is what SQLite's single writer has done since the store opened (see
// sqlitedb.Stats): group transactions, the callers' transactions they held, the time the writer
// was busy in them and the part of it spent committing (the WAL's fsync), and how many
// transactions wait for it now.
type WriterStats struct {
	Groups, Transactions uint64
	Busy, Commit         time.Duration
	Queued               int
	// CommitBuckets are the upper bounds of the COMMIT durations counted in Commits; the last
	// entry of Commits counts those above every bound.
	CommitBuckets []time.Duration
	Commits       []uint64
}

// WriterStats returns the SQLite writer's counters; ok is false on PostgreSQL, which has no
// single writer.
func (s *Store) WriterStats() (st WriterStats, ok bool) {
	if s.w == nil {
		return WriterStats{}, false
	}
	w := s.w.Stats()
	return WriterStats{Groups: w.Groups, Transactions: w.Transactions, Busy: w.Busy, Commit: w.Commit, Queued: w.Queued,
		CommitBuckets: append([]time.Duration(nil), sqlitedb.CommitBuckets[:]...), Commits: w.Commits[:]}, true
}
