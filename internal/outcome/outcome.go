// Package outcome is the use case that finishes a payment or refund with a channel's answer:
// it runs the state machine, and in one transaction it opens moves the status (compare-and-set),
// posts the journal, marks the object for settlement, releases the risk cap and queues the
// merchant's notification. The store only stores (each step is one of its primitives); this
// package decides. The gateway (channel answers, callbacks, the sweeper) and reconciliation
// (a status mismatch the channel's bill proves) both finish payments through it, so it imports
// neither of them.
package outcome

import (
	"context"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// Payment is a channel's final answer about a payment.
type Payment struct {
	Status         paygw.PaymentStatus // succeeded, failed, closed
	ChannelTradeNo string
	PaidAt         time.Time
	FailReason     string
	// Correction lets reconciliation turn a failed or closed payment into succeeded when the
	// channel's bill proves the payer was charged.
	Correction bool
	// Attempt, when set, is the channel call that produced this outcome; it is recorded in the
	// same transaction whether or not the outcome changes anything.
	Attempt *store.ChannelAttempt
}

// Refund is a channel's final answer about a refund.
type Refund struct {
	Status          paygw.RefundStatus // succeeded, failed
	ChannelRefundNo string
	SucceededAt     time.Time
	FailReason      string
}

// paymentStatuses lists every payment status, for computing a transition's allowed sources.
var paymentStatuses = []paygw.PaymentStatus{paygw.PaymentCreated, paygw.PaymentProcessing, paygw.PaymentSucceeded,
	paygw.PaymentFailed, paygw.PaymentClosed, paygw.PaymentPartiallyRefunded, paygw.PaymentRefunded}

// ApplyPayment moves a payment to the outcome's status if the state machine allows it, and in
// the same transaction posts the capture journal (succeeded) and writes the merchant
// notification. A duplicate or out-of-order outcome changes nothing and returns changed=false
// with the payment as it is.
func ApplyPayment(ctx context.Context, s *store.Store, id string, o Payment, now time.Time, loc *time.Location) (p paygw.Payment, changed bool, err error) {
	err = s.Transact(ctx, func(tx *store.Tx) error {
		p, changed, err = ApplyPaymentTx(ctx, tx, id, o, now, loc)
		return err
	})
	return p, changed, err
}

// ApplyPaymentTx is ApplyPayment inside the caller's transaction.
func ApplyPaymentTx(ctx context.Context, tx *store.Tx, id string, o Payment, now time.Time, loc *time.Location) (paygw.Payment, bool, error) {
	if o.Attempt != nil {
		if err := tx.RecordAttempt(ctx, *o.Attempt); err != nil {
			return paygw.Payment{}, false, err
		}
	}
	// The compare-and-set decides the race: a duplicate or late outcome matches no row.
	p, moved, err := tx.TransitionPayment(ctx, id, transition(o, now, loc))
	if err != nil {
		return p, false, err
	}
	if !moved {
		cur, err := tx.GetPayment(ctx, id)
		return cur, false, err
	}
	ws, err := effects(p, o.Status, now)
	if err != nil {
		return p, false, err
	}
	ws.Now = now
	if err := tx.WritePaymentEffects(ctx, ws); err != nil {
		return p, false, err
	}
	return p, true, nil
}

// ApplyPaymentFrom is ApplyPayment for a caller that holds the payment as it last saw it (the
// gateway, which has just created it and called the channel): the whole write set — transition,
// journal, settlement marker, cap release, notification — is computed from that snapshot up
// front and stored in one statement on PostgreSQL (one round trip, one commit). It applies only
// if the payment is still at the snapshot's version; otherwise (a callback or the sweeper moved
// it meanwhile) the outcome is applied from the current row as ApplyPayment does.
func ApplyPaymentFrom(ctx context.Context, s *store.Store, snap paygw.Payment, o Payment, now time.Time, loc *time.Location) (paygw.Payment, bool, error) {
	ws, ok, err := WriteSetFrom(snap, o, now, loc)
	if err != nil {
		return paygw.Payment{}, false, err
	}
	if !ok {
		return ApplyPayment(ctx, s, snap.ID, o, now, loc)
	}
	p, moved, err := s.ApplyPaymentWriteSet(ctx, ws)
	if err != nil || moved {
		return p, moved, err
	}
	o.Attempt = nil // recorded with the write set
	return ApplyPayment(ctx, s, snap.ID, o, now, loc)
}

// WriteSetFrom is the write set of outcome o computed from the snapshot snap, as ApplyPaymentFrom
// stores it; ok=false when there is none to compute (a snapshot without a version, or an
// outcome no status may move to).
func WriteSetFrom(snap paygw.Payment, o Payment, now time.Time, loc *time.Location) (ws store.PaymentWriteSet, ok bool, err error) {
	tr := transition(o, now, loc)
	tr.Version = snap.Version
	if snap.Version == 0 || len(tr.From) == 0 {
		return ws, false, nil
	}
	if ws, err = effects(predict(snap, tr), o.Status, now); err != nil {
		return ws, false, err
	}
	ws.PaymentID, ws.Transition, ws.Attempt, ws.Now = snap.ID, tr, o.Attempt, now
	return ws, true, nil
}

// transition is the compare-and-set an outcome asks for: from every status the state machine
// allows (and, for a reconciliation correction, from failed or closed to succeeded).
func transition(o Payment, now time.Time, loc *time.Location) store.PaymentTransition {
	tr := store.PaymentTransition{To: o.Status, ChannelTradeNo: o.ChannelTradeNo, At: now}
	for _, st := range paymentStatuses {
		if st.CanTransition(o.Status) || (o.Correction && o.Status == paygw.PaymentSucceeded &&
			(st == paygw.PaymentFailed || st == paygw.PaymentClosed)) {
			tr.From = append(tr.From, st)
		}
	}
	switch o.Status {
	case paygw.PaymentSucceeded:
		at := o.PaidAt
		if at.IsZero() {
			at = now
		}
		at = store.Now(at)
		tr.PaidAt, tr.BusinessDate = &at, paygw.BusinessDate(at, loc)
	case paygw.PaymentFailed, paygw.PaymentClosed:
		tr.FailReason = o.FailReason
	}
	return tr
}

// predict is the payment as the transition leaves it, from the snapshot it applies to (what the
// UPDATE … RETURNING would return), with times as the store keeps them.
func predict(snap paygw.Payment, tr store.PaymentTransition) paygw.Payment {
	p := snap
	p.Status = tr.To
	if tr.ChannelTradeNo != "" {
		p.ChannelTradeNo = tr.ChannelTradeNo
	}
	if tr.PaidAt != nil {
		at := store.Now(*tr.PaidAt)
		p.PaidAt, p.BusinessDate = &at, tr.BusinessDate
	}
	p.FailReason = tr.FailReason
	p.NextQueryAt = nil
	p.UpdatedAt = store.Now(tr.At)
	p.CreatedAt = store.Now(p.CreatedAt)
	if p.ExpiresAt != nil {
		at := store.Now(*p.ExpiresAt)
		p.ExpiresAt = &at
	}
	p.Version++
	return p
}

// effects is what a payment that has just moved to status writes besides the move: the capture
// journal and settlement marker (succeeded), the daily cap's room back (failed, closed) and the
// merchant's notification (its URL left empty for the merchant's default).
func effects(p paygw.Payment, status paygw.PaymentStatus, now time.Time) (store.PaymentWriteSet, error) {
	var ws store.PaymentWriteSet
	var event string
	switch status {
	case paygw.PaymentSucceeded:
		j, err := ledger.Capture(p.ID, p.Channel, p.MerchantID, p.Currency, p.Amount)
		if err != nil {
			return ws, err
		}
		ws.Journal = &j
		ws.Settle = &store.SettlePending{Kind: "payment", MerchantID: p.MerchantID, BusinessDate: p.BusinessDate,
			ObjectID: p.ID, OutNo: p.OutTradeNo, Currency: string(p.Currency), Amount: p.Amount, DoneAt: *p.PaidAt}
		event = paygw.EventPaymentSucceeded
	case paygw.PaymentFailed, paygw.PaymentClosed:
		ws.ReleaseCap = &store.CapRelease{PaymentID: p.ID, MerchantID: p.MerchantID, Currency: string(p.Currency), Amount: p.Amount}
		event = paygw.EventPaymentFailed
		if status == paygw.PaymentClosed {
			event = paygw.EventPaymentClosed
		}
	}
	if event != "" {
		n, err := notification(p.MerchantID, p.NotifyURL, p.ID, "", event, api.FromPayment(p), now)
		if err != nil {
			return ws, err
		}
		ws.Notification = &n
	}
	return ws, nil
}

// notification is the outbox row of an event, with the body frozen now. An empty URL means the
// merchant's default notify URL.
func notification(merchantID, url, paymentID, refundID, event string, data any, now time.Time) (paygw.Notification, error) {
	id := paygw.NewID("evt")
	body, err := api.NewEvent(id, event, now, data)
	if err != nil {
		return paygw.Notification{}, err
	}
	return paygw.Notification{
		ID: id, MerchantID: merchantID, PaymentID: paymentID, RefundID: refundID, Type: event, URL: url,
		Body: body, Status: paygw.NotificationPending, NextAttemptAt: store.Now(now), CreatedAt: store.Now(now),
	}, nil
}

// ApplyRefund finishes a processing refund. Succeeded: the payment's refunded amount and status
// move, the refund journal is posted and refund.succeeded is queued, all in one transaction.
// Failed: the reserved amount is released and refund.failed is queued. A duplicate outcome
// changes nothing.
func ApplyRefund(ctx context.Context, s *store.Store, id string, o Refund, now time.Time, loc *time.Location) (r paygw.Refund, changed bool, err error) {
	err = s.Transact(ctx, func(tx *store.Tx) error {
		r, changed, err = ApplyRefundTx(ctx, tx, id, o, now, loc)
		return err
	})
	return r, changed, err
}

// ApplyRefundTx is ApplyRefund inside the caller's transaction.
func ApplyRefundTx(ctx context.Context, tx *store.Tx, id string, o Refund, now time.Time, loc *time.Location) (paygw.Refund, bool, error) {
	r, err := tx.LockRefund(ctx, id)
	if err != nil {
		return r, false, err
	}
	if !r.Status.CanTransition(o.Status) {
		return r, false, nil
	}
	p, err := tx.LockPayment(ctx, r.PaymentID)
	if err != nil {
		return r, false, err
	}
	r.Status = o.Status
	r.UpdatedAt = store.Now(now)
	r.NextQueryAt = nil
	if o.ChannelRefundNo != "" {
		r.ChannelRefundNo = o.ChannelRefundNo
	}
	if o.Status == paygw.RefundSucceeded {
		at := o.SucceededAt
		if at.IsZero() {
			at = now
		}
		at = store.Now(at)
		r.SucceededAt = &at
		r.BusinessDate = paygw.BusinessDate(at, loc)
	} else {
		r.FailReason = o.FailReason
	}
	if err := tx.FinishRefund(ctx, r); err != nil {
		return r, false, err
	}
	event := paygw.EventRefundFailed
	if o.Status == paygw.RefundSucceeded {
		refunded, err := money.Add(p.RefundedAmount, r.Amount)
		if err != nil || refunded > p.Amount {
			// The reservation makes this impossible; refuse rather than post a wrong journal.
			return r, false, fmt.Errorf("refund %s: refunded total %d + %d exceeds payment %s amount %d: %w",
				r.ID, p.RefundedAmount, r.Amount, p.ID, p.Amount, store.ErrRefundExceeds)
		}
		status := paygw.PaymentPartiallyRefunded
		if refunded == p.Amount {
			status = paygw.PaymentRefunded
		}
		if err := paygw.CheckPaymentTransition(p.Status, status); err != nil {
			return r, false, err
		}
		if err := tx.SetPaymentRefunded(ctx, p.ID, refunded, status, now); err != nil {
			return r, false, err
		}
		j, err := ledger.Refund(r.ID, r.Channel, r.MerchantID, r.Currency, r.Amount)
		if err != nil {
			return r, false, err
		}
		if err := tx.PostJournal(ctx, j, now); err != nil {
			return r, false, err
		}
		if err := tx.PendSettlement(ctx, store.SettlePending{Kind: "refund", MerchantID: r.MerchantID, BusinessDate: r.BusinessDate,
			ObjectID: r.ID, OutNo: r.OutRefundNo, Currency: string(r.Currency), Amount: r.Amount, DoneAt: *r.SucceededAt}); err != nil {
			return r, false, err
		}
		event = paygw.EventRefundSucceeded
	} else if err := tx.ReleaseRefundReservation(ctx, p.ID, r.Amount, now); err != nil {
		return r, false, err
	}
	url := r.NotifyURL
	if url == "" {
		url = p.NotifyURL
	}
	n, err := notification(r.MerchantID, url, r.PaymentID, r.ID, event, api.FromRefund(r), now)
	if err != nil {
		return r, false, err
	}
	if err := tx.QueueNotification(ctx, n); err != nil {
		return r, false, err
	}
	return r, true, nil
}
