package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// Lease is a named, expiring claim on a piece of batch work (a job + business key).
type Lease struct {
	Name      string    `db:"name"`
	Holder    string    `db:"holder"`
	RunID     string    `db:"run_id"`
	ExpiresAt time.Time `db:"expires_at"`
}

// AcquireLease takes the lease name for holder until now+ttl, unless someone else holds an
// unexpired one. It returns whether it was acquired and, if not, the current holder's lease.
// The decision is a single upsert, so two processes racing for it cannot both win.
func (s *Store) AcquireLease(ctx context.Context, name, holder, runID string, ttl time.Duration, now time.Time) (bool, Lease, error) {
	n, err := exec(ctx, s.db, s.dialect, `INSERT INTO job_leases (name, holder, run_id, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, run_id = excluded.run_id, expires_at = excluded.expires_at
		WHERE job_leases.expires_at <= ? OR job_leases.holder = excluded.holder`,
		name, holder, runID, Now(now.Add(ttl)), Now(now))
	if err != nil {
		return false, Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	if n == 1 {
		return true, Lease{Name: name, Holder: holder, RunID: runID, ExpiresAt: Now(now.Add(ttl))}, nil
	}
	var cur Lease
	if err := get(ctx, s.db, s.dialect, &cur, `SELECT name, holder, run_id, expires_at FROM job_leases WHERE name = ?`, name); err != nil {
		return false, Lease{}, fmt.Errorf("read lease %s: %w", name, err)
	}
	cur.ExpiresAt = cur.ExpiresAt.UTC()
	return false, cur, nil
}

// RenewLease extends a held lease; ErrConflict means it was lost (expired and taken).
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) error {
	n, err := exec(ctx, s.db, s.dialect, `UPDATE job_leases SET expires_at = ? WHERE name = ? AND holder = ?`,
		Now(now.Add(ttl)), name, holder)
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("renew lease %s: %w", name, ErrConflict)
	}
	return nil
}

// ReleaseLease gives a held lease up.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := exec(ctx, s.db, s.dialect, `DELETE FROM job_leases WHERE name = ? AND holder = ?`, name, holder)
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// jobRunRow is a job_runs row.
type jobRunRow struct {
	ID          string       `db:"id"`
	Job         string       `db:"job"`
	BusinessKey string       `db:"business_key"`
	Host        string       `db:"host"`
	Trigger     string       `db:"trigger"`
	Status      string       `db:"status"`
	StartedAt   time.Time    `db:"started_at"`
	FinishedAt  sql.NullTime `db:"finished_at"`
	Summary     string       `db:"summary"`
	Error       string       `db:"error"`
}

func (r jobRunRow) domain() paygw.JobRun {
	return paygw.JobRun{ID: r.ID, Job: r.Job, BusinessKey: r.BusinessKey, Host: r.Host, Trigger: r.Trigger,
		Status: paygw.JobStatus(r.Status), StartedAt: r.StartedAt.UTC(), FinishedAt: timePtr(r.FinishedAt),
		Summary: r.Summary, Error: r.Error}
}

// StartJobRun records a run.
func (s *Store) StartJobRun(ctx context.Context, r paygw.JobRun) error {
	_, err := exec(ctx, s.db, s.dialect, `INSERT INTO job_runs (id, job, business_key, host, trigger, status, started_at, finished_at, summary, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Job, r.BusinessKey, r.Host, r.Trigger, string(r.Status), Now(r.StartedAt),
		nullTime(r.FinishedAt), capText(r.Summary, MaxJobText), capText(r.Error, MaxJobText))
	if err != nil {
		return fmt.Errorf("start job run %s: %w", r.Job, err)
	}
	return nil
}

// FinishJobRun records a run's outcome.
func (s *Store) FinishJobRun(ctx context.Context, id string, status paygw.JobStatus, summary, errMsg string, now time.Time) error {
	_, err := exec(ctx, s.db, s.dialect, `UPDATE job_runs SET status = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?`,
		string(status), capText(summary, MaxJobText), capText(errMsg, MaxJobText), Now(now), id)
	if err != nil {
		return fmt.Errorf("finish job run %s: %w", id, err)
	}
	return nil
}

// ListJobRuns returns the most recent runs, of one job when job is not empty.
func (s *Store) ListJobRuns(ctx context.Context, job string, limit int) ([]paygw.JobRun, error) {
	if limit <= 0 {
		limit = 50
	}
	where, args := "", []any{}
	if job != "" {
		where, args = "WHERE job = ?", append(args, job)
	}
	args = append(args, limit)
	var rows []jobRunRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT id, job, business_key, host, trigger, status, started_at, finished_at, summary, error
		FROM job_runs `+where+` ORDER BY started_at DESC, id DESC LIMIT ?`, args...); err != nil {
		return nil, fmt.Errorf("list job runs: %w", err)
	}
	out := make([]paygw.JobRun, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}
