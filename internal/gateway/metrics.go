package gateway

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/paygw/paygw/internal/channel"
)

// Metrics are the gateway's Prometheus collectors.
type Metrics struct {
	payments      *prometheus.CounterVec
	channelCalls  *prometheus.HistogramVec
	breaker       *prometheus.GaugeVec
	callbacks     *prometheus.CounterVec
	sweeperChecks *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygw_payments_total", Help: "Payments reaching a status, by status and channel.",
		}, []string{"status", "channel"}),
		channelCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paygw_channel_call_seconds", Help: "Channel call latency by channel, operation and outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"channel", "op", "outcome"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paygw_channel_breaker_state", Help: "Circuit breaker state per channel: 0 closed, 1 half-open, 2 open.",
		}, []string{"channel"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygw_channel_callbacks_total", Help: "Channel callbacks by channel and result.",
		}, []string{"channel", "result"}),
		sweeperChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygw_sweeper_checks_total", Help: "Active queries of unfinished payments, refunds and agreements by result.",
		}, []string{"kind", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.payments, m.channelCalls, m.breaker, m.callbacks, m.sweeperChecks)
	}
	return m
}

func (m *Metrics) payment(status, ch string) { m.payments.WithLabelValues(status, ch).Inc() }

func (m *Metrics) channelCall(ch, op string, err error, d time.Duration) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, channel.ErrDeclined):
		outcome = "declined"
	case errors.Is(err, channel.ErrUnknownOutcome):
		outcome = "unknown"
	default:
		outcome = "error"
	}
	m.channelCalls.WithLabelValues(ch, op, outcome).Observe(d.Seconds())
}

func (m *Metrics) breakerState(ch string, s gobreaker.State) {
	v := 0.0
	switch s {
	case gobreaker.StateHalfOpen:
		v = 1
	case gobreaker.StateOpen:
		v = 2
	}
	m.breaker.WithLabelValues(ch).Set(v)
}
