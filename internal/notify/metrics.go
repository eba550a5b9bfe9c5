package notify

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery outcomes counted by paygw_notify_deliveries_total.
const (
	OutcomeDelivered = "delivered" // 2xx within the timeout
	OutcomeFailed    = "failed"    // not delivered; another attempt is scheduled
	OutcomeDead      = "dead"      // not delivered and the schedule is exhausted
	OutcomeDeferred  = "deferred"  // not attempted: the endpoint's circuit breaker is open
	OutcomeLost      = "lost"      // the lease ran out before the attempt was recorded
)

type metrics struct {
	deliveries *prometheus.CounterVec
	statements *prometheus.CounterVec
	latency    prometheus.Histogram
	waiting    prometheus.Gauge
	due        prometheus.Gauge
	oldestDue  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygw_notify_deliveries_total",
			Help: "Merchant notification delivery attempts by outcome (delivered, failed, dead, deferred, lost).",
		}, []string{"outcome"}),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygw_notify_statements_total",
			Help: "Database statements of notification delivery by kind (claim, record); divided by deliveries, how well the worker batches.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "paygw_notify_attempt_duration_seconds",
			Help:    "Time from sending a merchant notification to its response (or error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paygw_notify_queue_depth",
			Help: "Merchant notifications not yet delivered and not dead (pending or failed).",
		}),
		due: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paygw_notify_queue_due",
			Help: "Merchant notifications whose next attempt is due now.",
		}),
		oldestDue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paygw_notify_oldest_due_age_seconds",
			Help: "How long the oldest due merchant notification has waited past its next attempt time.",
		}),
	}
	if reg != nil {
		m.deliveries = register(reg, m.deliveries)
		m.statements = register(reg, m.statements)
		m.latency = register(reg, m.latency)
		m.waiting = register(reg, m.waiting)
		m.due = register(reg, m.due)
		m.oldestDue = register(reg, m.oldestDue)
	}
	for _, k := range []string{"claim", "record"} {
		m.statements.WithLabelValues(k)
	}
	for _, o := range []string{OutcomeDelivered, OutcomeFailed, OutcomeDead, OutcomeDeferred, OutcomeLost} {
		m.deliveries.WithLabelValues(o)
	}
	return m
}

// register registers c, or returns the collector already registered under its name, so that
// several workers (or a worker and a replay) in one process share one set of series.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic("notify: register metric: " + err.Error())
	}
	return c
}
