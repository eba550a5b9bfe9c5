// Package dbmetrics exposes how saturated serve's database access is: the connection pools'
// use and waits (client_golang's database/sql collector, go_sql_*) and, on SQLite, the single
// writer's time in statements and in COMMIT (paygw_sqlite_writer_*) and, on PostgreSQL, how
// the payments' outcomes and creates share statements (paygw_pg_outcome_*, paygw_pg_create_*).
// A request that waits for a connection, the writer or a statement shows up here before it shows
// up as latency.
package dbmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/paygw/paygw/internal/store"
)

var (
	groupsDesc = prometheus.NewDesc("paygw_sqlite_writer_groups_total",
		"Group transactions the SQLite writer ran (one COMMIT each).", nil, nil)
	txsDesc = prometheus.NewDesc("paygw_sqlite_writer_transactions_total",
		"Callers' transactions the SQLite writer ran inside its groups.", nil, nil)
	busyDesc = prometheus.NewDesc("paygw_sqlite_writer_busy_seconds_total",
		"Time the SQLite writer spent in group transactions, BEGIN to the end of COMMIT. COMMIT time is elastic (a writer with room commits often, in small groups): the rate of busy minus commit is its utilisation.", nil, nil)
	commitDesc = prometheus.NewDesc("paygw_sqlite_writer_commit_seconds_total",
		"Time the SQLite writer spent in COMMIT (with synchronous=FULL, the WAL's fsync).", nil, nil)
	queuedDesc = prometheus.NewDesc("paygw_sqlite_writer_queued",
		"Transactions waiting for the SQLite writer.", nil, nil)
	commitDurDesc = prometheus.NewDesc("paygw_sqlite_writer_commit_duration_seconds",
		"Duration of the SQLite writer's COMMITs: the WAL's fsync and, now and then, an automatic checkpoint that stalls every queued write.", nil, nil)
)

// Register adds the collectors of s to reg: its pool as go_sql_*{db_name=pool} and, when s is
// SQLite, its writer; on PostgreSQL, how its outcomes and creates share statements, as
// paygw_pg_outcome_* and paygw_pg_create_*{db_name=pool}.
func Register(reg prometheus.Registerer, s *store.Store, pool string) error {
	if err := reg.Register(collectors.NewDBStatsCollector(s.DB().DB, pool)); err != nil {
		return err
	}
	if _, ok := s.WriterStats(); ok {
		return reg.Register(writer{s})
	}
	if s.Dialect() == store.Postgres {
		for _, b := range newBatches(s, pool) {
			if err := reg.Register(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// batches collects a PostgreSQL store's batching counters of one kind (outcome, create) at
// scrape time, labelled with its pool (db_name, as go_sql_*): serve opens one store for requests
// and one for delivery, and registers both.
type batches struct {
	stats                                                            func() store.BatchStats
	batches, requests, statements, shared, fallbacks, stalls, queued *prometheus.Desc
}

func newBatches(s *store.Store, pool string) []batches {
	l := prometheus.Labels{"db_name": pool}
	return []batches{{
		stats: s.WriteSetStats,
		batches: prometheus.NewDesc("paygw_pg_outcome_batches_total",
			"Batches of payment outcomes written on PostgreSQL (a batch of one is a statement of its own).", nil, l),
		requests: prometheus.NewDesc("paygw_pg_outcome_sets_total",
			"Payment outcomes (write sets) in those batches: sets ÷ batches is the mean batch size.", nil, l),
		statements: prometheus.NewDesc("paygw_pg_outcome_shared_statements_total",
			"Statements that carried the outcomes of several payments.", nil, l),
		shared: prometheus.NewDesc("paygw_pg_outcome_shared_sets_total",
			"Payment outcomes written in statements shared with others.", nil, l),
		fallbacks: prometheus.NewDesc("paygw_pg_outcome_fallbacks_total",
			"Shared statements the database refused (a constraint of one outcome), whose outcomes were then written one by one.", nil, l),
		stalls: prometheus.NewDesc("paygw_pg_outcome_stall_batches_total",
			"Batches of outcomes led beside the running statement because it had kept an outcome waiting 10 ms (a stalled statement).", nil, l),
		queued: prometheus.NewDesc("paygw_pg_outcome_queued",
			"Payment outcomes waiting for the next statement.", nil, l),
	}, {
		stats: s.CreateStats,
		batches: prometheus.NewDesc("paygw_pg_create_batches_total",
			"Batches of payment creates (payment and nonce) written on PostgreSQL (a batch of one is a statement of its own).", nil, l),
		requests: prometheus.NewDesc("paygw_pg_create_requests_total",
			"Creates in those batches: requests ÷ batches is the mean batch size.", nil, l),
		statements: prometheus.NewDesc("paygw_pg_create_shared_statements_total",
			"Statements that carried several creates.", nil, l),
		shared: prometheus.NewDesc("paygw_pg_create_shared_requests_total",
			"Creates written in statements shared with others.", nil, l),
		fallbacks: prometheus.NewDesc("paygw_pg_create_fallbacks_total",
			"Shared statements the database refused (one create broke a constraint, or raced a create of its out_trade_no), whose creates were then written one by one.", nil, l),
		stalls: prometheus.NewDesc("paygw_pg_create_stall_batches_total",
			"Batches of creates led beside the running statement because it had kept a create waiting 10 ms (a stalled statement).", nil, l),
		queued: prometheus.NewDesc("paygw_pg_create_queued",
			"Creates waiting for the next statement.", nil, l),
	}}
}

// Describe implements prometheus.Collector.
func (b batches) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{b.batches, b.requests, b.statements, b.shared, b.fallbacks, b.stalls, b.queued} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (b batches) Collect(ch chan<- prometheus.Metric) {
	st := b.stats()
	ch <- prometheus.MustNewConstMetric(b.batches, prometheus.CounterValue, float64(st.Batches))
	ch <- prometheus.MustNewConstMetric(b.requests, prometheus.CounterValue, float64(st.Requests))
	ch <- prometheus.MustNewConstMetric(b.statements, prometheus.CounterValue, float64(st.Statements))
	ch <- prometheus.MustNewConstMetric(b.shared, prometheus.CounterValue, float64(st.Batched))
	ch <- prometheus.MustNewConstMetric(b.fallbacks, prometheus.CounterValue, float64(st.Fallbacks))
	ch <- prometheus.MustNewConstMetric(b.stalls, prometheus.CounterValue, float64(st.Stalls))
	ch <- prometheus.MustNewConstMetric(b.queued, prometheus.GaugeValue, float64(st.Queued))
}

// writer collects a SQLite store's writer counters at scrape time.
type writer struct{ s *store.Store }

// Describe implements prometheus.Collector.
func (w writer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{groupsDesc, txsDesc, busyDesc, commitDesc, queuedDesc, commitDurDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (w writer) Collect(ch chan<- prometheus.Metric) {
	st, ok := w.s.WriterStats()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(groupsDesc, prometheus.CounterValue, float64(st.Groups))
	ch <- prometheus.MustNewConstMetric(txsDesc, prometheus.CounterValue, float64(st.Transactions))
	ch <- prometheus.MustNewConstMetric(busyDesc, prometheus.CounterValue, st.Busy.Seconds())
	ch <- prometheus.MustNewConstMetric(commitDesc, prometheus.CounterValue, st.Commit.Seconds())
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued))
	buckets := make(map[float64]uint64, len(st.CommitBuckets))
	var n uint64
	for i, b := range st.CommitBuckets {
		n += st.Commits[i]
		buckets[b.Seconds()] = n
	}
	n += st.Commits[len(st.CommitBuckets)]
	ch <- prometheus.MustNewConstHistogram(commitDurDesc, n, st.Commit.Seconds(), buckets)
}
