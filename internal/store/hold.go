package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// settleHoldRow is a settle_holds row (migration 0009).
type settleHoldRow struct {
	BatchID    string       `db:"batch_id"`
	MerchantID string       `db:"merchant_id"`
	Reason     string       `db:"reason"`
	HeldAt     time.Time    `db:"held_at"`
	ReleasedAt sql.NullTime `db:"released_at"`
	PayoutDate string       `db:"payout_date"`
}

func (h *settleHoldRow) domain() paygw.SettleHold {
	return paygw.SettleHold{BatchID: h.BatchID, MerchantID: h.MerchantID, Reason: h.Reason, HeldAt: h.HeldAt.UTC(),
		ReleasedAt: timePtr(h.ReleasedAt), PayoutDate: h.PayoutDate}
}

// HeldBatch is a hold with its batch.
type HeldBatch struct {
	paygw.SettleHold
	Batch paygw.SettleBatch
}

// HoldBatch keeps batch on hold for reason in the transaction. A batch held, released, or
// already claimed by a payout file is held again (released_at and payout_date cleared): the
// merchant cannot be paid now.
func (t *Tx) HoldBatch(ctx context.Context, batchID, merchantID, reason string, now time.Time) error {
	_, err := exec(ctx, t.tx, t.dialect, `INSERT INTO settle_holds (batch_id, merchant_id, reason, held_at, released_at, payout_date)
		VALUES (?, ?, ?, ?, NULL, '')
		ON CONFLICT (batch_id) DO UPDATE SET reason = excluded.reason, released_at = NULL, payout_date = ''`,
		batchID, merchantID, reason, Now(now))
	if err != nil {
		return fmt.Errorf("hold batch %s: %w", batchID, err)
	}
	return nil
}

// HoldBatch is Tx.HoldBatch in its own transaction.
func (s *Store) HoldBatch(ctx context.Context, batchID, merchantID, reason string, now time.Time) error {
	return s.Transact(ctx, func(tx *Tx) error { return tx.HoldBatch(ctx, batchID, merchantID, reason, now) })
}

// ReleaseHolds lifts every hold of a merchant that is still on, in the transaction, and
// returns how many: the batches then wait for the next payout file.
func (t *Tx) ReleaseHolds(ctx context.Context, merchantID string, now time.Time) (int64, error) {
	n, err := exec(ctx, t.tx, t.dialect, `UPDATE settle_holds SET released_at = ? WHERE merchant_id = ? AND released_at IS NULL`,
		Now(now), merchantID)
	if err != nil {
		return 0, fmt.Errorf("release holds of %s: %w", merchantID, err)
	}
	return n, nil
}

// ClaimHold puts a batch whose hold is lifted (or lifted now) into the payout file of date,
// compare-and-set on payout_date: it reports false when another payout file claimed it first
// or the hold is gone.
func (s *Store) ClaimHold(ctx context.Context, batchID, date string, now time.Time) (bool, error) {
	n, err := exec(ctx, s.db, s.dialect, `UPDATE settle_holds SET released_at = COALESCE(released_at, ?), payout_date = ?
		WHERE batch_id = ? AND payout_date = ''`, Now(now), date, batchID)
	if err != nil {
		return false, fmt.Errorf("claim held batch %s for %s: %w", batchID, date, err)
	}
	return n == 1, nil
}

// PayoutHolds returns the holds a payout file of date has to consider: every hold still on,
// every released hold no payout file carries yet, those claimed by date and those of date's
// own batches, each with its batch, by merchant, currency and batch date.
func (s *Store) PayoutHolds(ctx context.Context, date string) ([]HeldBatch, error) {
	const which = `released_at IS NULL OR payout_date = '' OR payout_date = ?
		OR batch_id IN (SELECT id FROM settle_batches WHERE date = ?)`
	var hs []settleHoldRow
	if err := sel(ctx, s.db, s.dialect, &hs, `SELECT batch_id, merchant_id, reason, held_at, released_at, payout_date
		FROM settle_holds WHERE `+which, date, date); err != nil {
		return nil, fmt.Errorf("held batches for the payout of %s: %w", date, err)
	}
	var bs []settleBatchRow
	if err := sel(ctx, s.db, s.dialect, &bs, `SELECT `+batchCols+` FROM settle_batches
		WHERE id IN (SELECT batch_id FROM settle_holds WHERE `+which+`)`, date, date); err != nil {
		return nil, fmt.Errorf("held batches for the payout of %s: %w", date, err)
	}
	byID := make(map[string]paygw.SettleBatch, len(bs))
	for _, b := range settleBatches(bs) {
		byID[b.ID] = b
	}
	out := make([]HeldBatch, 0, len(hs))
	for _, h := range hs {
		b, ok := byID[h.BatchID]
		if !ok {
			continue // a hold written after the batch read: the next payout file sees it
		}
		out = append(out, HeldBatch{SettleHold: h.domain(), Batch: b})
	}
	slices.SortFunc(out, func(a, b HeldBatch) int {
		return cmp.Or(cmp.Compare(a.Batch.MerchantID, b.Batch.MerchantID), cmp.Compare(a.Batch.Currency, b.Batch.Currency),
			cmp.Compare(a.Batch.Date, b.Batch.Date))
	})
	return out, nil
}

// HeldBack is what settlement left out of a merchant's batches up to a date, grouped by
// merchant, currency, kind and reason.
type HeldBack struct {
	MerchantID string `db:"merchant_id"`
	Currency   string `db:"currency"`
	Kind       string `db:"kind"` // payment | refund
	Reason     string `db:"reason"`
	Count      int64  `db:"n"`
	Amount     int64  `db:"amount"`
}

// Reasons of HeldBack.
const (
	HeldOpenDiscrepancy   = "open_discrepancy"    // an open reconciliation discrepancy names it
	HeldNotReconciled     = "not_reconciled"      // require_reconciled and no statement confirmed it
	HeldPaymentNotSettled = "payment_not_settled" // a refund waits for its payment's batch
	HeldAfterBatch        = "after_batch"         // became settleable after the date's batch was written
)

// HeldBackOn returns the succeeded payments and refunds with business date ≤ date that no batch
// holds (settle_pending), with why each is left out: an open discrepancy first, then (when
// reconciled is required) no reconciliation, then a refund whose payment is unsettled, else it
// arrived after the merchant's batch of the date. merchantID "" is every merchant. Objects in
// exclude (a dry run's planned items) are left out.
func (s *Store) HeldBackOn(ctx context.Context, date, merchantID string, reconciled bool, exclude map[string]bool) ([]HeldBack, error) {
	req := 0
	if reconciled {
		req = 1
	}
	where, args := "sp.business_date <= ?", []any{req, date}
	if merchantID != "" {
		where += " AND sp.merchant_id = ?"
		args = append(args, merchantID)
	}
	inner := `SELECT sp.merchant_id, sp.currency, sp.kind, sp.amount, sp.object_id,
			CASE
				WHEN EXISTS (SELECT 1 FROM recon_items ri WHERE ri.payment_id = sp.object_id AND ri.kind = 'payment' AND ri.state = 'open')
					OR EXISTS (SELECT 1 FROM recon_items ri WHERE ri.refund_id = sp.object_id AND ri.state = 'open') THEN '` + HeldOpenDiscrepancy + `'
				WHEN ? = 1 AND NOT EXISTS (SELECT 1 FROM recon_matches m WHERE m.object_id = sp.object_id) THEN '` + HeldNotReconciled + `'
				WHEN sp.kind = 'refund' AND NOT EXISTS (SELECT 1 FROM refunds r JOIN settle_items i ON i.object_id = r.payment_id
					WHERE r.id = sp.object_id) THEN '` + HeldPaymentNotSettled + `'
				ELSE '` + HeldAfterBatch + `'
			END AS reason
			FROM settle_pending sp WHERE ` + where
	out := []HeldBack{}
	if len(exclude) == 0 {
		err := sel(ctx, s.db, s.dialect, &out, `SELECT t.merchant_id, t.currency, t.kind, t.reason,
				CAST(COUNT(*) AS BIGINT) AS n, CAST(SUM(t.amount) AS BIGINT) AS amount
			FROM (`+inner+`) t
			GROUP BY t.merchant_id, t.currency, t.kind, t.reason
			ORDER BY t.merchant_id, t.currency, t.kind, t.reason`, args...)
		if err != nil {
			return nil, fmt.Errorf("held back on %s: %w", date, err)
		}
		return out, nil
	}
	// A dry run wrote no batch: its planned items are still pending and are left out here.
	var rows []struct {
		HeldBack
		ObjectID string `db:"object_id"`
	}
	err := sel(ctx, s.db, s.dialect, &rows, `SELECT t.merchant_id, t.currency, t.kind, t.reason, t.amount, t.object_id, 1 AS n
		FROM (`+inner+`) t ORDER BY t.merchant_id, t.currency, t.kind, t.reason`, args...)
	if err != nil {
		return nil, fmt.Errorf("held back on %s: %w", date, err)
	}
	for _, r := range rows {
		if exclude[r.ObjectID] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].MerchantID == r.MerchantID && out[n-1].Currency == r.Currency &&
			out[n-1].Kind == r.Kind && out[n-1].Reason == r.Reason {
			out[n-1].Count++
			out[n-1].Amount += r.Amount
			continue
		}
		r.HeldBack.Count = 1
		out = append(out, r.HeldBack)
	}
	return out, nil
}
