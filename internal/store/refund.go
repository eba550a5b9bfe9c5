package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

type refundRow struct {
	ID              string         `db:"id"`
	PaymentID       string         `db:"payment_id"`
	MerchantID      string         `db:"merchant_id"`
	OutRefundNo     string         `db:"out_refund_no"`
	Amount          int64          `db:"amount"`
	Currency        string         `db:"currency"`
	Reason          string         `db:"reason"`
	NotifyURL       string         `db:"notify_url"`
	RequestHash     string         `db:"request_hash"`
	Status          string         `db:"status"`
	Channel         string         `db:"channel"`
	ChannelRefundNo string         `db:"channel_refund_no"`
	FailReason      string         `db:"fail_reason"`
	CreatedAt       time.Time      `db:"created_at"`
	UpdatedAt       time.Time      `db:"updated_at"`
	SucceededAt     sql.NullTime   `db:"succeeded_at"`
	BusinessDate    sql.NullString `db:"business_date"`
	NextQueryAt     sql.NullTime   `db:"next_query_at"`
	QueryCount      int            `db:"query_count"`
}

const refundCols = `id, payment_id, merchant_id, out_refund_no, amount, currency, reason, notify_url, request_hash, status,
	channel, channel_refund_no, fail_reason, created_at, updated_at, succeeded_at, business_date, next_query_at,
	query_count`

func (r refundRow) domain() paygw.Refund {
	return paygw.Refund{
		ID: r.ID, PaymentID: r.PaymentID, MerchantID: r.MerchantID, OutRefundNo: r.OutRefundNo, Amount: r.Amount,
		Currency: money.Currency(r.Currency), Reason: r.Reason, NotifyURL: r.NotifyURL, RequestHash: r.RequestHash,
		Status: paygw.RefundStatus(r.Status), Channel: r.Channel, ChannelRefundNo: r.ChannelRefundNo,
		FailReason: r.FailReason, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		SucceededAt: timePtr(r.SucceededAt), BusinessDate: r.BusinessDate.String, NextQueryAt: timePtr(r.NextQueryAt),
		QueryCount: r.QueryCount,
	}
}

func getRefund(ctx context.Context, q queryer, d Dialect, where string, args ...any) (paygw.Refund, error) {
	var r refundRow
	if err := get(ctx, q, d, &r, `SELECT `+refundCols+` FROM refunds `+where, args...); err != nil {
		return paygw.Refund{}, fmt.Errorf("get refund: %w", err)
	}
	return r.domain(), nil
}

// GetRefund returns a refund by id or ErrNotFound.
func (s *Store) GetRefund(ctx context.Context, id string) (paygw.Refund, error) {
	return getRefund(ctx, s.db, s.dialect, `WHERE id = ?`, id)
}

// GetMerchantRefund returns a merchant's own refund.
func (s *Store) GetMerchantRefund(ctx context.Context, merchantID, id string) (paygw.Refund, error) {
	return getRefund(ctx, s.db, s.dialect, `WHERE id = ? AND merchant_id = ?`, id, merchantID)
}

// GetRefundByOutRefundNo returns a merchant's refund by its out_refund_no.
func (s *Store) GetRefundByOutRefundNo(ctx context.Context, merchantID, outRefundNo string) (paygw.Refund, error) {
	return getRefund(ctx, s.db, s.dialect, `WHERE merchant_id = ? AND out_refund_no = ?`, merchantID, outRefundNo)
}

// RefundOutRefundNoKey names the unique key on (merchant_id, out_refund_no).
var RefundOutRefundNoKey = []string{"refunds_merchant_out_refund_no", "refunds.merchant_id, refunds.out_refund_no"}

// Errors of CreateRefund, mapped to API codes by the gateway.
var (
	ErrRefundExceeds        = errors.New("store: refund exceeds the refundable amount")
	ErrPaymentNotRefundable = errors.New("store: payment is not in a refundable state")
)

// CreateRefund inserts the refund and reserves its amount on the payment, atomically. The
// insert comes first so that the unique key on (merchant_id, out_refund_no) decides concurrent
// retries of the same refund before any reservation: a retry fails with IsUnique (and the caller
// answers the stored refund) instead of seeing the first one's reservation as an over-refund.
// The reservation is one conditional UPDATE (refund_reserved + amount ≤ amount), so concurrent
// different refunds are serialised by the payment row and can never exceed the amount
// together; a CHECK constraint backs it. The refund is stored with its first active query
// (r.NextQueryAt) already set, so the sweeper finds it even if the process dies before the
// channel answers.
func (s *Store) CreateRefund(ctx context.Context, r paygw.Refund) error {
	return s.Transact(ctx, func(tx *Tx) error {
		_, err := exec(ctx, tx.tx, tx.dialect, `INSERT INTO refunds (id, payment_id, merchant_id, out_refund_no, amount, currency,
			reason, notify_url, request_hash, status, channel, created_at, updated_at, next_query_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.PaymentID, r.MerchantID, r.OutRefundNo, r.Amount, string(r.Currency), r.Reason, r.NotifyURL,
			r.RequestHash, string(r.Status), r.Channel, Now(r.CreatedAt), Now(r.CreatedAt), nullTime(r.NextQueryAt))
		if err != nil {
			return fmt.Errorf("insert refund: %w", err)
		}
		n, err := exec(ctx, tx.tx, tx.dialect, `UPDATE payments SET refund_reserved = refund_reserved + ?, updated_at = ?
			WHERE id = ? AND merchant_id = ? AND status IN ('succeeded', 'partially_refunded') AND refund_reserved + ? <= amount`,
			r.Amount, Now(r.CreatedAt), r.PaymentID, r.MerchantID, r.Amount)
		if err != nil {
			return fmt.Errorf("reserve refund: %w", err)
		}
		if n == 0 {
			p, err := getPayment(ctx, tx.tx, tx.dialect, `WHERE id = ? AND merchant_id = ?`, r.PaymentID, r.MerchantID)
			if err != nil {
				return err
			}
			if !p.Status.Paid() {
				return ErrPaymentNotRefundable
			}
			return ErrRefundExceeds
		}
		return nil
	})
}

// MarkRefundSent records the channel's refund number and the next active query.
func (s *Store) MarkRefundSent(ctx context.Context, id, channelRefundNo string, next *time.Time, now time.Time) error {
	_, err := exec(ctx, s.db, s.dialect, `UPDATE refunds SET channel_refund_no = CASE WHEN ? <> '' THEN ? ELSE channel_refund_no END,
		next_query_at = ?, updated_at = ? WHERE id = ? AND status = 'processing'`,
		channelRefundNo, channelRefundNo, nullTime(next), Now(now), id)
	if err != nil {
		return fmt.Errorf("mark refund sent %s: %w", id, err)
	}
	return nil
}

// DueRefunds lists processing refunds whose next active query is due.
func (s *Store) DueRefunds(ctx context.Context, now time.Time, limit int) ([]paygw.Refund, error) {
	var rows []refundRow
	if err := selectDue(ctx, s, &rows, `SELECT `+refundCols+` FROM refunds
		WHERE next_query_at IS NOT NULL AND next_query_at <= ? AND status = 'processing' ORDER BY next_query_at LIMIT ?`,
		Now(now), limit); err != nil {
		return nil, fmt.Errorf("due refunds: %w", err)
	}
	out := make([]paygw.Refund, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// ScheduleRefundQuery sets the next active query of a processing refund.
func (s *Store) ScheduleRefundQuery(ctx context.Context, id string, next *time.Time, count int, now time.Time) error {
	_, err := exec(ctx, s.db, s.dialect, `UPDATE refunds SET next_query_at = ?, query_count = ?, updated_at = ?
		WHERE id = ? AND status = 'processing'`, nullTime(next), count, Now(now), id)
	if err != nil {
		return fmt.Errorf("schedule refund query %s: %w", id, err)
	}
	return nil
}
