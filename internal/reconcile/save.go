package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// HasInternal reports whether an item names one of paygw's payments or refunds: every class
// but missing_internal and duplicate (statement rows paygw has nothing for).
func HasInternal(it *paygw.ReconItem) bool {
	return it.Class != MissingInternal && it.Class != Duplicate
}

// ResolutionReconciles reports whether resolving an item of class with resolution makes its
// transaction reconciled (eligible for settlement). Accepting the channel's side of a
// missing_channel item (短款: the channel never collected) does not: the money was not received,
// so it must never be paid out. Resolve and a re-run carrying a resolution over both use it.
func ResolutionReconciles(resolution paygw.ReconResolution, class paygw.ReconClass) bool {
	return !(resolution == paygw.ReconAcceptChannel && class == MissingChannel)
}

// sameAs is the identity under which a resolution carries over to a re-run's item: the same
// class, transaction, numbers and statuses on both sides.
func sameAs(it *paygw.ReconItem) string {
	return strings.Join([]string{string(it.Class), string(it.Kind), it.PaymentID, it.RefundID, it.ChannelTradeNo, it.ChannelRefundNo,
		strconv.FormatInt(it.InternalAmount, 10), strconv.FormatInt(it.ChannelAmount, 10),
		strconv.FormatInt(it.ChannelFee, 10), it.ChannelStatus, it.InternalStatus}, "\x00")
}

// refOf names an item's payment or refund.
func refOf(it *paygw.ReconItem) store.ReconRef {
	return store.ReconRef{Refund: it.Kind == KindRefund, ID: it.InternalID()}
}

// Stored is what one run stores.
type Stored struct {
	Run paygw.ReconRun
	// Each yields, in one pass, the discrepancies (every class but matched) to item and the
	// payments and refunds matched (and collected) to matched: those are marked reconciled. It is
	// called once per transaction attempt.
	Each func(item func(paygw.ReconItem) error, matched func(store.ReconRef) error) error
	// Turned, called after Each, names the payments and refunds whose open pending items of
	// other dates this run settles.
	Turned func() []store.ReconRef
}

// Save stores a run in one transaction: the date's previous current run becomes superseded and
// its open items are replaced; the new run and its items are inserted (an item identical to one
// resolved in the previous run keeps that resolution); matched transactions are marked
// reconciled and the internal side of every open discrepancy is unmarked; open pending items of
// other dates named in Turned are resolved automatically. Either all of it is stored or nothing.
func Save(ctx context.Context, s *store.Store, res Stored, now time.Time) error {
	now = store.Now(now)
	run := res.Run
	run.Status = paygw.ReconRunCurrent
	err := s.Transact(ctx, func(tx *store.Tx) error {
		prev, err := tx.ResolvedReconItems(ctx, run.Channel, run.BusinessDate)
		if err != nil {
			return err
		}
		carried := make(map[string]paygw.ReconItem, len(prev))
		for i := range prev {
			carried[sameAs(&prev[i])] = prev[i]
		}
		if err := tx.SupersedeReconRun(ctx, run.Channel, run.BusinessDate); err != nil {
			return err
		}
		if err := tx.InsertReconRun(ctx, run); err != nil {
			return err
		}
		w := tx.NewReconWriter(ctx, run.ID, now)
		if res.Each != nil {
			err := res.Each(func(it paygw.ReconItem) error {
				it.RunID, it.Channel, it.BusinessDate = run.ID, run.Channel, run.BusinessDate
				it.State, it.Resolution, it.ResolvedBy, it.ResolutionNote, it.ResolvedAt = paygw.ReconItemOpen, "", "", "", nil
				if p, ok := carried[sameAs(&it)]; ok {
					it.State, it.Resolution, it.ResolvedBy, it.ResolvedAt = paygw.ReconItemResolved, p.Resolution, p.ResolvedBy, p.ResolvedAt
					it.ResolutionNote = fmt.Sprintf("%s (carried over from item %d)", p.ResolutionNote, p.ID)
				}
				if HasInternal(&it) {
					// An open discrepancy unmarks its transaction; a carried resolution marks it
					// when that resolution reconciles.
					on := it.State == paygw.ReconItemResolved && ResolutionReconciles(it.Resolution, it.Class)
					if err := w.Mark(refOf(&it), on); err != nil {
						return err
					}
				}
				return w.Item(it)
			}, func(r store.ReconRef) error { return w.Mark(r, true) })
			if err != nil {
				return err
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if res.Turned == nil {
			return nil
		}
		note := fmt.Sprintf("re-checked by run %s of %s", run.ID, run.BusinessDate)
		return tx.ResolveOpenReconItems(ctx, run.Channel, run.BusinessDate, Pending, res.Turned(), paygw.ReconAuto, "reconcile", note, now)
	})
	if err != nil {
		return fmt.Errorf("save reconciliation run %s: %w", run.ID, err)
	}
	return nil
}
