package gateway

import (
	"context"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
)

// Sweep resolves what is not final yet, once: payments, refunds and pending agreements whose
// next query is due are queried at the channel; a final answer is applied; an unpaid payment past its expiry is closed
// (only once the channel confirms it was not paid); otherwise the next query follows the
// configured schedule (e.g. 1m, 5m, 15m, 1h, 6h, then every 6h). It returns how many it looked at.
func (g *Service) Sweep(ctx context.Context) (int, error) {
	now := g.now()
	ps, err := g.store.ClaimDuePayments(ctx, now, g.cfg.Sweeper.Batch, g.queryLease())
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		g.sweepPayment(ctx, p)
	}
	rs, err := g.store.DueRefunds(ctx, now, g.cfg.Sweeper.Batch)
	if err != nil {
		return len(ps), err
	}
	for _, r := range rs {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		g.sweepRefund(ctx, r)
	}
	as, err := g.store.DueAgreements(ctx, now, g.cfg.Sweeper.Batch)
	if err != nil {
		return len(ps) + len(rs), err
	}
	for _, a := range as {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		g.sweepAgreement(ctx, a)
	}
	return len(ps) + len(rs) + len(as), nil
}

// queryLease is how long a sweep holds the payments it claimed: long enough to query the whole
// batch one after the other at the slowest channel's timeout, so another replica's sweep never
// queries them meanwhile; a payment whose sweeper died is due again after it.
func (g *Service) queryLease() time.Duration {
	slowest := time.Second
	for _, ch := range g.cfg.Channels {
		slowest = max(slowest, ch.Timeout.D())
	}
	return time.Duration(g.cfg.Sweeper.Batch)*slowest + 10*time.Second
}

func (g *Service) nextQuery(count int) *time.Time {
	return g.nextQueryOn(g.cfg.Sweeper.Schedule, count)
}

// nextPaymentQuery is when a payment awaiting its payer is queried for the count-th time:
// redirect payments follow the early redirect schedule, capped at their expiry (when the
// sweeper closes them); others the sweeper schedule.
func (g *Service) nextPaymentQuery(p paygw.Payment, count int) *time.Time {
	if !p.PayMethod.Redirect() {
		return g.nextQuery(count)
	}
	next := g.nextQueryOn(g.cfg.Sweeper.RedirectSchedule, count)
	if p.ExpiresAt != nil && next.After(*p.ExpiresAt) {
		next = p.ExpiresAt
	}
	return next
}

func (g *Service) nextQueryOn(sched []config.Duration, count int) *time.Time {
	if count >= len(sched) {
		count = len(sched) - 1
	}
	t := g.now().Add(sched[count].D())
	return &t
}

func (g *Service) sweepPayment(ctx context.Context, p paygw.Payment) {
	log := g.logger(ctx).With().Str("payment_id", p.ID).Str("channel", p.Channel).Logger()
	out, err := g.queryAndApply(ctx, p)
	if err != nil {
		g.metrics.sweeperChecks.WithLabelValues("payment", "error").Inc()
		log.Warn().Err(err).Msg("query failed; will retry")
		_ = g.store.SchedulePaymentQuery(ctx, p.ID, g.nextQuery(p.QueryCount), p.QueryCount+1, g.now())
		return
	}
	if out.Status.Final() {
		g.metrics.sweeperChecks.WithLabelValues("payment", string(out.Status)).Inc()
		log.Info().Str("status", string(out.Status)).Msg("resolved by query")
		return
	}
	if p.ExpiresAt != nil && !g.now().Before(*p.ExpiresAt) {
		closed, err := g.closeAtChannel(ctx, p, "expired")
		if err != nil {
			log.Warn().Err(err).Msg("expiry close not confirmed; will retry")
			_ = g.store.SchedulePaymentQuery(ctx, p.ID, g.nextQuery(p.QueryCount), p.QueryCount+1, g.now())
			return
		}
		g.metrics.sweeperChecks.WithLabelValues("payment", "expired").Inc()
		log.Info().Str("status", string(closed.Status)).Msg("expired payment closed")
		return
	}
	g.metrics.sweeperChecks.WithLabelValues("payment", "pending").Inc()
	next := g.nextQuery(p.QueryCount)
	if p.PayMethod.Redirect() {
		next = g.nextPaymentQuery(p, p.QueryCount+1) // the create used the schedule's first delay
	}
	_ = g.store.SchedulePaymentQuery(ctx, p.ID, next, p.QueryCount+1, g.now())
}

func (g *Service) sweepRefund(ctx context.Context, r paygw.Refund) {
	ch, err := g.channel(r.Channel)
	if err != nil {
		return
	}
	var res channel.RefundResult
	start := g.now()
	err = g.router.Call(ctx, r.Channel, "query_refund", func() error {
		var e error
		res, e = ch.QueryRefund(ctx, r.ID)
		return e
	})
	g.record(ctx, g.attempt(r.PaymentID, r.ID, r.Channel, "query_refund", res.Status, err, start))
	if err == nil && (res.Status == channel.StatusSucceeded || res.Status == channel.StatusFailed) {
		if _, err := g.applyRefundResult(ctx, r, res); err == nil {
			g.metrics.sweeperChecks.WithLabelValues("refund", string(res.Status)).Inc()
			return
		}
	}
	if err == nil && res.Status == channel.StatusNotFound && g.now().Sub(r.CreatedAt) > refundNotFoundAfter {
		// The channel still does not know it long after any request could be in flight: it
		// never received it, a definite non-execution. Earlier, not_found may only mean the
		// query overtook the refund request, and releasing the amount could refund twice.
		_, _, _ = outcome.ApplyRefund(ctx, g.store, r.ID, outcome.Refund{Status: paygw.RefundFailed, FailReason: "unknown to the channel"}, g.now(), g.cfg.Location())
		g.metrics.sweeperChecks.WithLabelValues("refund", "not_found").Inc()
		return
	}
	g.metrics.sweeperChecks.WithLabelValues("refund", "pending").Inc()
	_ = g.store.ScheduleRefundQuery(ctx, r.ID, g.nextQuery(r.QueryCount), r.QueryCount+1, g.now())
}

// refundNotFoundAfter is how old a refund must be before a channel's not_found makes it failed.
const refundNotFoundAfter = 10 * time.Minute

// RunSweeper sweeps every interval until ctx ends, purges expired nonces every second (small,
// bounded deletes rather than minutes of requests at once), and purges delivered notifications
// past notify.retention: once at start, then every minute (sooner while a backlog remains).
func (g *Service) RunSweeper(ctx context.Context) {
	t := time.NewTicker(g.cfg.Sweeper.Interval.D())
	defer t.Stop()
	purge := time.NewTicker(noncePurgeEvery)
	defer purge.Stop()
	retention := time.NewTimer(0)
	defer retention.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := g.Sweep(ctx); err != nil && ctx.Err() == nil {
				g.logger(ctx).Error().Err(err).Msg("sweep")
			}
		case <-purge.C:
			if _, _, err := g.PurgeNonces(ctx); err != nil && ctx.Err() == nil {
				g.logger(ctx).Error().Err(err).Msg("purge nonces")
			}
		case <-retention.C:
			retention.Reset(g.purgeRetained(ctx))
		}
	}
}

// purgeRetained runs one retention pass, logs what it did, and returns when the next one is due.
func (g *Service) purgeRetained(ctx context.Context) time.Duration {
	n, more, err := g.PurgeNotifications(ctx)
	if n > 0 {
		g.logger(ctx).Info().Int("purged", n).Str("retention", g.cfg.Notify.KeepDelivered().String()).Bool("more", more).
			Msg("delivered notifications purged")
	}
	if err != nil && ctx.Err() == nil {
		g.logger(ctx).Error().Err(err).Msg("purge delivered notifications")
	}
	if more {
		return g.purge.catchUp
	}
	return g.purge.every
}
