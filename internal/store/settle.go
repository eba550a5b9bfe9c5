package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// SettleMerchant is what settlement needs of a merchant: its id, name and fee plan (the bank
// account is decrypted only for the payout file, by GetMerchant).
type SettleMerchant struct {
	ID         string
	Name       string
	FeePlan    paygw.FeePlan
	Status     string // active | suspended
	HasAccount bool   // a bank account number is on file
}

type settleMerchantRow struct {
	ID         string        `db:"id"`
	Name       string        `db:"name"`
	FeeRateBps int64         `db:"fee_rate_bps"`
	FeeFixed   int64         `db:"fee_fixed"`
	FeeMin     sql.NullInt64 `db:"fee_min"`
	FeeMax     sql.NullInt64 `db:"fee_max"`
	Status     string        `db:"status"`
	HasAccount bool          `db:"has_account"`
}

// SettleMerchants lists every merchant by id, for a settlement run to shard and walk.
func (s *Store) SettleMerchants(ctx context.Context) ([]SettleMerchant, error) {
	var rows []settleMerchantRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT id, name, fee_rate_bps, fee_fixed, fee_min, fee_max, status,
		CASE WHEN bank_account_enc <> '' THEN 1 = 1 ELSE 1 = 0 END AS has_account FROM merchants ORDER BY id`); err != nil {
		return nil, fmt.Errorf("settle merchants: %w", err)
	}
	out := make([]SettleMerchant, 0, len(rows))
	for _, r := range rows {
		out = append(out, SettleMerchant{ID: r.ID, Name: r.Name, Status: r.Status, HasAccount: r.HasAccount,
			FeePlan: paygw.FeePlan{RateBps: r.FeeRateBps, Fixed: r.FeeFixed, Min: intPtr(r.FeeMin), Max: intPtr(r.FeeMax)}})
	}
	return out, nil
}

// settleBatchRow is a settle_batches row.
type settleBatchRow struct {
	ID          string       `db:"id"`
	MerchantID  string       `db:"merchant_id"`
	Currency    string       `db:"currency"`
	Date        string       `db:"date"`
	PrevBatchID string       `db:"prev_batch_id"` // '' for the merchant's first batch in the currency
	Payments    int64        `db:"payments"`
	Refunds     int64        `db:"refunds"`
	Gross       int64        `db:"gross"`
	Refunded    int64        `db:"refunded"`
	Fee         int64        `db:"fee"`
	CarriedIn   int64        `db:"carried_in"`
	Net         int64        `db:"net"`
	Status      string       `db:"status"`
	BankRef     string       `db:"bank_ref"`
	PaidAt      sql.NullTime `db:"paid_at"`
	CreatedAt   time.Time    `db:"created_at"`
	UpdatedAt   time.Time    `db:"updated_at"`
}

const batchCols = `id, merchant_id, currency, date, prev_batch_id, payments, refunds, gross, refunded, fee,
	carried_in, net, status, bank_ref, paid_at, created_at, updated_at`

func (b *settleBatchRow) domain() paygw.SettleBatch {
	return paygw.SettleBatch{ID: b.ID, MerchantID: b.MerchantID, Currency: b.Currency, Date: b.Date, PrevBatchID: b.PrevBatchID,
		Payments: b.Payments, Refunds: b.Refunds, Gross: b.Gross, Refunded: b.Refunded, Fee: b.Fee, CarriedIn: b.CarriedIn,
		Net: b.Net, Status: paygw.SettleStatus(b.Status), BankRef: b.BankRef, PaidAt: timePtr(b.PaidAt),
		CreatedAt: b.CreatedAt.UTC(), UpdatedAt: b.UpdatedAt.UTC()}
}

func settleBatches(rows []settleBatchRow) []paygw.SettleBatch {
	if rows == nil {
		return nil
	}
	out := make([]paygw.SettleBatch, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out
}

// MerchantBatchState returns a merchant's batches on date and, per currency, its latest batch
// (the one a new batch chains to and takes its carried-in amount from).
func (s *Store) MerchantBatchState(ctx context.Context, merchantID, date string) (onDate []paygw.SettleBatch, latest map[string]paygw.SettleBatch, err error) {
	var rows []settleBatchRow
	err = sel(ctx, s.db, s.dialect, &rows, `SELECT `+batchCols+` FROM settle_batches b
		WHERE merchant_id = ? AND (date = ? OR date = (SELECT MAX(date) FROM settle_batches x
			WHERE x.merchant_id = b.merchant_id AND x.currency = b.currency))
		ORDER BY currency, date`, merchantID, date)
	if err != nil {
		return nil, nil, fmt.Errorf("batches of merchant %s: %w", merchantID, err)
	}
	latest = map[string]paygw.SettleBatch{}
	for _, b := range settleBatches(rows) {
		if b.Date == date {
			onDate = append(onDate, b)
		}
		if l, ok := latest[b.Currency]; !ok || b.Date > l.Date {
			latest[b.Currency] = b
		}
	}
	return onDate, latest, nil
}

// UnsettledPayment is a succeeded payment not in any batch.
type UnsettledPayment struct {
	ID           string
	OutTradeNo   string
	Currency     string
	Amount       int64
	BusinessDate string
	PaidAt       time.Time
}

type unsettledPaymentRow struct {
	ID           string    `db:"id"`
	OutTradeNo   string    `db:"out_trade_no"`
	Currency     string    `db:"currency"`
	Amount       int64     `db:"amount"`
	BusinessDate string    `db:"business_date"`
	PaidAt       time.Time `db:"paid_at"`
}

// UnsettledRefund is a succeeded refund not in any batch, with its payment's amount, the fee
// recorded for the payment when it was settled (null if it is not), and the amount and fee of
// the payment's refunds settled so far.
type UnsettledRefund struct {
	ID             string
	PaymentID      string
	OutRefundNo    string
	Currency       string
	Amount         int64
	BusinessDate   string
	SucceededAt    time.Time
	PaymentAmount  int64
	PaymentFee     *int64
	RefundedBefore int64
	ReturnedBefore int64
}

type unsettledRefundRow struct {
	ID             string        `db:"id"`
	PaymentID      string        `db:"payment_id"`
	OutRefundNo    string        `db:"out_refund_no"`
	Currency       string        `db:"currency"`
	Amount         int64         `db:"amount"`
	BusinessDate   string        `db:"business_date"`
	SucceededAt    time.Time     `db:"succeeded_at"`
	PaymentAmount  int64         `db:"payment_amount"`
	PaymentFee     sql.NullInt64 `db:"payment_fee"`
	RefundedBefore int64         `db:"refunded_before"`
	ReturnedBefore int64         `db:"returned_before"`
}

// Unsettled returns a merchant's succeeded payments and refunds with business date ≤ date that
// no batch holds, only those reconciled (a recon_matches row) when reconciled is true.
func (s *Store) Unsettled(ctx context.Context, merchantID, date string, reconciled bool) ([]UnsettledPayment, []UnsettledRefund, error) {
	recP, recR := "", ""
	if reconciled {
		recP = " AND EXISTS (SELECT 1 FROM recon_matches m WHERE m.object_id = p.id)"
		recR = " AND EXISTS (SELECT 1 FROM recon_matches m WHERE m.object_id = r.id)"
	}
	var ps []unsettledPaymentRow
	// A succeeded payment stays in a paid state; its pending row carries what settle needs.
	err := sel(ctx, s.db, s.dialect, &ps, `SELECT p.object_id AS id, p.out_no AS out_trade_no, p.currency, p.amount,
			p.business_date, p.done_at AS paid_at
		FROM settle_pending p
		WHERE p.merchant_id = ? AND p.kind = 'payment' AND p.business_date <= ?`+strings.ReplaceAll(recP, "p.id", "p.object_id")+`
			AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = p.object_id)
		ORDER BY p.done_at, p.object_id`, merchantID, date)
	if err != nil {
		return nil, nil, fmt.Errorf("unsettled payments of %s: %w", merchantID, err)
	}
	var rs []unsettledRefundRow
	err = sel(ctx, s.db, s.dialect, &rs, `SELECT r.id, r.payment_id, r.out_refund_no, r.currency, r.amount, r.business_date,
			r.succeeded_at, p.amount AS payment_amount, pi.fee AS payment_fee,
			CAST(COALESCE((SELECT SUM(x.amount) FROM settle_items x WHERE x.kind = 'refund' AND x.payment_id = r.payment_id), 0) AS BIGINT) AS refunded_before,
			CAST(COALESCE((SELECT SUM(x.fee) FROM settle_items x WHERE x.kind = 'refund' AND x.payment_id = r.payment_id), 0) AS BIGINT) AS returned_before
		FROM settle_pending sp JOIN refunds r ON r.id = sp.object_id
		JOIN payments p ON p.id = r.payment_id
		LEFT JOIN settle_items pi ON pi.object_id = r.payment_id
		WHERE sp.merchant_id = ? AND sp.kind = 'refund' AND sp.business_date <= ? AND r.status = 'succeeded'`+recR+`
			AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = r.id)
		ORDER BY r.succeeded_at, r.id`, merchantID, date)
	if err != nil {
		return nil, nil, fmt.Errorf("unsettled refunds of %s: %w", merchantID, err)
	}
	outP := make([]UnsettledPayment, len(ps))
	for i, p := range ps {
		outP[i] = UnsettledPayment{ID: p.ID, OutTradeNo: p.OutTradeNo, Currency: p.Currency, Amount: p.Amount,
			BusinessDate: p.BusinessDate, PaidAt: p.PaidAt.UTC()}
	}
	outR := make([]UnsettledRefund, len(rs))
	for i, r := range rs {
		outR[i] = UnsettledRefund{ID: r.ID, PaymentID: r.PaymentID, OutRefundNo: r.OutRefundNo, Currency: r.Currency,
			Amount: r.Amount, BusinessDate: r.BusinessDate, SucceededAt: r.SucceededAt.UTC(), PaymentAmount: r.PaymentAmount,
			PaymentFee: intPtr(r.PaymentFee), RefundedBefore: r.RefundedBefore, ReturnedBefore: r.ReturnedBefore}
	}
	return outP, outR, nil
}

// ErrBatchRace is returned by InsertSettleBatch when another run settled the same merchant,
// currency and date, chained to the same previous batch, or settled one of the items first.
// Nothing was written; the caller re-reads the merchant's state.
var ErrBatchRace = errors.New("store: batch or item settled by another run")

// InsertSettleBatch writes a batch and its items in the transaction. The unique keys decide
// races: a second batch for (merchant, currency, date), a second batch chained to the same
// previous one, or an item already settled fail with ErrBatchRace.
func (t *Tx) InsertSettleBatch(ctx context.Context, b paygw.SettleBatch, items []paygw.SettleItem) error {
	_, err := exec(ctx, t.tx, t.dialect, `INSERT INTO settle_batches (`+batchCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.MerchantID, b.Currency, b.Date, b.PrevBatchID, b.Payments, b.Refunds, b.Gross, b.Refunded, b.Fee,
		b.CarriedIn, b.Net, string(b.Status), b.BankRef, nullTime(b.PaidAt), Now(b.CreatedAt), Now(b.UpdatedAt))
	if err != nil {
		if IsUnique(err) {
			return fmt.Errorf("insert batch %s (%s %s %s): %w: %w", b.ID, b.MerchantID, b.Currency, b.Date, ErrBatchRace, err)
		}
		return fmt.Errorf("insert batch %s: %w", b.ID, err)
	}
	const chunk = 500
	var sb strings.Builder
	args := make([]any, 0, chunk*8)
	for start := 0; start < len(items); start += chunk {
		part := items[start:min(start+chunk, len(items))]
		sb.Reset()
		args = args[:0]
		sb.WriteString(`INSERT INTO settle_items (object_id, batch_id, kind, payment_id, out_no, business_date, amount, fee) VALUES `)
		for i, it := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, it.ObjectID, b.ID, string(it.Kind), it.PaymentID, it.OutNo, it.BusinessDate, it.Amount, it.Fee)
		}
		if _, err := exec(ctx, t.tx, t.dialect, sb.String(), args...); err != nil {
			if IsUnique(err) {
				return fmt.Errorf("insert items of batch %s: %w: %w", b.ID, ErrBatchRace, err)
			}
			return fmt.Errorf("insert items of batch %s: %w", b.ID, err)
		}
		ids := make([]any, len(part))
		for i, it := range part {
			ids[i] = it.ObjectID
		}
		// The merchant's pending rows are contiguous (keyed by merchant first): the delete stays
		// within them.
		if _, err := exec(ctx, t.tx, t.dialect, `DELETE FROM settle_pending WHERE merchant_id = ? AND object_id IN (?`+
			strings.Repeat(", ?", len(ids)-1)+`)`, append([]any{b.MerchantID}, ids...)...); err != nil {
			return fmt.Errorf("settled items of batch %s: %w", b.ID, err)
		}
	}
	return nil
}

// SettleBatchesOn returns every batch of a business date, by merchant and currency.
func (s *Store) SettleBatchesOn(ctx context.Context, date string) ([]paygw.SettleBatch, error) {
	var out []settleBatchRow
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT `+batchCols+` FROM settle_batches WHERE date = ? ORDER BY merchant_id, currency`, date); err != nil {
		return nil, fmt.Errorf("batches of %s: %w", date, err)
	}
	return settleBatches(out), nil
}

// GetSettleBatch returns one batch or ErrNotFound.
func (s *Store) GetSettleBatch(ctx context.Context, id string) (paygw.SettleBatch, error) {
	var b settleBatchRow
	if err := get(ctx, s.db, s.dialect, &b, `SELECT `+batchCols+` FROM settle_batches WHERE id = ?`, id); err != nil {
		return paygw.SettleBatch{}, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b.domain(), nil
}

// GetSettleBatch reads one batch inside the transaction.
func (t *Tx) GetSettleBatch(ctx context.Context, id string) (paygw.SettleBatch, error) {
	var b settleBatchRow
	if err := get(ctx, t.tx, t.dialect, &b, `SELECT `+batchCols+` FROM settle_batches WHERE id = ?`, id); err != nil {
		return paygw.SettleBatch{}, fmt.Errorf("get batch %s: %w", id, err)
	}
	return b.domain(), nil
}

// MarkBatchPaid moves a settled batch to paid with the bank's reference, compare-and-set on
// its status: it reports false (and changes nothing) when the batch is not settled any more or
// is on hold (a settle_holds row not released).
func (t *Tx) MarkBatchPaid(ctx context.Context, id, bankRef string, now time.Time) (bool, error) {
	n, err := exec(ctx, t.tx, t.dialect, `UPDATE settle_batches SET status = 'paid', bank_ref = ?, paid_at = ?, updated_at = ?
		WHERE id = ? AND status = 'settled'
			AND NOT EXISTS (SELECT 1 FROM settle_holds h WHERE h.batch_id = settle_batches.id AND h.released_at IS NULL)`, bankRef, Now(now), Now(now), id)
	if err != nil {
		return false, fmt.Errorf("mark batch %s paid: %w", id, err)
	}
	return n == 1, nil
}

// SettleItemRow is a settled item with its batch's merchant and currency, for reports.
type SettleItemRow struct {
	paygw.SettleItem
	MerchantID string
	Currency   string
}

// EachSettleItem streams the items of the given batches to fn, batch by batch in the order
// given and within a batch by kind and id, without holding them in memory; fn's error stops
// the scan and is returned.
func (s *Store) EachSettleItem(ctx context.Context, batchIDs []string, fn func(SettleItemRow) error) error {
	q := s.dialect.rebind(`SELECT i.object_id, i.batch_id, i.kind, i.payment_id, i.out_no,
			i.business_date, i.amount, i.fee, b.merchant_id, b.currency
		FROM settle_items i JOIN settle_batches b ON b.id = i.batch_id
		WHERE i.batch_id = ? ORDER BY i.kind, i.object_id`)
	for _, id := range batchIDs {
		if err := s.eachBatchItem(ctx, q, id, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) eachBatchItem(ctx context.Context, q, batchID string, fn func(SettleItemRow) error) error {
	rows, err := s.db.QueryxContext(ctx, q, batchID)
	if err != nil {
		return fmt.Errorf("items of batch %s: %w", batchID, translate(err))
	}
	defer rows.Close()
	var r SettleItemRow
	for rows.Next() {
		var kind string
		if err := rows.Scan(&r.ObjectID, &r.BatchID, &kind, &r.PaymentID, &r.OutNo, &r.BusinessDate,
			&r.Amount, &r.Fee, &r.MerchantID, &r.Currency); err != nil {
			return fmt.Errorf("items of batch %s: %w", batchID, translate(err))
		}
		r.Kind = paygw.ObjectKind(kind)
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("items of batch %s: %w", batchID, translate(err))
	}
	return nil
}

// LedgerProblem is one finding of LedgerCheck.
type LedgerProblem struct {
	Check  string // which invariant
	Ref    string // journal, account, payment, refund or batch
	Detail string
}

// Ledger check names.
const (
	CheckJournalBalanced   = "journal_balanced"
	CheckAccountBalance    = "account_balance"
	CheckPaymentJournal    = "payment_journal"
	CheckRefundJournal     = "refund_journal"
	CheckSettledOnce       = "settled_once"
	CheckBatchTotals       = "batch_totals"
	CheckSettlementJournal = "settlement_journal"
	CheckPayoutJournal     = "payout_journal"
	CheckReferences        = "references"
	CheckPending           = "pending"
	CheckAdjustment        = "adjustment"
)

// LedgerChecks lists every check LedgerCheck runs, in order.
var LedgerChecks = []string{CheckJournalBalanced, CheckAccountBalance, CheckPaymentJournal, CheckRefundJournal,
	CheckSettledOnce, CheckBatchTotals, CheckSettlementJournal, CheckPayoutJournal, CheckReferences, CheckPending, CheckAdjustment}

// LedgerCheck verifies DESIGN.md §3's invariants over the whole database and returns what is
// wrong, at most limit findings per check (0: 1000):
//   - every journal balances per currency and has postings;
//   - each account's stored balance equals the sum of its postings;
//   - every succeeded payment and refund has exactly one capture or refund journal, and no other
//     payment or refund has one;
//   - each payment and refund is in at most one batch, and an item's kind matches its object;
//   - each batch's counts and sums equal its items' and its net follows from them;
//   - a batch moving money has its settlement journal; a paid batch exactly its payout journal;
//   - each accepted amount or fee mismatch has its adjustment and journal (CheckAdjustment).
func (s *Store) LedgerCheck(ctx context.Context, limit int) ([]LedgerProblem, error) {
	if limit <= 0 {
		limit = 1000
	}
	type row struct {
		Ref    string `db:"ref"`
		Detail string `db:"detail"`
	}
	checks := []struct{ name, q string }{
		{CheckJournalBalanced, `SELECT j.id AS ref, j.kind || ' ' || j.ref_id || ': ' || COALESCE(p.currency, '') || ' postings sum to ' || CAST(COALESCE(SUM(p.amount), 0) AS TEXT) AS detail
			FROM ledger_journals j LEFT JOIN ledger_postings p ON p.journal_id = j.id
			GROUP BY j.id, j.kind, j.ref_id, p.currency HAVING COALESCE(SUM(p.amount), 0) <> 0 OR COUNT(p.id) = 0 ORDER BY j.id`},
		// Every succeeded payment and refund is either settled or pending settlement, never both.
		{CheckPending, `SELECT p.id AS ref, 'succeeded payment neither settled nor pending settlement' AS detail FROM payments p
			WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')
				AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = p.id)
				AND NOT EXISTS (SELECT 1 FROM settle_pending sp WHERE sp.merchant_id = p.merchant_id AND sp.kind = 'payment'
					AND sp.business_date = p.business_date AND sp.object_id = p.id)
			UNION ALL
			SELECT r.id AS ref, 'succeeded refund neither settled nor pending settlement' AS detail FROM refunds r
			WHERE r.status = 'succeeded'
				AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = r.id)
				AND NOT EXISTS (SELECT 1 FROM settle_pending sp WHERE sp.merchant_id = r.merchant_id AND sp.kind = 'refund'
					AND sp.business_date = r.business_date AND sp.object_id = r.id)
			UNION ALL
			SELECT sp.object_id AS ref, 'pending settlement but already settled in batch ' || i.batch_id AS detail
			FROM settle_pending sp JOIN settle_items i ON i.object_id = sp.object_id
			ORDER BY ref`},
		// PostgreSQL drops the foreign keys to hot parent rows (migration 0007) and from postings
		// to their journals (0022): check them here.
		{CheckReferences, `SELECT p.account || ' ' || p.currency AS ref, 'posting of journal ' || p.journal_id || ' to an account that does not exist' AS detail
			FROM ledger_postings p LEFT JOIN ledger_accounts a ON a.name = p.account AND a.currency = p.currency WHERE a.name IS NULL
			UNION ALL
			SELECT p.journal_id AS ref, 'posting ' || CAST(p.id AS TEXT) || ' of a journal that does not exist' AS detail
			FROM ledger_postings p LEFT JOIN ledger_journals j ON j.id = p.journal_id WHERE j.id IS NULL
			UNION ALL
			SELECT b.account || ' ' || b.currency AS ref, 'balance shard of an account that does not exist' AS detail
			FROM ledger_balances b LEFT JOIN ledger_accounts a ON a.name = b.account AND a.currency = b.currency WHERE a.name IS NULL
			UNION ALL
			SELECT p.id AS ref, 'payment of unknown merchant ' || p.merchant_id AS detail
			FROM payments p LEFT JOIN merchants m ON m.id = p.merchant_id WHERE m.id IS NULL
			UNION ALL
			SELECT p.id AS ref, 'payment of unknown agreement ' || p.agreement_id AS detail
			FROM payments p LEFT JOIN agreements g ON g.id = p.agreement_id WHERE p.agreement_id IS NOT NULL AND g.id IS NULL
			ORDER BY ref`},
		{CheckAccountBalance, `SELECT a.name || ' ' || a.currency AS ref, 'balance ' || CAST(a.balance AS TEXT) || ', postings sum to ' || CAST(COALESCE(SUM(p.amount), 0) AS TEXT) AS detail
			FROM (SELECT a.name, a.currency, COALESCE((SELECT SUM(b.balance) FROM ledger_balances b
				WHERE b.account = a.name AND b.currency = a.currency), 0) AS balance FROM ledger_accounts a) a
			LEFT JOIN ledger_postings p ON p.account = a.name AND p.currency = a.currency
			GROUP BY a.name, a.currency, a.balance HAVING a.balance <> COALESCE(SUM(p.amount), 0) ORDER BY a.name, a.currency`},
		{CheckPaymentJournal, `SELECT p.id AS ref, 'payment ' || p.status || ' has no capture journal' AS detail FROM payments p
			WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')
				AND NOT EXISTS (SELECT 1 FROM ledger_journals j WHERE j.kind = 'capture' AND j.ref_id = p.id)
			UNION ALL
			SELECT j.ref_id AS ref, 'capture journal ' || j.id || ' for a payment that is ' || COALESCE(p.status, 'missing') AS detail
			FROM ledger_journals j LEFT JOIN payments p ON p.id = j.ref_id
			WHERE j.kind = 'capture' AND (p.id IS NULL OR p.status NOT IN ('succeeded', 'partially_refunded', 'refunded'))
			ORDER BY ref`},
		{CheckRefundJournal, `SELECT r.id AS ref, 'refund succeeded has no refund journal' AS detail FROM refunds r
			WHERE r.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM ledger_journals j WHERE j.kind = 'refund' AND j.ref_id = r.id)
			UNION ALL
			SELECT j.ref_id AS ref, 'refund journal ' || j.id || ' for a refund that is ' || COALESCE(r.status, 'missing') AS detail
			FROM ledger_journals j LEFT JOIN refunds r ON r.id = j.ref_id
			WHERE j.kind = 'refund' AND (r.id IS NULL OR r.status <> 'succeeded')
			ORDER BY ref`},
		{CheckSettledOnce, `SELECT i.object_id AS ref, 'in ' || CAST(COUNT(*) AS TEXT) || ' batches' AS detail FROM settle_items i
			GROUP BY i.object_id HAVING COUNT(*) > 1
			UNION ALL
			SELECT i.object_id AS ref, 'settled as a payment in batch ' || i.batch_id || ' but not a succeeded payment' AS detail
			FROM settle_items i LEFT JOIN payments p ON p.id = i.object_id
			WHERE i.kind = 'payment' AND (p.id IS NULL OR p.status NOT IN ('succeeded', 'partially_refunded', 'refunded') OR p.amount <> i.amount)
			UNION ALL
			SELECT i.object_id AS ref, 'settled as a refund in batch ' || i.batch_id || ' but not a succeeded refund' AS detail
			FROM settle_items i LEFT JOIN refunds r ON r.id = i.object_id
			WHERE i.kind = 'refund' AND (r.id IS NULL OR r.status <> 'succeeded' OR r.amount <> i.amount OR r.payment_id <> i.payment_id)
			ORDER BY ref`},
		{CheckBatchTotals, `SELECT b.id AS ref, 'batch has ' || CAST(b.payments AS TEXT) || ' payments ' || CAST(b.gross AS TEXT) || ', ' ||
				CAST(b.refunds AS TEXT) || ' refunds ' || CAST(b.refunded AS TEXT) || ', fee ' || CAST(b.fee AS TEXT) || '; items have ' ||
				CAST(COALESCE(t.payments, 0) AS TEXT) || ' payments ' || CAST(COALESCE(t.gross, 0) AS TEXT) || ', ' ||
				CAST(COALESCE(t.refunds, 0) AS TEXT) || ' refunds ' || CAST(COALESCE(t.refunded, 0) AS TEXT) || ', fee ' || CAST(COALESCE(t.fee, 0) AS TEXT) ||
				', adjustments +' || CAST(COALESCE(a.adj_in, 0) AS TEXT) || ' -' || CAST(COALESCE(a.adj_out, 0) AS TEXT) AS detail
			FROM settle_batches b LEFT JOIN (
				SELECT batch_id,
					SUM(CASE WHEN kind = 'payment' THEN 1 ELSE 0 END) AS payments,
					SUM(CASE WHEN kind = 'payment' THEN amount ELSE 0 END) AS gross,
					SUM(CASE WHEN kind = 'refund' THEN 1 ELSE 0 END) AS refunds,
					SUM(CASE WHEN kind = 'refund' THEN amount ELSE 0 END) AS refunded,
					SUM(CASE WHEN kind = 'payment' THEN fee ELSE -fee END) AS fee
				FROM settle_items GROUP BY batch_id) t ON t.batch_id = b.id
			LEFT JOIN (
				SELECT batch_id,
					SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS adj_in,
					SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END) AS adj_out
				FROM recon_adjustments WHERE batch_id IS NOT NULL GROUP BY batch_id) a ON a.batch_id = b.id
			WHERE b.payments <> COALESCE(t.payments, 0) OR b.gross <> COALESCE(t.gross, 0) + COALESCE(a.adj_in, 0)
				OR b.refunds <> COALESCE(t.refunds, 0)
				OR b.refunded <> COALESCE(t.refunded, 0) + COALESCE(a.adj_out, 0) OR b.fee <> COALESCE(t.fee, 0)
				OR b.net <> b.gross - b.refunded - b.fee + b.carried_in
			ORDER BY ref`},
		{CheckSettlementJournal, `SELECT b.id AS ref, 'batch moves ' || CAST(b.gross - b.refunded AS TEXT) || ' with fee ' || CAST(b.fee AS TEXT) || ' but has no settlement journal' AS detail
			FROM settle_batches b
			WHERE (b.gross <> b.refunded OR b.fee <> 0)
				AND NOT EXISTS (SELECT 1 FROM ledger_journals j WHERE j.kind = 'settlement' AND j.ref_id = b.id)
			ORDER BY ref`},
		{CheckPayoutJournal, `SELECT b.id AS ref, 'batch is paid but has no payout journal' AS detail FROM settle_batches b
			WHERE b.status = 'paid' AND NOT EXISTS (SELECT 1 FROM ledger_journals j WHERE j.kind = 'payout' AND j.ref_id = b.id)
			UNION ALL
			SELECT j.ref_id AS ref, 'payout journal ' || j.id || ' for a batch that is ' || COALESCE(b.status, 'missing') AS detail
			FROM ledger_journals j LEFT JOIN settle_batches b ON b.id = j.ref_id
			WHERE j.kind = 'payout' AND (b.id IS NULL OR b.status <> 'paid')
			ORDER BY ref`},
		// Accepted reconciliation differences (migration 0016): each adjustment has its one journal
		// with the same amount; each such journal its adjustment; each accepted amount or fee
		// mismatch its adjustment; a paid adjustment is in a batch of its merchant and currency.
		{CheckAdjustment, `SELECT a.object_id AS ref, a.kind || ' adjustment ' || a.id || ' of ' || CAST(a.amount AS TEXT) ||
				' has no matching journal' AS detail
			FROM recon_adjustments a
			WHERE NOT EXISTS (SELECT 1 FROM ledger_journals j JOIN ledger_postings p ON p.journal_id = j.id
				WHERE j.ref_id = a.id AND j.kind = a.kind || '_adjustment' AND p.currency = a.currency
					AND ((a.kind = 'amount' AND p.account = 'merchant:' || a.merchant_id || ':pending' AND p.amount = -a.amount)
						OR (a.kind = 'fee' AND p.account = 'channel:' || a.channel || ':fee_cost' AND p.amount = a.amount)))
			UNION ALL
			SELECT j.ref_id AS ref, j.kind || ' journal ' || j.id || ' without its adjustment' AS detail
			FROM ledger_journals j
			WHERE j.kind IN ('amount_adjustment', 'fee_adjustment') AND NOT EXISTS (SELECT 1 FROM recon_adjustments a
				WHERE a.id = j.ref_id AND a.kind || '_adjustment' = j.kind)
			UNION ALL
			SELECT CAST(i.id AS TEXT) AS ref, i.class || ' item accepted as the channel''s but no adjustment was posted' AS detail
			FROM recon_items i
			WHERE i.state = 'resolved' AND i.resolution = 'accept_channel' AND i.class IN ('amount_mismatch', 'fee_mismatch')
				AND NOT EXISTS (SELECT 1 FROM recon_adjustments a
					WHERE a.object_id = CASE WHEN i.kind = 'refund' THEN i.refund_id ELSE i.payment_id END
						AND a.kind = CASE WHEN i.class = 'amount_mismatch' THEN 'amount' ELSE 'fee' END)
			UNION ALL
			SELECT a.object_id AS ref, 'adjustment ' || a.id || ' paid in batch ' || a.batch_id || ' of another merchant or currency' AS detail
			FROM recon_adjustments a JOIN settle_batches b ON b.id = a.batch_id
			WHERE b.merchant_id <> a.merchant_id OR b.currency <> a.currency
			ORDER BY ref`},
	}
	var out []LedgerProblem
	for _, c := range checks {
		var rows []row
		if err := sel(ctx, s.db, s.dialect, &rows, c.q+fmt.Sprintf(" LIMIT %d", limit)); err != nil {
			return nil, fmt.Errorf("ledger check %s: %w", c.name, err)
		}
		for _, r := range rows {
			out = append(out, LedgerProblem{Check: c.name, Ref: r.Ref, Detail: r.Detail})
		}
	}
	return out, nil
}

// DailyActivity is one merchant, channel, pay method and currency's activity on a business date.
type DailyActivity struct {
	MerchantID      string `db:"merchant_id"`
	MerchantName    string `db:"merchant_name"`
	Channel         string `db:"channel"`
	PayMethod       string `db:"pay_method"`
	Currency        string `db:"currency"`
	Created         int64  `db:"created"`
	Succeeded       int64  `db:"succeeded"`
	SucceededAmount int64  `db:"succeeded_amount"`
	Refunds         int64  `db:"refunds"`
	RefundedAmount  int64  `db:"refunded_amount"`
}

// DailyActivities returns the activity of business date date, whose instants are [start, end):
// payments created in it, payments and refunds whose business date it is (a refund counts
// under its payment's pay method and its own channel). Rows are by merchant, channel, pay
// method and currency.
func (s *Store) DailyActivities(ctx context.Context, date string, start, end time.Time) ([]DailyActivity, error) {
	var rows []DailyActivity
	err := sel(ctx, s.db, s.dialect, &rows, `SELECT t.merchant_id, m.name AS merchant_name, t.channel, t.pay_method, t.currency,
			CAST(SUM(t.created) AS BIGINT) AS created, CAST(SUM(t.succeeded) AS BIGINT) AS succeeded,
			CAST(SUM(t.succeeded_amount) AS BIGINT) AS succeeded_amount, CAST(SUM(t.refunds) AS BIGINT) AS refunds,
			CAST(SUM(t.refunded_amount) AS BIGINT) AS refunded_amount
		FROM (
			SELECT merchant_id, channel, pay_method, currency, COUNT(*) AS created, 0 AS succeeded, 0 AS succeeded_amount,
				0 AS refunds, 0 AS refunded_amount
			FROM payments WHERE created_at >= ? AND created_at < ? GROUP BY merchant_id, channel, pay_method, currency
			UNION ALL
			SELECT merchant_id, channel, pay_method, currency, 0, COUNT(*), SUM(amount), 0, 0
			FROM payments WHERE business_date = ? AND status IN ('succeeded', 'partially_refunded', 'refunded')
			GROUP BY merchant_id, channel, pay_method, currency
			UNION ALL
			SELECT r.merchant_id, r.channel, p.pay_method, r.currency, 0, 0, 0, COUNT(*), SUM(r.amount)
			FROM refunds r JOIN payments p ON p.id = r.payment_id
			WHERE r.business_date = ? AND r.status = 'succeeded' GROUP BY r.merchant_id, r.channel, p.pay_method, r.currency
		) t JOIN merchants m ON m.id = t.merchant_id
		GROUP BY t.merchant_id, m.name, t.channel, t.pay_method, t.currency
		ORDER BY t.merchant_id, t.channel, t.pay_method, t.currency`, Now(start), Now(end), date, date)
	if err != nil {
		return nil, fmt.Errorf("daily activity %s: %w", date, err)
	}
	return rows, nil
}

// MarkReconciled records payments and refunds by id as reconciled (recon_matches; reconcile's
// job in production; tests and demos that skip reconciliation use it). Marking one twice keeps
// the first time.
func (s *Store) MarkReconciled(ctx context.Context, ids []string, now time.Time) error {
	return s.Transact(ctx, func(tx *Tx) error {
		m := newMarker(ctx, tx, "", now)
		for _, id := range ids {
			if err := m.add(ReconRef{ID: id}, true); err != nil {
				return err
			}
		}
		return m.flush()
	})
}
