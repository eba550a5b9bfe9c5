package gauge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/gauge"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func TestCollector(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
		now := t0.Add(6 * time.Hour)
		runs := []struct {
			id, job string
			status  paygw.JobStatus
			at      time.Time
		}{
			{"r1", "settle", paygw.JobSucceeded, t0},
			{"r2", "settle", paygw.JobFailed, t0.Add(time.Hour)},
			{"r3", "reconcile", paygw.JobSucceeded, t0.Add(2 * time.Hour)},
			{"r3b", "reconcile", paygw.JobFailed, t0.Add(150 * time.Minute)},
			{"r4", "report-daily", paygw.JobSkipped, t0.Add(3 * time.Hour)},
			{"r0", "settle", paygw.JobSucceeded, t0.Add(-gauge.Horizon - time.Hour)}, // too old to read
		}
		for _, r := range runs {
			if err := s.StartJobRun(ctx, paygw.JobRun{ID: r.id, Job: r.job, Host: "h", Trigger: "manual",
				Status: paygw.JobRunning, StartedAt: r.at, BusinessKey: key(r.id)}); err != nil {
				t.Fatal(err)
			}
			if err := s.FinishJobRun(ctx, r.id, r.status, "", "", r.at.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		items := []paygw.ReconItem{
			{Class: "amount_mismatch", Kind: "payment", Currency: "CNY", PaymentID: "pay_1"},
			{Class: "amount_mismatch", Kind: "payment", Currency: "CNY", PaymentID: "pay_2"},
			{Class: "missing_internal", Kind: "payment", Currency: "CNY", ChannelTradeNo: "T3"},
		}
		res := reconcile.Stored{
			Run: paygw.ReconRun{ID: "rr1", Channel: "sandbox", BusinessDate: "2026-11-30", Format: "sandbox", FileSHA256: strings.Repeat("0", 64),
				StartedAt: t0, FinishedAt: t0, Totals: "{}"},
			Each: func(item func(paygw.ReconItem) error, _ func(store.ReconRef) error) error {
				for _, it := range items {
					it.Channel, it.BusinessDate = "sandbox", "2026-11-30"
					if err := item(it); err != nil {
						return err
					}
				}
				return nil
			},
			Turned: func() []store.ReconRef { return nil },
		}
		if err := reconcile.Save(ctx, s, res, t0); err != nil {
			t.Fatal(err)
		}

		clock := now
		c := gauge.New(s, time.Minute, func() time.Time { return clock }, zerolog.Nop())
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		checks := []struct {
			name, label, value string
			want               float64
		}{
			{"paygw_job_last_run_failed", "job", "settle", 1},
			{"paygw_job_last_run_failed", "job", "reconcile-sandbox", 0},
			{"paygw_job_last_run_failed", "job", "reconcile-wxpay", 1},
			{"paygw_job_last_success_timestamp_seconds", "job", "settle", float64(t0.Add(time.Minute).Unix())},
			{"paygw_job_last_success_timestamp_seconds", "job", "reconcile-sandbox", float64(t0.Add(2*time.Hour + time.Minute).Unix())},
			{"paygw_recon_open_discrepancies", "class", "amount_mismatch", 2},
			{"paygw_recon_open_discrepancies", "class", "missing_internal", 1},
		}
		for _, c := range checks {
			if v := value(t, reg, c.name, c.label, c.value); v != c.want {
				t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, v, c.want)
			}
		}
		if n := series(t, reg, "paygw_job_last_run_failed"); n != 3 {
			t.Errorf("paygw_job_last_run_failed has %d series, want 3 (skipped runs and runs past the horizon are not read)", n)
		}

		// Within the TTL the cached values are served; after it, the store is read again.
		if err := s.StartJobRun(ctx, paygw.JobRun{ID: "r5", Job: "settle", Host: "h", Trigger: "cron",
			Status: paygw.JobRunning, StartedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishJobRun(ctx, "r5", paygw.JobSucceeded, "", "", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		clock = now.Add(30 * time.Second)
		if v := value(t, reg, "paygw_job_last_run_failed", "job", "settle"); v != 1 {
			t.Fatalf("within the TTL: settle failed = %v, want the cached 1", v)
		}
		clock = now.Add(2 * time.Minute)
		if v := value(t, reg, "paygw_job_last_run_failed", "job", "settle"); v != 0 {
			t.Fatalf("after the TTL: settle failed = %v, want 0", v)
		}
	})
}

func value(t *testing.T, reg *prometheus.Registry, name, label, want string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == want {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("%s{%s=%q} not found", name, label, want)
	return 0
}

func series(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// key is the business key a run of the test would have: reconcile runs are CHANNEL/DATE.
func key(id string) string {
	switch id {
	case "r3":
		return "sandbox/2026-11-30"
	case "r3b":
		return "wxpay/2026-11-30"
	}
	return "2026-11-30"
}
