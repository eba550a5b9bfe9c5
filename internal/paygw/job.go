package paygw

import "time"

// JobStatus is a batch job run's state.
type JobStatus string

// The job run states: a run starts running and ends succeeded or failed; a run that found its
// business key already done is recorded as skipped.
const (
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobSkipped   JobStatus = "skipped"
)

// JobRun is one run of a batch job, from cron, a CronJob or an operator.
type JobRun struct {
	ID          string
	Job         string
	BusinessKey string
	Host        string
	Trigger     string
	Status      JobStatus
	StartedAt   time.Time
	FinishedAt  *time.Time // nil while running
	Summary     string
	Error       string
}
