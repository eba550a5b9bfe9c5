package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/time/rate"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// ErrNoFilter is returned when a replay selects every notification without saying so (All).
var ErrNoFilter = errors.New("replay: no filter given (pass --all to select every notification)")

// ReplayOptions select notifications and say how to re-deliver them.
type ReplayOptions struct {
	Filter store.NotificationFilter
	All    bool // allow an empty filter
	// DryRun lists the selection (Result.Items) and sends nothing.
	DryRun bool
	// Now delivers in this process instead of re-queueing for the workers.
	Now bool
	// Rate limits Now's deliveries per second (0 = unlimited).
	Rate float64
	// Concurrency of Now's deliveries (default notify.per_merchant_concurrency).
	Concurrency int
	// OnStart is called with the number selected before Now delivers; OnDone after each one.
	OnStart func(total int)
	OnDone  func(n paygw.Notification, delivered bool)
}

// ReplayResult counts a replay (API.md: replay-notify --json).
type ReplayResult struct {
	Selected  int                  `json:"selected"`
	Delivered int                  `json:"delivered"`
	Failed    int                  `json:"failed"`
	Requeued  int                  `json:"requeued"`
	Skipped   int                  `json:"skipped"` // being delivered by a worker right now (Now)
	DryRun    bool                 `json:"dry_run"`
	Items     []paygw.Notification `json:"-"`
}

// replayPage is how many notifications a replay reads at a time.
const replayPage = 500

// Replay re-delivers the notifications o selects. By default it re-queues them for the workers
// (pending, due now, the schedule restarted, attempts still counting, the next attempt
// recorded as manual). With Now it delivers them itself, each under a short lease so that no
// worker sends the same notification at the same time, and records manual attempts; one that
// fails goes back on the schedule. With DryRun it only lists them.
func (w *Worker) Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	res := ReplayResult{DryRun: o.DryRun}
	if o.Filter.Empty() && !o.All {
		return res, ErrNoFilter
	}
	n, err := w.s.CountNotifications(ctx, o.Filter)
	if err != nil {
		return res, err
	}
	res.Selected = n
	switch {
	case o.DryRun:
		err = w.eachSelected(ctx, o.Filter, func(ns []paygw.Notification) error {
			res.Items = append(res.Items, ns...)
			return nil
		})
		res.Selected = len(res.Items)
		return res, err
	case !o.Now:
		res.Requeued, err = w.s.RequeueNotifications(ctx, o.Filter, w.now())
		if err == nil {
			w.log.Info().Int("selected", res.Selected).Int("requeued", res.Requeued).Msg("notifications re-queued")
		}
		return res, err
	}
	if o.OnStart != nil {
		o.OnStart(n)
	}
	lim := rate.NewLimiter(rate.Inf, 1)
	if o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	conc := o.Concurrency
	if conc <= 0 {
		conc = w.cfg.PerMerchant
	}
	var mu sync.Mutex
	jobs := make(chan paygw.Notification)
	var wg sync.WaitGroup
	var firstErr error
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for nt := range jobs {
				delivered, skipped, err := w.replayOne(ctx, nt)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case skipped:
					res.Skipped++
				case delivered:
					res.Delivered++
				default:
					res.Failed++
				}
				mu.Unlock()
				if o.OnDone != nil {
					o.OnDone(nt, delivered)
				}
			}
		}()
	}
	err = w.eachSelected(ctx, o.Filter, func(ns []paygw.Notification) error {
		for _, nt := range ns {
			if err := lim.Wait(ctx); err != nil {
				return err
			}
			mu.Lock()
			failed := firstErr
			mu.Unlock()
			if failed != nil {
				return failed
			}
			select {
			case jobs <- nt:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if err == nil {
		err = firstErr
	}
	w.log.Info().Int("selected", res.Selected).Int("delivered", res.Delivered).Int("failed", res.Failed).
		Int("skipped", res.Skipped).Msg("notifications replayed")
	return res, err
}

// eachSelected pages through the selection, oldest first.
func (w *Worker) eachSelected(ctx context.Context, f store.NotificationFilter, fn func([]paygw.Notification) error) error {
	var cur *store.NotificationCursor
	for {
		page, err := w.s.ListNotifications(ctx, f, cur, replayPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		last := page[len(page)-1]
		cur = &store.NotificationCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// replayOne claims and delivers one notification now, recording a manual attempt.
func (w *Worker) replayOne(ctx context.Context, n paygw.Notification) (delivered, skipped bool, err error) {
	d, ok, err := w.s.ClaimNotification(ctx, n.ID, w.id, w.cfg.Lease.D(), w.now())
	if err != nil {
		return false, false, err
	}
	if !ok {
		return false, true, nil
	}
	res := w.attempt(ctx, d, true)
	if !res.Delivered {
		// The replay restarts the schedule: the workers take it from here.
		base := d.Attempts
		res.ScheduleBase = &base
		res.NextAttemptAt, _ = NextAttempt(w.cfg.Schedule, 0, w.now())
	}
	lost, err := w.s.RecordAttempts(context.WithoutCancel(ctx), []store.AttemptResult{res}, w.now())
	if err != nil {
		return false, false, fmt.Errorf("record replay of %s: %w", n.ID, err)
	}
	if len(lost) > 0 {
		w.log.Warn().Str("event_id", n.ID).Msg("replay lease lost before the attempt was recorded")
	}
	outcome := OutcomeFailed
	if res.Delivered {
		outcome = OutcomeDelivered
	}
	w.m.deliveries.WithLabelValues(outcome).Inc()
	w.log.Debug().Str("event_id", n.ID).Int("status", res.StatusCode).Str("error", res.Error).
		Dur("latency", res.Latency).Msg("replayed")
	return res.Delivered, false, nil
}
