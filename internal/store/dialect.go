package store

import (
	"context"
	"net/url"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names the database behind a Store. Every difference between PostgreSQL and SQLite
// that the store's code acts on is a named method of Dialect, defined in this file, so a query
// or a code path reads as what it needs ("d.forUpdate()", "d.singleWriter()") rather than as a
// comparison with a database name; adding a difference means adding a method here (after
// river's riverdriver, where dialect differences are driver methods). Entity files may hold a
// dialect method that only their queries use (notification.go's claim fragments).
type Dialect string

// Dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// preferIndex is the statement that has the rest of a PostgreSQL transaction read through an
// index wherever one serves ("" on SQLite). For the claims of what is due, whose partial
// indexes hold only what is waiting while their tables hold all history: without statistics,
// or with stale ones, the planner may take the table whole for a small range.
func (d Dialect) preferIndex() string {
	if d == Postgres {
		return "SET LOCAL enable_seqscan = off"
	}
	return ""
}

// rebind turns the ? placeholders every query is written with into the dialect's: $1, $2 … on
// PostgreSQL; SQLite takes ? as written.
func (d Dialect) rebind(q string) string {
	if d != Postgres {
		return q
	}
	return rebound.get(q)
}

// rebound keeps the PostgreSQL text of the queries rebind has seen, up to maxReboundBytes of
// them: the hot path's batch statements are kilobytes each, and rebinding one made a copy at
// every run (3 % of serve's allocations). Queries past the bound are rebound each time.
var rebound reboundCache

const maxReboundBytes = 1 << 20

type reboundCache struct {
	mu    sync.RWMutex
	m     map[string]string
	bytes int
}

func (c *reboundCache) get(q string) string {
	c.mu.RLock()
	r, ok := c.m[q]
	c.mu.RUnlock()
	if ok {
		return r
	}
	r = sqlx.Rebind(sqlx.DOLLAR, q)
	c.mu.Lock()
	if c.bytes+len(q)+len(r) <= maxReboundBytes {
		if c.m == nil {
			c.m = map[string]string{}
		}
		if _, ok := c.m[q]; !ok {
			c.m[q] = r
			c.bytes += len(q) + len(r)
		}
	}
	c.mu.Unlock()
	return r
}

// SingleWriter reports whether the database admits one writer at a time (SQLite): its writes go
// through the store's group-committing writer, an UPDATE … RETURNING runs in a Transact, and
// batch jobs use fewer parallel workers. PostgreSQL takes concurrent writers.
func (d Dialect) SingleWriter() bool { return d == SQLite }

// forUpdate is the row-lock clause of a read that a write in the same transaction depends on:
// FOR UPDATE on PostgreSQL; SQLite needs none, the immediate transaction already holds the
// database's write lock.
func (d Dialect) forUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// writableCTE reports whether a WITH clause may hold INSERT/UPDATE statements, so several
// writes go in one statement and one round trip (PostgreSQL; SQLite's WITH takes SELECTs only).
func (d Dialect) writableCTE() bool { return d == Postgres }

// shardsBalances reports whether hot ledger balances are spread over shards (PostgreSQL: many
// transactions update the same account at once, and one row would serialise them); SQLite has
// one writer, so every balance lives in shard 0.
func (d Dialect) shardsBalances() bool { return d == Postgres }

// bindsArrays reports whether a statement takes a whole list as one array parameter
// (PostgreSQL: = ANY($1), unnest($1::text[])); on SQLite a list is one placeholder per element.
func (d Dialect) bindsArrays() bool { return d == Postgres }

// stringAgg aggregates expr into a comma-separated text list ordered by orderBy. SQLite's
// group_concat takes no ORDER BY in the versions paygw supports: the order there is the scan's.
func (d Dialect) stringAgg(expr, orderBy string) string {
	if d == Postgres {
		return `string_agg(` + expr + `::text, ',' ORDER BY ` + orderBy + `)`
	}
	return `group_concat(` + expr + `, ',')`
}

// timesAsText reports whether a streamed timestamp column is best selected as text (timeCol)
// and parsed by the store: SQLite's driver would try layout after layout on each value.
// PostgreSQL sends timestamps in binary, which the driver decodes directly.
func (d Dialect) timesAsText() bool { return d == SQLite }

// timeCol selects a timestamp column for a streamed scan: as text where timesAsText.
func (d Dialect) timeCol(col string) string {
	if d.timesAsText() {
		return `CAST(` + col + ` AS TEXT)`
	}
	return col
}

// tableExistsQuery is a query counting the tables named by its one ? parameter in the schema
// the store uses (the connection's search path on PostgreSQL). It only reads the catalogue.
func (d Dialect) tableExistsQuery() string {
	if d == Postgres {
		return `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	return `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
}

// schemaDir is the dialect's directory of migrations in schema.FS.
func (d Dialect) schemaDir() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// gooseDialect is the migration tool's name for the dialect.
func (d Dialect) gooseDialect() goose.Dialect {
	if d == Postgres {
		return goose.DialectPostgres
	}
	return goose.DialectSQLite3
}

// migrationLocker serialises `migrate up` across processes: a session advisory lock on
// PostgreSQL (two pods migrating at once apply each version once), an exclusive flock on
// PATH.migrate-lock beside a SQLite file.
func (d Dialect) migrationLocker(dsn DSN) (lock.SessionLocker, error) {
	if d == Postgres {
		return lock.NewPostgresSessionLocker()
	}
	return &fileLocker{path: dsn.Path + ".migrate-lock"}, nil
}

// files lists the files that hold a database of this dialect at dsn: a SQLite file, its WAL
// and shared-memory files and its migration lock; none for PostgreSQL (a server's).
func (d Dialect) files(dsn DSN) []string {
	if d != SQLite {
		return nil
	}
	return []string{dsn.Path, dsn.Path + "-wal", dsn.Path + "-shm", dsn.Path + ".migrate-lock"}
}

// redact renders dsn for logs and errors: a PostgreSQL URL without its password, a SQLite path.
func (d Dialect) redact(dsn DSN) string {
	if d == Postgres {
		u, err := url.Parse(dsn.URL)
		if err != nil {
			return "postgres://…"
		}
		return u.Redacted()
	}
	return "sqlite:" + dsn.Path
}

// open connects to dsn (a DSN of this dialect).
func (d Dialect) open(ctx context.Context, dsn DSN, opts Options) (*Store, error) {
	if d == SQLite {
		return openSQLite(ctx, dsn, opts)
	}
	return openPostgres(ctx, dsn, opts)
}
