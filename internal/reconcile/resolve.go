package reconcile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/money"
	finish "github.com/paygw/paygw/internal/outcome" // the test package has its own outcome type
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
// Accepting the channel's side
//   - of a status mismatch where the channel collected moves paygw's payment or refund to
//     succeeded through the normal transition, with its ledger journal and merchant
//     notification, in the same transaction (a failed or closed payment as a correction);
//   - of an amount mismatch posts the difference (an amount_adjustment journal between the
//     channel's receivable and the merchant's pending account, and a recon_adjustments row that
//     the merchant's next settlement pays exactly once), less what earlier adjustments of the
//     same transaction posted;
//   - of a fee mismatch posts the fee difference to the channel's fee cost (fee_adjustment
//     journal); what the merchant is paid does not change;
//   - of a missing_channel item (the channel never collected) is refused with ErrCannotApply:
//     paygw has no transition that un-collects a succeeded payment.
//
// Accepting ours moves no money. Either way the decision is recorded and the internal side is
// marked reconciled so that settlement takes it.
func Resolve(ctx context.Context, s *store.Store, id int64, accept Accept, note, by string, now time.Time, loc *time.Location) (paygw.ReconItem, error) {
	if accept != AcceptChannel && accept != AcceptOurs {
		return paygw.ReconItem{}, fmt.Errorf("accept %q: want channel or ours", accept)
	}
	if note == "" || by == "" {
		return paygw.ReconItem{}, errors.New("a resolution needs a note and who made it")
	}
	it, err := s.GetReconItem(ctx, id)
	if err != nil {
		return it, err
	}
	resolution := paygw.ReconAcceptOurs
	if accept == AcceptChannel {
		resolution = paygw.ReconAcceptChannel
	}
	reconcile := ResolutionReconciles(resolution, it.Class)
	var apply func(tx *store.Tx, it paygw.ReconItem) error
	switch {
	case accept != AcceptChannel:
	case it.Class == MissingChannel:
		what := "payment " + it.PaymentID
		if it.Kind == KindRefund {
			what = "refund " + it.RefundID
		}
		return it, fmt.Errorf("item %d: %w: the channel never collected %s (missing_channel) and paygw does not un-collect a succeeded "+
			"transaction; re-run reconcile when the channel's corrected bill arrives, or refund it, or accept ours (a claim against the channel)",
			id, ErrCannotApply, what)
	case it.Class == AmountMismatch || it.Class == FeeMismatch:
		adj, err := adjustment(it, by, now)
		if err != nil {
			return it, fmt.Errorf("item %d: %w", id, err)
		}
		apply = func(tx *store.Tx, it paygw.ReconItem) error { return postAdjustment(ctx, tx, it, adj) }
	}
	if accept == AcceptChannel && it.Class == StatusMismatch {
		if it.ChannelStatus != statement.StatusSucceeded {
			return it, fmt.Errorf("item %d: %w: the channel did not collect (%s) but paygw did (%s); refund it, or accept ours",
				id, ErrCannotApply, it.ChannelStatus, it.InternalStatus)
		}
		at := now
		if it.TradeTime != nil {
			at = *it.TradeTime
		}
		apply = func(tx *store.Tx, it paygw.ReconItem) error {
			if it.Kind == KindRefund {
				_, changed, err := finish.ApplyRefundTx(ctx, tx, it.RefundID, finish.Refund{Status: paygw.RefundSucceeded,
					ChannelRefundNo: it.ChannelRefundNo, SucceededAt: at}, now, loc)
				if err == nil && !changed {
					err = fmt.Errorf("%w: refund %s cannot move from %s to succeeded", ErrCannotApply, it.RefundID, it.InternalStatus)
				}
				return err
			}
			ours := paygw.PaymentStatus(it.InternalStatus)
			_, changed, err := finish.ApplyPaymentTx(ctx, tx, it.PaymentID, finish.Payment{Status: paygw.PaymentSucceeded,
				ChannelTradeNo: it.ChannelTradeNo, PaidAt: at,
				Correction: ours == paygw.PaymentFailed || ours == paygw.PaymentClosed}, now, loc)
			if err == nil && !changed {
				err = fmt.Errorf("%w: payment %s cannot move from %s to succeeded", ErrCannotApply, it.PaymentID, it.InternalStatus)
			}
			return err
		}
	}
	return s.ResolveReconItem(ctx, id, resolution, by, note, now, func(tx *store.Tx, it paygw.ReconItem) error {
		if apply != nil {
			if err := apply(tx, it); err != nil {
				return err
			}
		}
		if reconcile && HasInternal(&it) {
			return tx.MarkReconciled(ctx, it.RunID, refOf(&it), now)
		}
		return nil
	})
}

// MaxAcceptedAmount bounds the amounts and fees an accepted side may carry: the product's
// per-transaction maximum, so that no difference, balance or batch built from them can overflow.
const MaxAcceptedAmount = money.MaxAmount

// currencyNote finds the currencies in an amount mismatch's note ("channel 1.00 CNY, paygw 1.00
// USD"): a currency mismatch has no difference to post.
var currencyNote = regexp.MustCompile(`channel -?[0-9.,]+ ([A-Z]{3}), paygw -?[0-9.,]+ ([A-Z]{3})`)

// adjustment computes what accepting the channel's side of an amount or fee mismatch posts,
// without reading the database: the signed difference (checked arithmetic) and its kind.
func adjustment(it paygw.ReconItem, by string, now time.Time) (paygw.ReconAdjustment, error) {
	a := paygw.ReconAdjustment{ID: paygw.NewID("adj"), ItemID: it.ID, ObjectKind: it.Kind, ObjectID: it.PaymentID,
		PaymentID: it.PaymentID, MerchantID: it.MerchantID, Channel: it.Channel, Currency: it.Currency, CreatedBy: by, CreatedAt: now}
	refund := it.Kind == KindRefund
	if refund {
		a.ObjectID = it.RefundID
	}
	if a.ObjectID == "" || !money.Currency(it.Currency).Valid() {
		return a, fmt.Errorf("%w: the item names no transaction of paygw or no valid currency", ErrCannotApply)
	}
	var ours, theirs int64
	if it.Class == AmountMismatch {
		a.Kind = paygw.AdjustAmount
		if m := currencyNote.FindStringSubmatch(it.Note); m != nil && m[1] != m[2] {
			return a, fmt.Errorf("%w: the channel's currency %s is not paygw's %s; nothing can be posted as a difference", ErrCannotApply, m[1], m[2])
		}
		if it.ChannelAmount <= 0 || it.ChannelAmount > MaxAcceptedAmount {
			return a, fmt.Errorf("%w: the channel's amount %d is outside 1..%d", ErrCannotApply, it.ChannelAmount, MaxAcceptedAmount)
		}
		ours, theirs = it.InternalAmount, it.ChannelAmount
	} else {
		a.Kind = paygw.AdjustFee
		if it.ChannelFee < 0 || it.ChannelFee > MaxAcceptedAmount {
			return a, fmt.Errorf("%w: the channel's fee %d is outside 0..%d", ErrCannotApply, it.ChannelFee, MaxAcceptedAmount)
		}
		ours, theirs = it.InternalFee, it.ChannelFee
	}
	if ours < 0 || ours > MaxAcceptedAmount {
		return a, fmt.Errorf("%w: paygw's side %d is outside 0..%d", ErrCannotApply, ours, MaxAcceptedAmount)
	}
	// The difference for the merchant (amount) or for our fee cost (fee): a refund's amount and
	// a refund's (returned) fee count the other way round.
	d, err := money.Add(theirs, -ours)
	if refund && err == nil {
		d, err = money.Add(0, -d)
	}
	if err != nil {
		return a, fmt.Errorf("%w: difference of %d and %d: %w", ErrCannotApply, theirs, ours, err)
	}
	if d == 0 {
		return a, fmt.Errorf("%w: no difference to post", ErrCannotApply)
	}
	a.Amount = d
	return a, nil
}

// postAdjustment writes the adjustment and its journal in the resolving transaction, after
// checking the transaction it corrects: still collected, same merchant and currency, and (for a
// refund's amount) not beyond its payment. What earlier adjustments of the transaction posted
// counts: only the rest is posted, nothing when it is all there.
func postAdjustment(ctx context.Context, tx *store.Tx, it paygw.ReconItem, a paygw.ReconAdjustment) error {
	refund := a.ObjectKind == KindRefund
	t, err := tx.AdjustTarget(ctx, refund, a.ObjectID)
	if err != nil {
		return err
	}
	collected := t.Status == string(paygw.RefundSucceeded)
	if !refund {
		collected = paygw.PaymentStatus(t.Status).Paid()
	}
	if !collected || t.BusinessDate == "" {
		return fmt.Errorf("%w: %s %s is %s, not collected; there is nothing to adjust", ErrCannotApply, a.ObjectKind, a.ObjectID, t.Status)
	}
	if t.MerchantID != a.MerchantID || t.Currency != a.Currency || t.Amount != it.InternalAmount {
		return fmt.Errorf("%w: %s %s changed since the run (merchant %s, %s %d)", ErrCannotApply, a.ObjectKind, a.ObjectID,
			t.MerchantID, t.Currency, t.Amount)
	}
	if refund && a.Kind == paygw.AdjustAmount {
		p, err := tx.AdjustTarget(ctx, false, t.PaymentID)
		if err != nil {
			return err
		}
		if it.ChannelAmount > p.Amount {
			return fmt.Errorf("%w: the channel's refund %d exceeds payment %s's amount %d", ErrCannotApply, it.ChannelAmount, p.PaymentID, p.Amount)
		}
	}
	a.PaymentID, a.OutNo, a.Channel, a.BusinessDate = t.PaymentID, t.OutNo, t.Channel, t.BusinessDate
	// a.Amount is the whole accepted difference; post only what earlier adjustments of the same
	// transaction (a resolved item of an earlier run of the date) lack.
	sum, n, err := tx.Adjusted(ctx, a.ObjectID, a.Kind)
	if err != nil {
		return err
	}
	if sum == a.Amount {
		return nil // already posted in full
	}
	if sum == minInt64 {
		return fmt.Errorf("%w: adjustments of %s sum to %d", ErrCannotApply, a.ObjectID, sum)
	}
	if a.Amount, err = money.Add(a.Amount, -sum); err != nil {
		return fmt.Errorf("%w: difference %d after %d posted: %w", ErrCannotApply, a.Amount, sum, err)
	}
	a.Seq = n + 1
	cur := money.Currency(a.Currency)
	var j ledger.Journal
	if a.Kind == paygw.AdjustAmount {
		j, err = ledger.AmountAdjustment(a.ID, a.Channel, a.MerchantID, cur, a.Amount)
	} else {
		j, err = ledger.FeeAdjustment(a.ID, a.Channel, cur, a.Amount)
	}
	if err != nil {
		return err
	}
	if err := tx.InsertReconAdjustment(ctx, a); err != nil {
		return err
	}
	if err := tx.PostJournal(ctx, j, a.CreatedAt); err != nil {
		if store.IsUnique(err) {
			return fmt.Errorf("%w: %w", store.ErrAlreadyAdjusted, err)
		}
		return err
	}
	return nil
}

const minInt64 = -1 << 63
