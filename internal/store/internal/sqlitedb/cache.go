package sqlitedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"modernc.org/sqlite"
)

// The SQLite driver parses every statement each time it runs; under load, parsing was the
// largest cost (a profile of the gateway showed over a quarter of CPU in the SQL parser). This
// driver wraps it with a per-connection cache of prepared single statements, used by Exec and
// Query of every caller. A connection is used by one goroutine at a time, so the cache needs no
// lock; a statement whose rows are still open is not reused (a fresh one is prepared).

// maxCachedStmts bounds the cache per connection (queries built from filters vary).
const maxCachedStmts = 512

// Open opens the SQLite database named by dsn ("file:PATH?_pragma=…") as a pool of caching
// connections. Nothing is registered with database/sql: the pool's connector carries the
// driver, and Attach gives the pool its writer.
func Open(dsn string) *sql.DB {
	return sql.OpenDB(&connector{dsn: dsn, d: &cachingDriver{d: &sqlite.Driver{}}})
}

// Attach records w as the writer of the reading pool db (opened by Open): WriterOf finds it.
func Attach(db *sql.DB, w *Writer) {
	if d, ok := db.Driver().(*cachingDriver); ok {
		d.w = w
	}
}

// WriterOf returns the writer Attach gave db, or nil (db is not a SQLite pool with a writer):
// a write outside a transaction on the reading pool goes through it.
func WriterOf(db *sql.DB) *Writer {
	if d, ok := db.Driver().(*cachingDriver); ok {
		return d.w
	}
	return nil
}

type connector struct {
	dsn string
	d   *cachingDriver
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c *connector) Driver() driver.Driver                        { return c.d }

// cachingDriver is one pool's driver: its connections cache statements, and it knows the
// pool's writer.
type cachingDriver struct {
	d driver.Driver
	w *Writer
}

func (d *cachingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: c, stmts: map[string]*cachedStmt{}}, nil
}

type cachedStmt struct {
	st   driver.Stmt
	busy bool
}

type cachingConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

func cacheable(q string) bool {
	t := strings.TrimSpace(q)
	return !strings.Contains(strings.TrimSuffix(t, ";"), ";")
}

// stmt returns a prepared statement for q and whether it came from (and must be returned to)
// the cache.
func (c *cachingConn) stmt(ctx context.Context, q string) (*cachedStmt, bool, error) {
	if e, ok := c.stmts[q]; ok && !e.busy {
		return e, true, nil
	}
	pc, ok := c.Conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, false, errors.New("sqlite driver lacks PrepareContext")
	}
	st, err := pc.PrepareContext(ctx, q)
	if err != nil {
		return nil, false, err
	}
	e := &cachedStmt{st: st}
	if _, exists := c.stmts[q]; !exists && len(c.stmts) < maxCachedStmts && cacheable(q) {
		c.stmts[q] = e
		return e, true, nil
	}
	return e, false, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	if !cacheable(q) {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
	}
	e, cached, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if !cached {
		defer e.st.Close()
	}
	return e.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	if !cacheable(q) {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	}
	e, cached, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := e.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		if !cached {
			e.st.Close()
		}
		return nil, err
	}
	e.busy = true
	return &cachedRows{Rows: rows, e: e, closeStmt: !cached}, nil
}

type cachedRows struct {
	driver.Rows
	e         *cachedStmt
	closeStmt bool
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.e.busy = false
	if r.closeStmt {
		if cerr := r.e.st.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (c *cachingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) Close() error {
	for q, e := range c.stmts {
		e.st.Close()
		delete(c.stmts, q)
	}
	return c.Conn.Close()
}
