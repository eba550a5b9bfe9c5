package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// JobSpec describes one run of a batch job for RunJob.
type JobSpec struct {
	Job         string        // job name, e.g. "settle"
	BusinessKey string        // e.g. "2026-11-22" or "sandbox/2026-11-22" or "2026-11-22/shard-0-of-4"
	TTL         time.Duration // lease length; renewed every TTL/3 while the job runs (default 2m)
	Trigger     string        // manual | cron | cronjob (env PAYGW_TRIGGER)
}

// RunJob runs fn under the lease job/business_key and records a job_runs row with its outcome
// and summary. If another run holds the lease, it records a skipped run, logs who holds it and
// returns (false, nil): API.md's exit 0 for a skipped job. fn's summary string is stored.
func (a *App) RunJob(ctx context.Context, s *store.Store, spec JobSpec, fn func(ctx context.Context) (summary string, err error)) (ran bool, err error) {
	if spec.TTL <= 0 {
		spec.TTL = 2 * time.Minute
	}
	if spec.Trigger == "" {
		spec.Trigger = a.getenv("PAYGW_TRIGGER")
		if spec.Trigger == "" {
			spec.Trigger = "manual"
		}
	}
	host, _ := os.Hostname()
	runID := paygw.NewID("run")
	holder := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), runID)
	name := spec.Job + ":" + spec.BusinessKey
	log := a.Log.With().Str("job", spec.Job).Str("key", spec.BusinessKey).Str("run_id", runID).Logger()
	run := paygw.JobRun{ID: runID, Job: spec.Job, BusinessKey: spec.BusinessKey, Host: host, Trigger: spec.Trigger,
		Status: paygw.JobRunning, StartedAt: a.Now()}
	ok, cur, err := s.AcquireLease(ctx, name, holder, runID, spec.TTL, a.Now())
	if err != nil {
		return false, err
	}
	if !ok {
		run.Status = paygw.JobSkipped
		run.Summary = fmt.Sprintf("lease %s held by %s until %s", name, cur.Holder, cur.ExpiresAt.Format(time.RFC3339))
		done := a.Now()
		run.FinishedAt = &done
		if err := s.StartJobRun(ctx, run); err != nil {
			return false, err
		}
		log.Info().Str("holder", cur.Holder).Time("until", cur.ExpiresAt).Msg("skipped: another run holds the lease")
		return false, nil
	}
	if err := s.StartJobRun(ctx, run); err != nil {
		_ = s.ReleaseLease(context.WithoutCancel(ctx), name, holder)
		return false, err
	}
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() { // heartbeat: keep the lease while working; stop the work if it is lost
		t := time.NewTicker(spec.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := s.RenewLease(jobCtx, name, holder, spec.TTL, a.Now()); err != nil {
					log.Error().Err(err).Msg("lease lost; stopping")
					cancel(fmt.Errorf("lease %s lost: %w", name, err))
					return
				}
			}
		}
	}()
	summary, ferr := fn(jobCtx)
	close(done)
	if cause := context.Cause(jobCtx); ferr != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		ferr = cause
	}
	bg := context.WithoutCancel(ctx)
	status, msg := paygw.JobSucceeded, ""
	var ee *ExitError
	if ferr != nil && !errors.As(ferr, &ee) {
		status, msg = paygw.JobFailed, ferr.Error()
	}
	if err := s.FinishJobRun(bg, runID, status, summary, msg, a.Now()); err != nil {
		log.Error().Err(err).Msg("record job run")
	}
	if err := s.ReleaseLease(bg, name, holder); err != nil {
		log.Error().Err(err).Msg("release lease")
	}
	log.Info().Str("status", string(status)).Str("summary", summary).Msg("job finished")
	return true, ferr
}
