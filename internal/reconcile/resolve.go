package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
)

// Accept names the side an operator accepts when resolving an item.
type Accept string

// The sides.
const (
	AcceptChannel Accept = "channel"
	AcceptOurs    Accept = "ours"
)

// ErrCannotApply is returned when accepting the channel's side would need a transition the
// payment state machine does not have (e.g. un-collecting a collected payment).
var ErrCannotApply = errors.New("reconcile: cannot apply the channel's side")

// Resolve records an operator's decision on open item id: who (by), when (now) and why (note).
// Accepting the channel's side of a status mismatch where the channel collected moves paygw's
// payment or refund to succeeded through the normal transition, with its ledger journal and
// merchant notification, in the same transaction (a failed or closed payment as a correction).
// Other resolutions change no payment: they are recorded, and the internal side is marked
// reconciled so that settlement takes it.
func Resolve(ctx context.Context, s *store.Store, id int64, accept Accept, note, by string, now time.Time, loc *time.Location) (store.ReconItem, error) {
	if accept != AcceptChannel && accept != AcceptOurs {
		return store.ReconItem{}, fmt.Errorf("accept %q: want channel or ours", accept)
	}
	if note == "" || by == "" {
		return store.ReconItem{}, errors.New("a resolution needs a note and who made it")
	}
	it, err := s.GetReconItem(ctx, id)
	if err != nil {
		return it, err
	}
	resolution := store.ReconAcceptOurs
	if accept == AcceptChannel {
		resolution = store.ReconAcceptChannel
	}
	reconcile := store.ResolutionReconciles(resolution, it.Class)
	var apply func(tx *store.Tx, it store.ReconItem) error
	if accept == AcceptChannel && it.Class == string(StatusMismatch) {
		if it.ChannelStatus != statement.StatusSucceeded {
			return it, fmt.Errorf("item %d: %w: the channel did not collect (%s) but paygw did (%s); refund it, or accept ours",
				id, ErrCannotApply, it.ChannelStatus, it.InternalStatus)
		}
		at := now
		if it.TradeTime.Valid {
			at = it.TradeTime.Time
		}
		apply = func(tx *store.Tx, it store.ReconItem) error {
			if it.Kind == string(KindRefund) {
				_, changed, err := tx.ApplyRefundOutcome(ctx, it.RefundID, store.RefundOutcome{Status: paygw.RefundSucceeded,
					ChannelRefundNo: it.ChannelRefundNo, SucceededAt: at}, now, loc)
				if err == nil && !changed {
					err = fmt.Errorf("%w: refund %s cannot move from %s to succeeded", ErrCannotApply, it.RefundID, it.InternalStatus)
				}
				return err
			}
			ours := paygw.PaymentStatus(it.InternalStatus)
			_, changed, err := tx.ApplyPaymentOutcome(ctx, it.PaymentID, store.PaymentOutcome{Status: paygw.PaymentSucceeded,
				ChannelTradeNo: it.ChannelTradeNo, PaidAt: at,
				Correction: ours == paygw.PaymentFailed || ours == paygw.PaymentClosed}, now, loc)
			if err == nil && !changed {
				err = fmt.Errorf("%w: payment %s cannot move from %s to succeeded", ErrCannotApply, it.PaymentID, it.InternalStatus)
			}
			return err
		}
	}
	return s.ResolveReconItem(ctx, id, resolution, by, note, reconcile, now, apply)
}
