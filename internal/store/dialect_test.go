package store_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
	"github.com/paygw/paygw/schema"
)

// TestDialectMethods checks each named dialect method on its real database: a capability
// (writableCTE, bindsArrays) must be true exactly where the database accepts the construct,
// and every SQL fragment must run and mean the same on both databases.
func TestDialectMethods(t *testing.T) {
	want := map[store.Dialect]struct {
		rebind, forUpdate, goose, dir string
		singleWriter, shards, asText  bool
	}{
		store.SQLite:   {rebind: "a = ? AND b = ?", forUpdate: "", goose: "sqlite3", dir: "sqlite", singleWriter: true, asText: true},
		store.Postgres: {rebind: "a = $1 AND b = $2", forUpdate: " FOR UPDATE", goose: "postgres", dir: "postgres", shards: true},
	}
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsnStr := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsnStr)
			x := store.DialectSQL{D: d}
			w := want[d]
			db := s.DB()

			t.Run("fixed answers", func(t *testing.T) {
				if got := x.Rebind("a = ? AND b = ?"); got != w.rebind {
					t.Errorf("rebind = %q, want %q", got, w.rebind)
				}
				if got := x.ForUpdate(); got != w.forUpdate {
					t.Errorf("forUpdate = %q, want %q", got, w.forUpdate)
				}
				if got := d.SingleWriter(); got != w.singleWriter {
					t.Errorf("SingleWriter = %v, want %v", got, w.singleWriter)
				}
				if got := x.ShardsBalances(); got != w.shards {
					t.Errorf("shardsBalances = %v, want %v", got, w.shards)
				}
				if got := x.TimesAsText(); got != w.asText {
					t.Errorf("timesAsText = %v, want %v", got, w.asText)
				}
				if got := x.GooseDialect(); got != w.goose {
					t.Errorf("gooseDialect = %q, want %q", got, w.goose)
				}
				if got := x.SchemaDir(); got != w.dir {
					t.Errorf("schemaDir = %q, want %q", got, w.dir)
				} else if ms, err := fs.Glob(schema.FS, got+"/*.sql"); err != nil || len(ms) == 0 {
					t.Errorf("schemaDir %q holds no migrations (%v)", got, err)
				}
			})

			t.Run("rebind runs", func(t *testing.T) {
				var n int64
				if err := db.GetContext(ctx, &n, x.Rebind(`SELECT CAST(? AS BIGINT) + CAST(? AS BIGINT)`), 2, 3); err != nil || n != 5 {
					t.Fatalf("rebound query = %d, %v; want 5", n, err)
				}
			})

			t.Run("forUpdate runs in a transaction", func(t *testing.T) {
				err := s.Transact(ctx, func(tx *store.Tx) error {
					var n int64
					return tx.SQL().GetContext(ctx, &n, tx.Rebind(`SELECT version_id FROM goose_db_version WHERE version_id = ?`+x.ForUpdate()), 1)
				})
				if err != nil {
					t.Fatal(err)
				}
			})

			t.Run("writableCTE is what the database accepts", func(t *testing.T) {
				_, err := db.ExecContext(ctx, `WITH a AS (DELETE FROM auth_nonces WHERE merchant_id = 'none' RETURNING nonce) SELECT COUNT(*) FROM a`)
				if got := err == nil; got != x.WritableCTE() {
					t.Fatalf("writableCTE = %v, but a data-modifying WITH gave error %v", x.WritableCTE(), err)
				}
			})

			t.Run("bindsArrays is what the database accepts", func(t *testing.T) {
				var n int64
				err := db.GetContext(ctx, &n, x.Rebind(`SELECT COUNT(*) FROM goose_db_version WHERE version_id = ANY(?)`), []int64{1, 2})
				if got := err == nil; got != x.BindsArrays() {
					t.Fatalf("bindsArrays = %v, but an array parameter gave %d, %v", x.BindsArrays(), n, err)
				}
				if err == nil && n != 2 {
					t.Fatalf("versions 1 and 2 counted %d", n)
				}
			})

			t.Run("stringAgg lists every value", func(t *testing.T) {
				var got string
				q := `SELECT ` + x.StringAgg("v.x", "v.x") + ` FROM (SELECT 3 AS x UNION ALL SELECT 1 AS x UNION ALL SELECT 2 AS x) v`
				if err := db.GetContext(ctx, &got, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				parts := strings.Split(got, ",")
				if d == store.Postgres && got != "1,2,3" {
					t.Errorf("ordered aggregate = %q, want 1,2,3", got)
				}
				slices.Sort(parts)
				if strings.Join(parts, ",") != "1,2,3" {
					t.Errorf("aggregate = %q, want the values 1, 2, 3", got)
				}
			})

			t.Run("timeCol reads back the stored instant", func(t *testing.T) {
				at := time.Date(2026, 12, 4, 23, 30, 1, 123456000, time.FixedZone("CST", 8*3600))
				if _, err := s.UseNonce(ctx, "m_dialect", "n1", at, at.Add(-5*time.Minute)); err != nil {
					t.Fatal(err)
				}
				q := x.Rebind(`SELECT ` + x.TimeCol("expires_at") + ` FROM auth_nonces WHERE merchant_id = ?`)
				var got time.Time
				if x.TimesAsText() {
					var text string
					if err := db.GetContext(ctx, &text, q, "m_dialect"); err != nil {
						t.Fatal(err)
					}
					nt, err := store.ParseSQLiteTime(text)
					if err != nil {
						t.Fatalf("text %q: %v", text, err)
					}
					got = nt.Time
				} else if err := db.GetContext(ctx, &got, q, "m_dialect"); err != nil {
					t.Fatal(err)
				}
				if !got.Equal(at) {
					t.Fatalf("read back %v, stored %v", got, at)
				}
			})

			t.Run("tableExistsQuery", func(t *testing.T) {
				for table, n := range map[string]int{"goose_db_version": 1, "payments": 1, "no_such_table": 0} {
					var got int
					if err := db.GetContext(ctx, &got, x.Rebind(x.TableExistsQuery()), table); err != nil || got != n {
						t.Errorf("%s: %d, %v; want %d", table, got, err, n)
					}
				}
			})

			t.Run("migrationLocker excludes a second holder", func(t *testing.T) {
				dsn, err := store.ParseDSN(dsnStr)
				if err != nil {
					t.Fatal(err)
				}
				c1, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer c1.Close()
				c2, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer c2.Close()
				unlock, err := x.MigrationLock(ctx, dsn, c1)
				if err != nil {
					t.Fatal(err)
				}
				short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
				if u2, err := x.MigrationLock(short, dsn, c2); err == nil {
					_ = u2()
					t.Fatal("a second holder took the migration lock")
				}
				if err := unlock(); err != nil {
					t.Fatal(err)
				}
				u2, err := x.MigrationLock(ctx, dsn, c2)
				if err != nil {
					t.Fatalf("lock after unlock: %v", err)
				}
				_ = u2()
			})

			t.Run("files", func(t *testing.T) {
				dsn, err := store.ParseDSN(dsnStr)
				if err != nil {
					t.Fatal(err)
				}
				files := x.Files(dsn)
				if d == store.Postgres {
					if files != nil {
						t.Fatalf("postgres files = %v, want none", files)
					}
					return
				}
				if len(files) == 0 || files[0] != dsn.Path {
					t.Fatalf("sqlite files = %v, want the database file %s first", files, dsn.Path)
				}
			})
		})
	}
}

// TestDSNRedactedByDialect checks DSN.String, which the dialect renders: no password ever.
func TestDSNRedactedByDialect(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"sqlite:/tmp/x.db?synchronous=normal", "sqlite:/tmp/x.db"},
		{"postgres://u:hunter2@127.0.0.1:5432/db?sslmode=disable", "postgres://u:xxxxx@127.0.0.1:5432/db?sslmode=disable"},
	} {
		d, err := store.ParseDSN(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.in, got, c.want)
		}
	}
}
