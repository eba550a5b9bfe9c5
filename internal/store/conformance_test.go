package store_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// schemaShape is what two dialects' migrated schemas must agree on: tables, their columns,
// their unique keys (column lists, with the predicate of a partial one), and for each check
// constraint the columns it constrains. Constraint names cannot be compared as such: SQLite
// keeps no name for an unnamed CHECK or an inline UNIQUE (sqlite_autoindex_…), while
// PostgreSQL generates one; what the constraint covers is compared instead.
type schemaShape struct {
	tables  map[string][]string // table -> sorted columns
	uniques map[string][]string // table -> sorted "col,col[ partial]"
	checks  map[string][]string // table -> sorted "col,col" (columns each check mentions)
}

// Foreign keys are left out on purpose: PostgreSQL drops those of hot parent rows (migration
// 0007) and `paygw verify` checks the references instead.
var identRe = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

func checkColumns(expr string, cols []string) string {
	set := map[string]bool{}
	for _, c := range cols {
		set[c] = true
	}
	seen := map[string]bool{}
	// String literals name values, not columns.
	expr = regexp.MustCompile(`'[^']*'`).ReplaceAllString(expr, "")
	for _, id := range identRe.FindAllString(expr, -1) {
		if set[strings.ToLower(id)] {
			seen[strings.ToLower(id)] = true
		}
	}
	var out []string
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func shapeOf(t *testing.T, s *store.Store) schemaShape {
	t.Helper()
	ctx := context.Background()
	db := s.DB()
	sh := schemaShape{tables: map[string][]string{}, uniques: map[string][]string{}, checks: map[string][]string{}}
	q := func(query string, args ...any) [][]string {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				switch v := v.(type) {
				case []byte:
					row[i] = string(v)
				case nil:
					row[i] = ""
				default:
					row[i] = fmt.Sprint(v)
				}
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	skip := func(table string) bool { return table == "goose_db_version" || strings.HasPrefix(table, "sqlite_") }
	if s.Dialect() == store.Postgres {
		for _, r := range q(`SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, column_name`) {
			if !skip(r[0]) {
				sh.tables[r[0]] = append(sh.tables[r[0]], r[1])
			}
		}
		for _, r := range q(`SELECT t.relname, string_agg(a.attname, ',' ORDER BY a.attname), ix.indpred IS NOT NULL
			FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid
			JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (ix.indkey)
			WHERE t.relnamespace = current_schema()::regnamespace AND ix.indisunique
			GROUP BY t.relname, i.relname, ix.indpred IS NOT NULL`) {
			if !skip(r[0]) {
				sh.uniques[r[0]] = append(sh.uniques[r[0]], uniqueKey(r[1], r[2] == "true"))
			}
		}
		for _, r := range q(`SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid) FROM pg_constraint c
			WHERE c.contype = 'c' AND c.connamespace = current_schema()::regnamespace`) {
			table := r[0][strings.LastIndex(r[0], ".")+1:]
			sh.checks[table] = append(sh.checks[table], checkColumns(r[1], sh.tables[table]))
		}
	} else {
		for _, r := range q(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' ORDER BY m.name, p.name`) {
			if !skip(r[0]) {
				sh.tables[r[0]] = append(sh.tables[r[0]], r[1])
			}
		}
		for _, r := range q(`SELECT m.name, il.name, il.partial, il.origin FROM sqlite_master m, pragma_index_list(m.name) il
			WHERE m.type = 'table' AND il."unique" = 1`) {
			if skip(r[0]) {
				continue
			}
			var cols []string
			for _, c := range q(`SELECT name FROM pragma_index_info(?) ORDER BY name`, r[1]) {
				cols = append(cols, c[0])
			}
			sh.uniques[r[0]] = append(sh.uniques[r[0]], uniqueKey(strings.Join(cols, ","), r[2] == "1"))
		}
		// An INTEGER PRIMARY KEY is the rowid and has no index: take it from the columns.
		for _, r := range q(`SELECT m.name, group_concat(p.name, ',') FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND p.pk > 0 GROUP BY m.name`) {
			if skip(r[0]) {
				continue
			}
			auto := false
			for _, il := range q(`SELECT 1 FROM pragma_index_list(?) WHERE origin = 'pk'`, r[0]) {
				auto = il != nil
			}
			if !auto {
				cols := strings.Split(r[1], ",")
				sort.Strings(cols)
				sh.uniques[r[0]] = append(sh.uniques[r[0]], uniqueKey(strings.Join(cols, ","), false))
			}
		}
		for _, r := range q(`SELECT name, sql FROM sqlite_master WHERE type = 'table'`) {
			if skip(r[0]) {
				continue
			}
			for _, expr := range sqliteChecks(r[1]) {
				sh.checks[r[0]] = append(sh.checks[r[0]], checkColumns(expr, sh.tables[r[0]]))
			}
		}
	}
	for _, m := range []map[string][]string{sh.tables, sh.uniques, sh.checks} {
		for k := range m {
			sort.Strings(m[k])
		}
	}
	return sh
}

func uniqueKey(cols string, partial bool) string {
	if partial {
		return cols + " (partial)"
	}
	return cols
}

// sqliteChecks returns the expressions of the CHECK clauses in a CREATE TABLE statement.
func sqliteChecks(sql string) []string {
	var out []string
	upper := strings.ToUpper(sql)
	for i := 0; ; {
		j := strings.Index(upper[i:], "CHECK")
		if j < 0 {
			return out
		}
		k := i + j + len("CHECK")
		for k < len(sql) && (sql[k] == ' ' || sql[k] == '\n' || sql[k] == '\t') {
			k++
		}
		if k >= len(sql) || sql[k] != '(' {
			i = k
			continue
		}
		depth, end := 0, k
		for ; end < len(sql); end++ {
			if sql[end] == '(' {
				depth++
			} else if sql[end] == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		out = append(out, sql[k+1:end])
		i = end
	}
}

// TestSchemaConformance migrates both databases and compares their shapes, so a migration
// written for one dialect and forgotten (or written differently) for the other fails here.
func TestSchemaConformance(t *testing.T) {
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skipf("%s not set: the conformance test needs both databases (CI sets it)", storetest.EnvPostgres)
	}
	pg, lite := shapeOf(t, storetest.Open(t, store.Postgres)), shapeOf(t, storetest.Open(t, store.SQLite))
	if len(pg.tables) < 10 {
		t.Fatalf("only %d tables read from PostgreSQL", len(pg.tables))
	}
	compare := func(what string, a, b map[string][]string) {
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		var names []string
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if strings.Join(a[k], " | ") != strings.Join(b[k], " | ") {
				t.Errorf("%s of %s differ:\n  postgres: %s\n  sqlite:   %s", what, k, strings.Join(a[k], " | "), strings.Join(b[k], " | "))
			}
		}
	}
	// Differences made on purpose, each with its reason.
	for table, col := range sqliteOnly {
		lite.tables[table] = without(lite.tables[table], col)
		lite.uniques[table] = without(lite.uniques[table], col)
	}
	compare("columns", pg.tables, lite.tables)
	compare("unique keys", pg.uniques, lite.uniques)
	compare("check constraints", pg.checks, lite.checks)
}

// sqliteOnly lists the key columns SQLite has on purpose and PostgreSQL does not.
var sqliteOnly = map[string]string{
	// migration 0006: settle_items is a rowid table on SQLite (items appended in rowid order, a
	// unique object_id index); on PostgreSQL object_id is the primary key. Both keep object_id
	// unique, which the comparison still checks.
	"settle_items": "id",
}

func without(list []string, v string) []string {
	var out []string
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// TestSchemaConformanceCatches keeps the comparison honest on a known difference.
func TestSchemaConformanceCatches(t *testing.T) {
	got := sqliteChecks("CREATE TABLE x (a INT CHECK (a > 0), b TEXT CHECK (b IN ('p', 'q')), CHECK (a < (b + 1)))")
	if len(got) != 3 || got[2] != "a < (b + 1)" {
		t.Fatalf("sqliteChecks = %q", got)
	}
	if c := checkColumns("((status = ANY (ARRAY['open'::text, 'a_b'::text])) AND (a_b > 0))", []string{"status", "a_b", "x"}); c != "a_b,status" {
		t.Fatalf("checkColumns = %q", c)
	}
}
