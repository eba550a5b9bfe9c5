package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// The transactional primitives an outcome is composed of (internal/outcome decides which to
// call, in one transaction it opens): each runs one statement and keeps one invariant.

// PaymentTransition is a status change of a payment decided by the caller: the statuses it may
// leave from and what it sets.
type PaymentTransition struct {
	From           []paygw.PaymentStatus // the statuses the state machine allows leaving from
	To             paygw.PaymentStatus
	ChannelTradeNo string     // set when not empty
	PaidAt         *time.Time // set with BusinessDate when not nil
	BusinessDate   string
	FailReason     string
	At             time.Time
	// Version, when not 0, is the version the caller last saw: the move applies only if the
	// payment has not changed since (the use case computed its journal and notification from it).
	Version int64
}

// TransitionPayment moves a payment to tr.To with one compare-and-set UPDATE … RETURNING: it
// matches only while the payment is in one of tr.From, so of two racing outcomes exactly one
// moves it. moved=false: the payment was not in tr.From (or does not exist) and nothing changed.
func (t *Tx) TransitionPayment(ctx context.Context, id string, tr PaymentTransition) (p paygw.Payment, moved bool, err error) {
	if len(tr.From) == 0 {
		return p, false, nil
	}
	var row paymentRow
	q, args := transitionSQL(id, tr)
	err = get(ctx, t.tx, t.dialect, &row, q+` RETURNING `+paymentCols, args...)
	switch {
	case err == nil:
		return row.domain(), true, nil
	case errors.Is(err, ErrNotFound):
		return p, false, nil
	default:
		return p, false, fmt.Errorf("update payment %s: %w", id, err)
	}
}

// transitionSQL is the compare-and-set UPDATE of a transition (without RETURNING).
func transitionSQL(id string, tr PaymentTransition) (string, []any) {
	set, args := "", []any{string(tr.To), tr.ChannelTradeNo, tr.ChannelTradeNo}
	if tr.PaidAt != nil {
		set, args = "paid_at = ?, business_date = ?, ", append(args, nullTime(tr.PaidAt), tr.BusinessDate)
	}
	args = append(args, tr.FailReason, Now(tr.At), id)
	where := ""
	if tr.Version != 0 {
		where, args = " AND version = ?", append(args, tr.Version)
	}
	for _, st := range tr.From {
		args = append(args, string(st))
	}
	return `UPDATE payments SET status = ?,
		channel_trade_no = CASE WHEN ? <> '' THEN ? ELSE channel_trade_no END, ` + set + `
		fail_reason = ?, next_query_at = NULL, updated_at = ?, version = version + 1
		WHERE id = ?` + where + ` AND status IN (?` + strings.Repeat(", ?", len(tr.From)-1) + `)`, args
}

// GetPayment returns a payment by id, read in the transaction.
func (t *Tx) GetPayment(ctx context.Context, id string) (paygw.Payment, error) {
	return getPayment(ctx, t.tx, t.dialect, `WHERE id = ?`, id)
}

// LockPayment returns a payment by id and holds its row until the transaction ends.
func (t *Tx) LockPayment(ctx context.Context, id string) (paygw.Payment, error) {
	return getPayment(ctx, t.tx, t.dialect, `WHERE id = ?`+t.dialect.forUpdate(), id)
}

// LockRefund returns a refund by id and holds its row until the transaction ends.
func (t *Tx) LockRefund(ctx context.Context, id string) (paygw.Refund, error) {
	return getRefund(ctx, t.tx, t.dialect, `WHERE id = ?`+t.dialect.forUpdate(), id)
}

// RecordAttempt stores a finished channel attempt in the transaction.
func (t *Tx) RecordAttempt(ctx context.Context, a ChannelAttempt) error {
	return recordAttempt(ctx, t.tx, t.dialect, a)
}

// FinishRefund writes a refund's final status (and channel refund number, success time and
// business date, or failure reason), compare-and-set on status processing: ErrConflict when the
// refund was no longer processing.
func (t *Tx) FinishRefund(ctx context.Context, r paygw.Refund) error {
	n, err := exec(ctx, t.tx, t.dialect, `UPDATE refunds SET status = ?, channel_refund_no = ?, succeeded_at = ?, business_date = ?,
		fail_reason = ?, next_query_at = NULL, updated_at = ? WHERE id = ? AND status = 'processing'`,
		string(r.Status), r.ChannelRefundNo, nullTime(r.SucceededAt), nullString(r.BusinessDate), r.FailReason, Now(r.UpdatedAt), r.ID)
	if err != nil {
		return fmt.Errorf("update refund %s: %w", r.ID, err)
	}
	if n != 1 {
		return fmt.Errorf("update refund %s: %w", r.ID, ErrConflict)
	}
	return nil
}

// SetPaymentRefunded records a payment's new refunded total and the status it implies.
func (t *Tx) SetPaymentRefunded(ctx context.Context, id string, refunded int64, status paygw.PaymentStatus, now time.Time) error {
	if _, err := exec(ctx, t.tx, t.dialect, `UPDATE payments SET refunded_amount = ?, status = ?, updated_at = ?,
		version = version + 1 WHERE id = ?`, refunded, string(status), Now(now), id); err != nil {
		return fmt.Errorf("update refunded payment %s: %w", id, err)
	}
	return nil
}

// ReleaseRefundReservation gives back a failed refund's reserved amount to its payment.
func (t *Tx) ReleaseRefundReservation(ctx context.Context, paymentID string, amount int64, now time.Time) error {
	if _, err := exec(ctx, t.tx, t.dialect, `UPDATE payments SET refund_reserved = refund_reserved - ?, updated_at = ?
		WHERE id = ?`, amount, Now(now), paymentID); err != nil {
		return fmt.Errorf("release refund reservation %s: %w", paymentID, err)
	}
	return nil
}

// SettlePending is a succeeded payment or refund awaiting settlement.
type SettlePending struct {
	Kind         string // payment, refund
	MerchantID   string
	BusinessDate string
	ObjectID     string
	OutNo        string
	Currency     string
	Amount       int64
	DoneAt       time.Time
}

// PendSettlement records that a succeeded payment or refund awaits settlement (settle_pending;
// deleted in the transaction that settles it). Recording it twice is a no-op.
func (t *Tx) PendSettlement(ctx context.Context, sp SettlePending) error {
	if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO settle_pending (merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, sp.MerchantID, sp.Kind, sp.BusinessDate, sp.ObjectID, sp.OutNo,
		sp.Currency, sp.Amount, Now(sp.DoneAt)); err != nil {
		return fmt.Errorf("pend settlement of %s: %w", sp.ObjectID, err)
	}
	return nil
}

// MerchantNotifyURL returns a merchant's default notify URL ("" when it has none).
func (t *Tx) MerchantNotifyURL(ctx context.Context, merchantID string) (string, error) {
	var url string
	if err := get(ctx, t.tx, t.dialect, &url, `SELECT notify_url FROM merchants WHERE id = ?`, merchantID); err != nil {
		return "", fmt.Errorf("merchant notify url: %w", err)
	}
	return url, nil
}
