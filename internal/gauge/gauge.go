// Package gauge exposes what the batch side leaves in shared storage — the outcome of each job
// and the open reconciliation discrepancies — as Prometheus gauges. Batch jobs are short-lived
// processes (CronJobs) that no scraper sees; the long-running serve pods read their traces from
// the database at scrape time instead, cached so that a scrape costs at most one read per TTL.
package gauge

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/jobs"
)

// Horizon is how far back job runs are read: a job that has not finished within it has no
// series, which the "job never succeeded" alert catches through absent().
const Horizon = 8 * 24 * time.Hour

var (
	lastSuccessDesc = prometheus.NewDesc("paygw_job_last_success_timestamp_seconds",
		"Unix time of the latest successful run of each batch job (from job_runs).", []string{"job"}, nil)
	lastFailedDesc = prometheus.NewDesc("paygw_job_last_run_failed",
		"1 when the latest finished run of the job failed, else 0 (from job_runs).", []string{"job"}, nil)
	discrepancyDesc = prometheus.NewDesc("paygw_recon_open_discrepancies",
		"Open reconciliation items by channel and class (from recon_items).", []string{"channel", "class"}, nil)
	errorDesc = prometheus.NewDesc("paygw_gauge_read_errors_total",
		"Failed reads of the storage-backed gauges.", nil, nil)
)

// Collector is a prometheus.Collector over the store.
type Collector struct {
	s   *store.Store
	ttl time.Duration
	now func() time.Time
	log zerolog.Logger

	mu      sync.Mutex
	readAt  time.Time
	jobs    []jobOutcome
	recon   []store.OpenDiscrepancy
	errors  float64
	timeout time.Duration
}

// New returns a collector reading s at most once per ttl.
func New(s *store.Store, ttl time.Duration, now func() time.Time, log zerolog.Logger) *Collector {
	if now == nil {
		now = time.Now
	}
	return &Collector{s: s, ttl: ttl, now: now, log: log.With().Str("component", "gauge").Logger(), timeout: 5 * time.Second}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lastSuccessDesc
	ch <- lastFailedDesc
	ch <- discrepancyDesc
	ch <- errorDesc
}

// Collect implements prometheus.Collector: it refreshes the cached reads when they are older than
// the TTL, keeping the previous values when a read fails.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= c.ttl {
		c.refresh(now)
	}
	for _, j := range c.jobs {
		if !j.lastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(j.lastSuccess.Unix()), j.job)
		}
		failed := 0.0
		if j.lastStatus == paygw.JobFailed {
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(lastFailedDesc, prometheus.GaugeValue, failed, j.job)
	}
	for _, d := range c.recon {
		ch <- prometheus.MustNewConstMetric(discrepancyDesc, prometheus.GaugeValue, float64(d.Count), d.Channel, d.Class)
	}
	ch <- prometheus.MustNewConstMetric(errorDesc, prometheus.CounterValue, c.errors)
}

func (c *Collector) refresh(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	runs, err := c.s.FinishedJobRuns(ctx, now.Add(-Horizon))
	if err == nil {
		jobs := outcomes(runs)
		var recon []store.OpenDiscrepancy
		recon, err = c.s.OpenDiscrepancies(ctx)
		if err == nil {
			c.jobs, c.recon, c.readAt = jobs, recon, now
			return
		}
	}
	c.errors++
	c.log.Warn().Err(err).Msg("storage gauges not refreshed")
}

// jobOutcome is the latest finished run of one job and the time of its latest success.
type jobOutcome struct {
	job         string
	lastStatus  paygw.JobStatus
	lastSuccess time.Time // zero when no run within the horizon succeeded
}

// outcomes folds finished runs (oldest first) into one outcome per job. A reconcile run is
// reported per channel, under the name of the channel's scheduled job (reconcile-CHANNEL), so
// that one channel's failure is not hidden by another's success; its business key is
// CHANNEL/DATE.
func outcomes(runs []store.FinishedJobRun) []jobOutcome {
	idx := map[string]int{}
	var out []jobOutcome
	for _, r := range runs {
		name := r.Job
		if r.Job == "reconcile" {
			if ch, _, ok := strings.Cut(r.BusinessKey, "/"); ok && ch != "" {
				name = jobs.ChannelJobName(ch)
			}
		}
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, jobOutcome{job: name})
		}
		out[i].lastStatus = r.Status
		if r.Status == paygw.JobSucceeded {
			out[i].lastSuccess = r.FinishedAt
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].job < out[b].job })
	return out
}
