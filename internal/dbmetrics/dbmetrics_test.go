package dbmetrics_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygw/paygw/internal/dbmetrics"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// After concurrent writes, the pool's go_sql_* series carry the pool's name and, on SQLite, the
// writer's counters add up: every transaction counted, no more groups than transactions, busy
// time at least the commit time and more than nothing. PostgreSQL has no writer series.
func TestRegister(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		reg := prometheus.NewRegistry()
		if err := dbmetrics.Register(reg, s, "serve"); err != nil {
			t.Fatal(err)
		}
		// On PostgreSQL serve registers its delivery workers' store beside its own (`serve --role
		// all`); SQLite keeps one store.
		if s.Dialect() == store.Postgres {
			if err := dbmetrics.Register(reg, storetest.Open(t, s.Dialect()), "delivery"); err != nil {
				t.Fatalf("a second pool beside the first: %v", err)
			}
		}
		before := gather(t, reg)
		m, _ := storetest.Merchant(t, s, "metrics", 60)
		const n = 40
		var wg sync.WaitGroup
		errs := make([]error, n)
		now := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Transact(context.Background(), func(tx *store.Tx) error {
					_, err := tx.UseNonce(context.Background(), m.ID, fmt.Sprintf("nonce-%04d", i), now.Add(time.Minute), now)
					return err
				})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := gather(t, reg)
		if got[`go_sql_max_open_connections{db_name="serve"}`] <= 0 {
			t.Errorf("no go_sql_max_open_connections of the pool: %v", got)
		}
		if s.Dialect() != store.SQLite {
			for k := range got {
				if strings.HasPrefix(k, "paygw_sqlite_writer") {
					t.Errorf("%s on %s", k, s.Dialect())
				}
			}
			for _, k := range []string{"paygw_pg_outcome_batches_total", "paygw_pg_outcome_sets_total", "paygw_pg_outcome_shared_statements_total",
				"paygw_pg_outcome_shared_sets_total", "paygw_pg_outcome_fallbacks_total", "paygw_pg_outcome_stall_batches_total", "paygw_pg_outcome_queued",
				"paygw_pg_create_batches_total", "paygw_pg_create_requests_total", "paygw_pg_create_shared_statements_total",
				"paygw_pg_create_shared_requests_total", "paygw_pg_create_fallbacks_total", "paygw_pg_create_stall_batches_total", "paygw_pg_create_queued"} {
				for _, pool := range []string{"serve", "delivery"} {
					if _, ok := got[k+`{db_name="`+pool+`"}`]; !ok {
						t.Errorf("no %s of the %s pool on PostgreSQL", k, pool)
					}
				}
			}
			return
		}
		for k := range got {
			if strings.HasPrefix(k, "paygw_pg_") {
				t.Errorf("%s on SQLite", k)
			}
		}
		txs := got["paygw_sqlite_writer_transactions_total"] - before["paygw_sqlite_writer_transactions_total"]
		groups := got["paygw_sqlite_writer_groups_total"] - before["paygw_sqlite_writer_groups_total"]
		busy := got["paygw_sqlite_writer_busy_seconds_total"] - before["paygw_sqlite_writer_busy_seconds_total"]
		commit := got["paygw_sqlite_writer_commit_seconds_total"] - before["paygw_sqlite_writer_commit_seconds_total"]
		if txs < n || groups < 1 || groups > txs || commit <= 0 || busy < commit {
			t.Errorf("writer: %v transactions in %v groups, busy %v s, commit %v s; want >= %d transactions, 1..transactions groups, busy >= commit > 0",
				txs, groups, busy, commit, n)
		}
		if _, ok := got["paygw_sqlite_writer_queued"]; !ok {
			t.Error("no paygw_sqlite_writer_queued")
		}
		// Every COMMIT is in the duration histogram, and its sum is the commit seconds.
		if c := got["paygw_sqlite_writer_commit_duration_seconds_count"]; c < groups || c > got["paygw_sqlite_writer_groups_total"] {
			t.Errorf("commit durations count %v, want at least this test's %v groups and at most all %v", c, groups, got["paygw_sqlite_writer_groups_total"])
		}
		if sum := got["paygw_sqlite_writer_commit_duration_seconds_sum"]; sum != got["paygw_sqlite_writer_commit_seconds_total"] {
			t.Errorf("commit durations sum %v, commit seconds %v", sum, got["paygw_sqlite_writer_commit_seconds_total"])
		}
	})
}

// gather returns every series of reg as name{labels} → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
				}
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[key+"_sum"] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}
