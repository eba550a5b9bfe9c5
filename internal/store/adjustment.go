package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// reconAdjustmentRow is a recon_adjustments row (migration 0016).
type reconAdjustmentRow struct {
	ID           string         `db:"id"`
	ItemID       int64          `db:"item_id"`
	Kind         string         `db:"kind"`
	ObjectKind   string         `db:"object_kind"`
	ObjectID     string         `db:"object_id"`
	PaymentID    string         `db:"payment_id"`
	OutNo        string         `db:"out_no"`
	MerchantID   string         `db:"merchant_id"`
	Channel      string         `db:"channel"`
	Currency     string         `db:"currency"`
	BusinessDate string         `db:"business_date"`
	Seq          int64          `db:"seq"`
	Amount       int64          `db:"amount"`
	BatchID      sql.NullString `db:"batch_id"`
	CreatedBy    string         `db:"created_by"`
	CreatedAt    time.Time      `db:"created_at"`
}

func (a *reconAdjustmentRow) domain() paygw.ReconAdjustment {
	return paygw.ReconAdjustment{ID: a.ID, ItemID: a.ItemID, Kind: paygw.AdjustKind(a.Kind), ObjectKind: paygw.ObjectKind(a.ObjectKind),
		ObjectID: a.ObjectID, PaymentID: a.PaymentID, OutNo: a.OutNo, MerchantID: a.MerchantID, Channel: a.Channel,
		Currency: a.Currency, BusinessDate: a.BusinessDate, Seq: a.Seq, Amount: a.Amount, BatchID: a.BatchID.String,
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt.UTC()}
}

const adjustmentCols = `id, item_id, kind, object_kind, object_id, payment_id, out_no, merchant_id, channel, currency,
	business_date, seq, amount, batch_id, created_by, created_at`

// ErrAlreadyAdjusted is returned by InsertReconAdjustment when another resolution posted the
// same object's adjustment number (a race: re-read and decide again) or the item posted one.
var ErrAlreadyAdjusted = errors.New("store: another resolution adjusted this transaction first")

// InsertReconAdjustment records an adjustment in the transaction; the unique keys refuse a
// second row with the same object, kind and seq, or the same item, with ErrAlreadyAdjusted.
func (t *Tx) InsertReconAdjustment(ctx context.Context, a paygw.ReconAdjustment) error {
	_, err := exec(ctx, t.tx, t.dialect, `INSERT INTO recon_adjustments (`+adjustmentCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.ItemID, string(a.Kind), string(a.ObjectKind), a.ObjectID, a.PaymentID, a.OutNo, a.MerchantID, a.Channel, a.Currency,
		a.BusinessDate, a.Seq, a.Amount, nullString(a.BatchID), a.CreatedBy, Now(a.CreatedAt))
	if err != nil {
		if IsUnique(err) {
			return fmt.Errorf("insert adjustment of %s (%s): %w: %w", a.ObjectID, a.Kind, ErrAlreadyAdjusted, err)
		}
		return fmt.Errorf("insert adjustment of %s (%s): %w", a.ObjectID, a.Kind, err)
	}
	return nil
}

// AdjustTarget is what an adjustment needs of the payment or refund it corrects, read inside the
// resolving transaction.
type AdjustTarget struct {
	PaymentID    string
	OutNo        string
	MerchantID   string
	Channel      string
	Currency     string
	Amount       int64
	Status       string
	BusinessDate string // '' until it succeeded
}

type adjustTargetRow struct {
	PaymentID    string         `db:"payment_id"`
	OutNo        string         `db:"out_no"`
	MerchantID   string         `db:"merchant_id"`
	Channel      string         `db:"channel"`
	Currency     string         `db:"currency"`
	Amount       int64          `db:"amount"`
	Status       string         `db:"status"`
	BusinessDate sql.NullString `db:"business_date"`
}

// AdjustTarget reads payment (refund false) or refund id; ErrNotFound when there is none.
func (t *Tx) AdjustTarget(ctx context.Context, refund bool, id string) (AdjustTarget, error) {
	q := `SELECT id AS payment_id, out_trade_no AS out_no, merchant_id, channel, currency, amount, status, business_date
		FROM payments WHERE id = ?`
	if refund {
		q = `SELECT payment_id, out_refund_no AS out_no, merchant_id, channel, currency, amount, status, business_date
			FROM refunds WHERE id = ?`
	}
	var a adjustTargetRow
	if err := get(ctx, t.tx, t.dialect, &a, q, id); err != nil {
		return AdjustTarget{}, fmt.Errorf("adjusted transaction %s: %w", id, err)
	}
	return AdjustTarget{PaymentID: a.PaymentID, OutNo: a.OutNo, MerchantID: a.MerchantID, Channel: a.Channel,
		Currency: a.Currency, Amount: a.Amount, Status: a.Status, BusinessDate: a.BusinessDate.String}, nil
}

// Adjusted returns the sum and number of the adjustments of kind posted for a payment or refund.
func (t *Tx) Adjusted(ctx context.Context, objectID string, kind paygw.AdjustKind) (sum, n int64, err error) {
	var r struct {
		Sum int64 `db:"sum"`
		N   int64 `db:"n"`
	}
	if err := get(ctx, t.tx, t.dialect, &r, `SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS sum, COUNT(*) AS n
		FROM recon_adjustments WHERE object_id = ? AND kind = ?`, objectID, string(kind)); err != nil {
		return 0, 0, fmt.Errorf("adjustments of %s: %w", objectID, err)
	}
	return r.Sum, r.N, nil
}

// ReconAdjustmentsOfItem returns what resolving item posted (at most one row today).
func (s *Store) ReconAdjustmentsOfItem(ctx context.Context, itemID int64) ([]paygw.ReconAdjustment, error) {
	var rows []reconAdjustmentRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT `+adjustmentCols+` FROM recon_adjustments WHERE item_id = ? ORDER BY id`, itemID); err != nil {
		return nil, fmt.Errorf("adjustments of item %d: %w", itemID, err)
	}
	var out []paygw.ReconAdjustment
	for i := range rows {
		out = append(out, rows[i].domain())
	}
	return out, nil
}

// UnsettledAdjustment is an amount adjustment no batch holds yet, and whether its payment or
// refund is settled already (an adjustment is paid with or after its transaction, never before).
type UnsettledAdjustment struct {
	paygw.ReconAdjustment
	ObjectSettled bool
}

type unsettledAdjustmentRow struct {
	reconAdjustmentRow
	ObjectSettled bool `db:"object_settled"`
}

// UnsettledAdjustments returns a merchant's amount adjustments with business date ≤ date that no
// batch holds, oldest first.
func (s *Store) UnsettledAdjustments(ctx context.Context, merchantID, date string) ([]UnsettledAdjustment, error) {
	var rows []unsettledAdjustmentRow
	err := sel(ctx, s.db, s.dialect, &rows, `SELECT a.id, a.item_id, a.kind, a.object_kind, a.object_id, a.payment_id, a.out_no,
			a.merchant_id, a.channel, a.currency, a.business_date, a.seq, a.amount, a.batch_id, a.created_by, a.created_at,
			CASE WHEN EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = a.object_id) THEN 1 ELSE 0 END AS object_settled
		FROM recon_adjustments a
		WHERE a.merchant_id = ? AND a.business_date <= ? AND a.batch_id IS NULL AND a.kind = 'amount'
		ORDER BY a.created_at, a.id`, merchantID, date)
	if err != nil {
		return nil, fmt.Errorf("unsettled adjustments of %s: %w", merchantID, err)
	}
	var out []UnsettledAdjustment
	for i := range rows {
		out = append(out, UnsettledAdjustment{ReconAdjustment: rows[i].domain(), ObjectSettled: rows[i].ObjectSettled})
	}
	return out, nil
}

// SettleAdjustments records adjustment ids as paid in batch batchID, compare-and-set on their
// being unsettled: ErrBatchRace (and the caller's rollback) when another run took one first.
func (t *Tx) SettleAdjustments(ctx context.Context, batchID string, ids []string) error {
	for _, id := range ids {
		n, err := exec(ctx, t.tx, t.dialect, `UPDATE recon_adjustments SET batch_id = ? WHERE id = ? AND batch_id IS NULL AND kind = 'amount'`,
			batchID, id)
		if err != nil {
			return fmt.Errorf("settle adjustment %s in batch %s: %w", id, batchID, err)
		}
		if n != 1 {
			return fmt.Errorf("settle adjustment %s in batch %s: %w", id, batchID, ErrBatchRace)
		}
	}
	return nil
}

// EachBatchAdjustment streams the amount adjustments paid in the given batches to fn, batch by
// batch in the order given.
func (s *Store) EachBatchAdjustment(ctx context.Context, batchIDs []string, fn func(paygw.ReconAdjustment) error) error {
	for _, id := range batchIDs {
		var rows []reconAdjustmentRow
		if err := sel(ctx, s.db, s.dialect, &rows, `SELECT `+adjustmentCols+` FROM recon_adjustments WHERE batch_id = ? ORDER BY object_id, id`, id); err != nil {
			return fmt.Errorf("adjustments of batch %s: %w", id, err)
		}
		for i := range rows {
			if err := fn(rows[i].domain()); err != nil {
				return err
			}
		}
	}
	return nil
}
