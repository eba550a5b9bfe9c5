package cliout

import "time"

// Replay is replay-notify --json (API.md); notifications is added for --dry-run.
type Replay struct {
	Selected      int            `json:"selected"`
	Delivered     int            `json:"delivered"`
	Failed        int            `json:"failed"`
	Requeued      int            `json:"requeued"`
	Skipped       int            `json:"skipped"`
	DryRun        bool           `json:"dry_run"`
	Notifications []Notification `json:"notifications,omitempty"`
}

// Notification is one selected notification (replay-notify --dry-run).
type Notification struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	MerchantID    string    `json:"merchant_id"`
	PaymentID     string    `json:"payment_id,omitempty"`
	RefundID      string    `json:"refund_id,omitempty"`
	URL           string    `json:"url"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	LastStatus    int       `json:"last_status"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
}
