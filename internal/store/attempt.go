package store

import (
	"context"
	"fmt"
	"time"
)

// ChannelAttempt is one call to a channel about a payment or refund.
type ChannelAttempt struct {
	PaymentID  string
	RefundID   string
	Channel    string
	Operation  string // pay, query, close, refund, query_refund, callback
	Outcome    string // succeeded, processing, failed, closed, not_found, unknown, declined
	Error      string
	Latency    time.Duration
	StartedAt  time.Time
	FinishedAt time.Time
}

// RecordAttempt stores a finished channel attempt.
func (s *Store) RecordAttempt(ctx context.Context, a ChannelAttempt) error {
	return recordAttempt(ctx, s.db, s.dialect, a)
}

func recordAttempt(ctx context.Context, q queryer, d Dialect, a ChannelAttempt) error {
	_, err := exec(ctx, q, d, `INSERT INTO channel_attempts (payment_id, refund_id, channel, operation, outcome, error,
		latency_ms, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nullString(a.PaymentID), nullString(a.RefundID), a.Channel, a.Operation, a.Outcome, a.Error,
		a.Latency.Milliseconds(), Now(a.StartedAt), Now(a.FinishedAt))
	if err != nil {
		return fmt.Errorf("record channel attempt: %w", err)
	}
	return nil
}
