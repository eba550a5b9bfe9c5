package cliout

import "time"

// JobRun is one job_runs row in `jobs list --json`.
type JobRun struct {
	ID          string     `json:"id"`
	Job         string     `json:"job"`
	BusinessKey string     `json:"business_key"`
	Host        string     `json:"host"`
	Trigger     string     `json:"trigger"`
	Status      string     `json:"status"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Summary     string     `json:"summary"`
	Error       string     `json:"error"`
}

// ScheduledJob is one job in `jobs show-schedule --json`.
type ScheduledJob struct {
	Name        string      `json:"name"`
	Schedule    string      `json:"schedule"`
	Args        []string    `json:"args"`
	Description string      `json:"description"`
	Shardable   bool        `json:"shardable"`
	Next        []time.Time `json:"next"`
}
