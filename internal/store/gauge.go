package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// FinishedJobRun is a finished run as monitoring reads it.
type FinishedJobRun struct {
	Job         string
	BusinessKey string
	Status      paygw.JobStatus
	FinishedAt  time.Time
}

type finishedJobRunRow struct {
	Job         string    `db:"job"`
	BusinessKey string    `db:"business_key"`
	Status      string    `db:"status"`
	FinishedAt  time.Time `db:"finished_at"`
}

// FinishedJobRuns returns the runs started since since that succeeded or failed, oldest finish
// first. job_runs holds a few rows per job and day, so a bounded window reads little.
func (s *Store) FinishedJobRuns(ctx context.Context, since time.Time) ([]FinishedJobRun, error) {
	var rows []finishedJobRunRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT job, business_key, status, finished_at FROM job_runs
		WHERE started_at >= ? AND finished_at IS NOT NULL AND status IN ('succeeded', 'failed')
		ORDER BY finished_at, id`, Now(since)); err != nil {
		return nil, fmt.Errorf("finished job runs: %w", err)
	}
	out := make([]FinishedJobRun, 0, len(rows))
	for _, r := range rows {
		out = append(out, FinishedJobRun{Job: r.Job, BusinessKey: r.BusinessKey, Status: paygw.JobStatus(r.Status),
			FinishedAt: r.FinishedAt.UTC()})
	}
	return out, nil
}

// OpenDiscrepancy counts the open reconciliation items of one channel and class.
type OpenDiscrepancy struct {
	Channel string `db:"channel"`
	Class   string `db:"class"`
	Count   int64  `db:"n"`
}

// OpenDiscrepancies counts open reconciliation items by channel and class (the partial index
// recon_items_open covers it).
func (s *Store) OpenDiscrepancies(ctx context.Context) ([]OpenDiscrepancy, error) {
	var out []OpenDiscrepancy
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT channel, class, COUNT(*) AS n FROM recon_items
		WHERE state = 'open' GROUP BY channel, class ORDER BY channel, class`); err != nil {
		return nil, fmt.Errorf("open discrepancies: %w", err)
	}
	return out, nil
}
