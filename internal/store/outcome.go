package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// PaymentOutcome is a channel's final (or still pending) answer about a payment.
type PaymentOutcome struct {
	Status         paygw.PaymentStatus // succeeded, failed, closed
	ChannelTradeNo string
	PaidAt         time.Time
	FailReason     string
	// Correction lets reconciliation turn a failed or closed payment into succeeded when the
	// channel's bill proves the payer was charged.
	Correction bool
	// Attempt, when set, is the channel call that produced this outcome; it is recorded in the
	// same transaction whether or not the outcome changes anything.
	Attempt *ChannelAttempt
}

// RefundOutcome is a channel's final answer about a refund.
type RefundOutcome struct {
	Status          paygw.RefundStatus // succeeded, failed
	ChannelRefundNo string
	SucceededAt     time.Time
	FailReason      string
}

// paymentStatuses lists every payment status, for computing a transition's allowed sources.
var paymentStatuses = []paygw.PaymentStatus{paygw.PaymentCreated, paygw.PaymentProcessing, paygw.PaymentSucceeded,
	paygw.PaymentFailed, paygw.PaymentClosed, paygw.PaymentPartiallyRefunded, paygw.PaymentRefunded}

func forUpdate(d Dialect) string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return "" // SQLite: the immediate transaction already holds the write lock
}

// ApplyPaymentOutcome moves a payment to the outcome's status if the state machine allows it,
// and in the same transaction posts the capture journal (succeeded) and writes the merchant
// notification. A duplicate or out-of-order outcome changes nothing and returns changed=false.
func (s *Store) ApplyPaymentOutcome(ctx context.Context, id string, o PaymentOutcome, now time.Time, loc *time.Location) (p paygw.Payment, changed bool, err error) {
	err = s.Transact(ctx, func(tx *Tx) error {
		p, changed, err = tx.ApplyPaymentOutcome(ctx, id, o, now, loc)
		return err
	})
	return p, changed, err
}

// ApplyPaymentOutcome is the transactional form of Store.ApplyPaymentOutcome.
func (t *Tx) ApplyPaymentOutcome(ctx context.Context, id string, o PaymentOutcome, now time.Time, loc *time.Location) (paygw.Payment, bool, error) {
	if o.Attempt != nil {
		if err := recordAttempt(ctx, t.tx, t.dialect, *o.Attempt); err != nil {
			return paygw.Payment{}, false, err
		}
	}
	// One compare-and-set UPDATE … RETURNING decides the race: it moves the payment only from a
	// status the state machine allows, so a duplicate or late outcome matches no row.
	var froms []any
	for _, st := range paymentStatuses {
		if st.CanTransition(o.Status) || (o.Correction && o.Status == paygw.PaymentSucceeded &&
			(st == paygw.PaymentFailed || st == paygw.PaymentClosed)) {
			froms = append(froms, string(st))
		}
	}
	var paidAt *time.Time
	var businessDate, failReason string
	switch o.Status {
	case paygw.PaymentSucceeded:
		at := o.PaidAt
		if at.IsZero() {
			at = now
		}
		at = Now(at)
		paidAt, businessDate = &at, paygw.BusinessDate(at, loc)
	case paygw.PaymentFailed, paygw.PaymentClosed:
		failReason = o.FailReason
	}
	var p paygw.Payment
	if len(froms) > 0 {
		var row paymentRow
		set, args := "", []any{string(o.Status), o.ChannelTradeNo, o.ChannelTradeNo}
		if paidAt != nil {
			set, args = "paid_at = ?, business_date = ?, ", append(args, nullTime(paidAt), businessDate)
		}
		args = append(args, failReason, Now(now), id)
		err := get(ctx, t.tx, t.dialect, &row, `UPDATE payments SET status = ?,
			channel_trade_no = CASE WHEN ? <> '' THEN ? ELSE channel_trade_no END, `+set+`
			fail_reason = ?, next_query_at = NULL, updated_at = ?, version = version + 1
			WHERE id = ? AND status IN (?`+strings.Repeat(", ?", len(froms)-1)+`) RETURNING `+paymentCols,
			append(args, froms...)...)
		switch {
		case err == nil:
			p = row.domain()
		case errors.Is(err, ErrNotFound):
			froms = nil
		default:
			return p, false, fmt.Errorf("update payment %s: %w", id, err)
		}
	}
	if len(froms) == 0 {
		cur, err := getPayment(ctx, t.tx, t.dialect, `WHERE id = ?`, id)
		return cur, false, err
	}
	var event string
	switch o.Status {
	case paygw.PaymentSucceeded:
		j, err := ledger.Capture(p.ID, p.Channel, p.MerchantID, p.Currency, p.Amount)
		if err != nil {
			return p, false, err
		}
		if err := t.PostJournal(ctx, j, now); err != nil {
			return p, false, err
		}
		if err := t.pendSettlement(ctx, "payment", p.MerchantID, p.BusinessDate, p.ID, p.OutTradeNo, string(p.Currency), p.Amount, *p.PaidAt); err != nil {
			return p, false, err
		}
		event = paygw.EventPaymentSucceeded
	case paygw.PaymentFailed:
		event = paygw.EventPaymentFailed
	case paygw.PaymentClosed:
		event = paygw.EventPaymentClosed
	}
	if o.Status == paygw.PaymentFailed || o.Status == paygw.PaymentClosed {
		if err := t.releaseDailyCap(ctx, p.ID, p.MerchantID, string(p.Currency), p.Amount); err != nil {
			return p, false, err
		}
	}
	if event != "" {
		if err := t.notify(ctx, p.MerchantID, p.NotifyURL, p.ID, "", event, api.FromPayment(p), now); err != nil {
			return p, false, err
		}
	}
	return p, true, nil
}

// notify writes the outbox row for an event, with the body frozen now. Without a notify URL
// (neither the request's nor the merchant's default) there is nothing to deliver.
func (t *Tx) notify(ctx context.Context, merchantID, url, paymentID, refundID, event string, data any, now time.Time) error {
	if url == "" {
		if err := get(ctx, t.tx, t.dialect, &url, `SELECT notify_url FROM merchants WHERE id = ?`, merchantID); err != nil {
			return fmt.Errorf("merchant notify url: %w", err)
		}
		if url == "" {
			return nil
		}
	}
	id := paygw.NewID("evt")
	body, err := api.NewEvent(id, event, now, data)
	if err != nil {
		return err
	}
	return t.InsertNotification(ctx, paygw.Notification{
		ID: id, MerchantID: merchantID, PaymentID: paymentID, RefundID: refundID, Type: event, URL: url,
		Body: body, Status: paygw.NotificationPending, NextAttemptAt: Now(now), CreatedAt: Now(now),
	})
}

// ApplyRefundOutcome finishes a processing refund. Succeeded: the payment's refunded amount and
// status move, the refund journal is posted and refund.succeeded is queued, all in one
// transaction. Failed: the reserved amount is released and refund.failed is queued.
// A duplicate outcome changes nothing.
func (s *Store) ApplyRefundOutcome(ctx context.Context, id string, o RefundOutcome, now time.Time, loc *time.Location) (r paygw.Refund, changed bool, err error) {
	err = s.Transact(ctx, func(tx *Tx) error {
		r, changed, err = tx.ApplyRefundOutcome(ctx, id, o, now, loc)
		return err
	})
	return r, changed, err
}

// ApplyRefundOutcome is the transactional form of Store.ApplyRefundOutcome.
func (t *Tx) ApplyRefundOutcome(ctx context.Context, id string, o RefundOutcome, now time.Time, loc *time.Location) (paygw.Refund, bool, error) {
	r, err := getRefund(ctx, t.tx, t.dialect, `WHERE id = ?`+forUpdate(t.dialect), id)
	if err != nil {
		return r, false, err
	}
	if !r.Status.CanTransition(o.Status) {
		return r, false, nil
	}
	p, err := getPayment(ctx, t.tx, t.dialect, `WHERE id = ?`+forUpdate(t.dialect), r.PaymentID)
	if err != nil {
		return r, false, err
	}
	r.Status = o.Status
	r.UpdatedAt = Now(now)
	r.NextQueryAt = nil
	if o.ChannelRefundNo != "" {
		r.ChannelRefundNo = o.ChannelRefundNo
	}
	if o.Status == paygw.RefundSucceeded {
		at := o.SucceededAt
		if at.IsZero() {
			at = now
		}
		at = Now(at)
		r.SucceededAt = &at
		r.BusinessDate = paygw.BusinessDate(at, loc)
	} else {
		r.FailReason = o.FailReason
	}
	n, err := exec(ctx, t.tx, t.dialect, `UPDATE refunds SET status = ?, channel_refund_no = ?, succeeded_at = ?, business_date = ?,
		fail_reason = ?, next_query_at = NULL, updated_at = ? WHERE id = ? AND status = 'processing'`,
		string(r.Status), r.ChannelRefundNo, nullTime(r.SucceededAt), nullString(r.BusinessDate), r.FailReason, r.UpdatedAt, r.ID)
	if err != nil {
		return r, false, fmt.Errorf("update refund %s: %w", id, err)
	}
	if n != 1 {
		return r, false, fmt.Errorf("update refund %s: %w", id, ErrConflict)
	}
	event := paygw.EventRefundFailed
	if o.Status == paygw.RefundSucceeded {
		refunded, err := money.Add(p.RefundedAmount, r.Amount)
		if err != nil || refunded > p.Amount {
			// The reservation makes this impossible; refuse rather than post a wrong journal.
			return r, false, fmt.Errorf("refund %s: refunded total %d + %d exceeds payment %s amount %d: %w",
				r.ID, p.RefundedAmount, r.Amount, p.ID, p.Amount, ErrRefundExceeds)
		}
		status := paygw.PaymentPartiallyRefunded
		if refunded == p.Amount {
			status = paygw.PaymentRefunded
		}
		if err := paygw.CheckPaymentTransition(p.Status, status); err != nil {
			return r, false, err
		}
		if _, err := exec(ctx, t.tx, t.dialect, `UPDATE payments SET refunded_amount = ?, status = ?, updated_at = ?,
			version = version + 1 WHERE id = ?`, refunded, string(status), Now(now), p.ID); err != nil {
			return r, false, fmt.Errorf("update refunded payment %s: %w", p.ID, err)
		}
		j, err := ledger.Refund(r.ID, r.Channel, r.MerchantID, r.Currency, r.Amount)
		if err != nil {
			return r, false, err
		}
		if err := t.PostJournal(ctx, j, now); err != nil {
			return r, false, err
		}
		if err := t.pendSettlement(ctx, "refund", r.MerchantID, r.BusinessDate, r.ID, r.OutRefundNo, string(r.Currency), r.Amount, *r.SucceededAt); err != nil {
			return r, false, err
		}
		event = paygw.EventRefundSucceeded
	} else {
		if _, err := exec(ctx, t.tx, t.dialect, `UPDATE payments SET refund_reserved = refund_reserved - ?, updated_at = ?
			WHERE id = ?`, r.Amount, Now(now), p.ID); err != nil {
			return r, false, fmt.Errorf("release refund reservation %s: %w", p.ID, err)
		}
	}
	url := r.NotifyURL
	if url == "" {
		url = p.NotifyURL
	}
	if err := t.notify(ctx, r.MerchantID, url, r.PaymentID, r.ID, event, api.FromRefund(r), now); err != nil {
		return r, false, err
	}
	return r, true, nil
}

// pendSettlement records that a succeeded payment or refund awaits settlement (settle_pending;
// deleted in the transaction that settles it).
func (t *Tx) pendSettlement(ctx context.Context, kind, merchantID, businessDate, id, outNo, currency string, amount int64, doneAt time.Time) error {
	if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO settle_pending (merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, merchantID, kind, businessDate, id, outNo, currency, amount, Now(doneAt)); err != nil {
		return fmt.Errorf("pend settlement of %s: %w", id, err)
	}
	return nil
}
