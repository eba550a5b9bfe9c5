package store_test

import (
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// The tables that churn per payment carry their own autovacuum thresholds on PostgreSQL
// (migration 0018; docs/operations.md "Soak and storage growth"): with the global default
// scale factor (0.2) a table of 100 M payments would wait for 20 M dead rows. SQLite has no
// such settings and its migration changes nothing.
func TestChurningTablesHaveAutovacuumSettings(t *testing.T) {
	want := map[string][]string{
		"payments":      {"autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_threshold=1000", "autovacuum_analyze_scale_factor=0.01", "autovacuum_vacuum_insert_scale_factor=0.01"},
		"notifications": {"autovacuum_vacuum_scale_factor=0.01", "autovacuum_vacuum_threshold=1000", "autovacuum_analyze_scale_factor=0.01", "autovacuum_vacuum_insert_scale_factor=0.01"},
		"auth_nonces":   {"autovacuum_vacuum_scale_factor=0.05", "autovacuum_vacuum_threshold=1000"},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.Postgres {
			t.Skip("per-table autovacuum settings exist on PostgreSQL only")
		}
		for table, opts := range want {
			var got []string
			if err := s.DB().Select(&got, `SELECT unnest(coalesce(reloptions, '{}')) FROM pg_class WHERE relname = $1 AND relkind = 'r'`, table); err != nil {
				t.Fatal(err)
			}
			have := strings.Join(got, ",")
			for _, o := range opts {
				if !strings.Contains(","+have+",", ","+o+",") {
					t.Errorf("%s: reloptions %q lack %s", table, have, o)
				}
			}
		}
	})
}
