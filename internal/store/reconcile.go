package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ReconTxn is one of paygw's payments or refunds as reconciliation reads it.
type ReconTxn struct {
	Refund          bool
	PaymentID       string
	RefundID        string
	MerchantID      string
	ChannelTradeNo  string // on a refund, the refunded payment's
	ChannelRefundNo string
	Amount          int64
	Currency        string
	Status          string
	At              sql.NullTime // paid_at / succeeded_at
	Reconciled      bool
	PaymentAmount   int64   // refunds: the refunded payment's amount
	EarlierRefunds  []int64 // refunds: amounts of the payment's earlier succeeded refunds
}

// ReconWindow bounds what StreamReconPayments and StreamReconRefunds read: transactions that
// succeeded in [From, To), or did not succeed and were created in [From, To). Whether a
// transaction was reconciled before (ReconTxn.Reconciled) is looked up only outside
// [CoreFrom, CoreTo): the matcher needs it near the date's cutoffs only, and skipping the lookup
// for the bulk of the date saves a probe per row. Zero CoreFrom/CoreTo look it up everywhere.
type ReconWindow struct {
	From, To         time.Time
	CoreFrom, CoreTo time.Time
}

// reconciledProbe is the SQL of ReconTxn.Reconciled for a row whose id is idCol and whose
// success time is atCol, with two placeholders (core bounds).
func reconciledProbe(idCol, atCol string) string {
	return `CASE WHEN ` + atCol + ` >= ? AND ` + atCol + ` < ? THEN 0
		WHEN EXISTS (SELECT 1 FROM recon_matches m WHERE m.object_id = ` + idCol + `) THEN 1 ELSE 0 END`
}

func (w ReconWindow) core() (any, any) {
	if w.CoreFrom.IsZero() || !w.CoreFrom.Before(w.CoreTo) {
		return Now(w.To), Now(w.To) // an empty core: look up everywhere
	}
	return Now(w.CoreFrom), Now(w.CoreTo)
}

// timeCol selects a timestamp column so streamRecon can scan it fast: on SQLite as text (the
// driver's own conversion tries layout after layout), parsed with the one layout Now stores.
func (s *Store) timeCol(col string) string {
	if s.dialect == SQLite {
		return `CAST(` + col + ` AS TEXT)`
	}
	return col
}

func (s *Store) reconPaymentCols() string {
	return `id, merchant_id, channel_trade_no, amount, currency, status, ` + s.timeCol("paid_at") + `, ` +
		reconciledProbe("payments.id", "paid_at")
}

// StreamReconPayments calls fn with every payment of channel paid in [w.From, w.To), or unpaid
// and created in [w.From, w.To). Rows stream from one cursor; nothing is collected.
func (s *Store) StreamReconPayments(ctx context.Context, channel string, w ReconWindow, fn func(ReconTxn) error) error {
	cf, ct := w.core()
	cols := s.reconPaymentCols()
	q := `SELECT ` + cols + ` FROM payments WHERE channel = ? AND paid_at >= ? AND paid_at < ?
		UNION ALL
		SELECT ` + cols + ` FROM payments WHERE channel = ? AND paid_at IS NULL AND created_at >= ? AND created_at < ?`
	if err := s.streamRecon(ctx, q, false, fn, cf, ct, channel, Now(w.From), Now(w.To), cf, ct, channel, Now(w.From), Now(w.To)); err != nil {
		return fmt.Errorf("stream payments of %s: %w", channel, err)
	}
	return nil
}

// earlierRefunds is the dialect's list aggregate of a refund's earlier succeeded sibling refunds.
func (s *Store) earlierRefunds() string {
	where := `FROM refunds r2 WHERE r2.payment_id = r.payment_id AND r2.status = 'succeeded'
		AND (r2.succeeded_at < r.succeeded_at OR (r2.succeeded_at = r.succeeded_at AND r2.id < r.id))`
	if s.dialect == Postgres {
		return `(SELECT COALESCE(string_agg(r2.amount::text, ',' ORDER BY r2.succeeded_at, r2.id), '') ` + where + `)`
	}
	return `(SELECT COALESCE(group_concat(r2.amount, ','), '') ` + where + `)`
}

func (s *Store) reconRefundCols() string {
	return `r.id, r.payment_id, r.merchant_id, p.channel_trade_no, r.channel_refund_no, r.amount, r.currency, r.status,
		` + s.timeCol("r.succeeded_at") + `, ` + reconciledProbe("r.id", "r.succeeded_at") + `, p.amount, ` + s.earlierRefunds()
}

// StreamReconRefunds calls fn with every refund of channel succeeded in [w.From, w.To), or not
// succeeded and created in [w.From, w.To).
func (s *Store) StreamReconRefunds(ctx context.Context, channel string, w ReconWindow, fn func(ReconTxn) error) error {
	cf, ct := w.core()
	from, to := w.From, w.To
	cols := s.reconRefundCols()
	q := `SELECT ` + cols + ` FROM refunds r JOIN payments p ON p.id = r.payment_id
			WHERE r.channel = ? AND r.succeeded_at >= ? AND r.succeeded_at < ?
		UNION ALL
		SELECT ` + cols + ` FROM refunds r JOIN payments p ON p.id = r.payment_id
			WHERE r.channel = ? AND r.succeeded_at IS NULL AND r.created_at >= ? AND r.created_at < ?`
	if err := s.streamRecon(ctx, q, true, fn, cf, ct, channel, Now(from), Now(to), cf, ct, channel, Now(from), Now(to)); err != nil {
		return fmt.Errorf("stream refunds of %s: %w", channel, err)
	}
	return nil
}

// FindReconPayments returns the payments of channel whose id is in ids or whose channel trade
// number is in ctns (each list at most a few hundred long).
func (s *Store) FindReconPayments(ctx context.Context, channel string, ids, ctns []string) ([]ReconTxn, error) {
	w := ReconWindow{}
	cf, ct := w.core()
	where, args := []string{}, []any{cf, ct, channel}
	if len(ids) > 0 {
		where = append(where, "id IN ("+placeholders(len(ids))+")")
		args = appendStrings(args, ids)
	}
	if len(ctns) > 0 {
		where = append(where, "(channel_trade_no <> '' AND channel_trade_no IN ("+placeholders(len(ctns))+"))")
		args = appendStrings(args, ctns)
	}
	if len(where) == 0 {
		return nil, nil
	}
	var out []ReconTxn
	q := `SELECT ` + s.reconPaymentCols() + ` FROM payments WHERE channel = ? AND (` + strings.Join(where, " OR ") + `)`
	err := s.streamRecon(ctx, q, false, func(t ReconTxn) error { out = append(out, t); return nil }, args...)
	if err != nil {
		return nil, fmt.Errorf("find payments of %s: %w", channel, err)
	}
	return out, nil
}

// FindReconRefunds returns the refunds of channel whose id is in ids or whose channel refund
// number is in crns.
func (s *Store) FindReconRefunds(ctx context.Context, channel string, ids, crns []string) ([]ReconTxn, error) {
	cf, ct := ReconWindow{}.core()
	where, args := []string{}, []any{cf, ct, channel}
	if len(ids) > 0 {
		where = append(where, "r.id IN ("+placeholders(len(ids))+")")
		args = appendStrings(args, ids)
	}
	if len(crns) > 0 {
		where = append(where, "(r.channel_refund_no <> '' AND r.channel_refund_no IN ("+placeholders(len(crns))+"))")
		args = appendStrings(args, crns)
	}
	if len(where) == 0 {
		return nil, nil
	}
	var out []ReconTxn
	q := `SELECT ` + s.reconRefundCols() + ` FROM refunds r JOIN payments p ON p.id = r.payment_id
		WHERE r.channel = ? AND (` + strings.Join(where, " OR ") + `)`
	err := s.streamRecon(ctx, q, true, func(t ReconTxn) error { out = append(out, t); return nil }, args...)
	if err != nil {
		return nil, fmt.Errorf("find refunds of %s: %w", channel, err)
	}
	return out, nil
}

// sqliteTimeLayout is how Now's times are stored on SQLite (always UTC).
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// parseSQLiteTime parses a stored SQLite time with the layout the store writes, falling back
// to RFC 3339 for a value written by hand.
func parseSQLiteTime(v string) (time.Time, error) {
	t, err := time.Parse(sqliteTimeLayout, v)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse(time.RFC3339Nano, v); err2 != nil {
			return time.Time{}, fmt.Errorf("time %q: %w", v, err)
		}
	}
	return t.UTC(), nil
}

func (s *Store) streamRecon(ctx context.Context, q string, refund bool, fn func(ReconTxn) error, args ...any) error {
	var t0 sql.NullTime
	rows, err := s.db.QueryContext(ctx, s.Rebind(q), args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	var atText sql.NullString
	var at any = &t0
	if s.dialect == SQLite {
		at = &atText
	}
	for rows.Next() {
		var t ReconTxn
		var rec int64
		t.Refund = refund
		t0, atText = sql.NullTime{}, sql.NullString{}
		if refund {
			var earlier string
			err = rows.Scan(&t.RefundID, &t.PaymentID, &t.MerchantID, &t.ChannelTradeNo, &t.ChannelRefundNo, &t.Amount,
				&t.Currency, &t.Status, at, &rec, &t.PaymentAmount, &earlier)
			if err == nil && earlier != "" {
				for _, f := range strings.Split(earlier, ",") {
					v, perr := strconv.ParseInt(f, 10, 64)
					if perr != nil {
						return fmt.Errorf("refund %s: earlier refund amount %q: %w", t.RefundID, f, perr)
					}
					t.EarlierRefunds = append(t.EarlierRefunds, v)
				}
			}
		} else {
			err = rows.Scan(&t.PaymentID, &t.MerchantID, &t.ChannelTradeNo, &t.Amount, &t.Currency, &t.Status, at, &rec)
		}
		if err != nil {
			return translate(err)
		}
		t.At = t0
		if atText.Valid {
			tm, perr := parseSQLiteTime(atText.String)
			if perr != nil {
				return fmt.Errorf("payment %s refund %s: %w", t.PaymentID, t.RefundID, perr)
			}
			t.At = sql.NullTime{Time: tm, Valid: true}
		}
		t.Reconciled = rec != 0
		if t.At.Valid {
			t.At.Time = t.At.Time.UTC()
		}
		if err := fn(t); err != nil {
			return err
		}
	}
	return translate(rows.Err())
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func appendStrings(args []any, ss []string) []any {
	for _, s := range ss {
		args = append(args, s)
	}
	return args
}

// Reconciliation run statuses.
const (
	ReconCurrent    = "current"
	ReconSuperseded = "superseded"
)

// Reconciliation item states and resolutions.
const (
	ReconOpen          = "open"
	ReconResolved      = "resolved"
	ReconAcceptChannel = "accept_channel"
	ReconAcceptOurs    = "accept_ours"
	ReconAuto          = "auto"
)

// ReconRun is one stored reconciliation run.
type ReconRun struct {
	ID              string    `db:"id"`
	Channel         string    `db:"channel"`
	BusinessDate    string    `db:"business_date"`
	Status          string    `db:"status"`
	Format          string    `db:"format"`
	FileName        string    `db:"file_name"`
	FileSHA256      string    `db:"file_sha256"`
	StatementRows   int64     `db:"statement_rows"`
	Matched         int64     `db:"matched"`
	MissingInternal int64     `db:"missing_internal"`
	MissingChannel  int64     `db:"missing_channel"`
	AmountMismatch  int64     `db:"amount_mismatch"`
	StatusMismatch  int64     `db:"status_mismatch"`
	FeeMismatch     int64     `db:"fee_mismatch"`
	Duplicate       int64     `db:"duplicate"`
	Pending         int64     `db:"pending"`
	Totals          string    `db:"totals"` // JSON: counts and amounts per class and currency
	StartedAt       time.Time `db:"started_at"`
	FinishedAt      time.Time `db:"finished_at"`
}

// ReconItem is one stored discrepancy.
type ReconItem struct {
	ID              int64        `db:"id"`
	RunID           string       `db:"run_id"`
	Channel         string       `db:"channel"`
	BusinessDate    string       `db:"business_date"`
	Class           string       `db:"class"`
	Kind            string       `db:"kind"`
	PaymentID       string       `db:"payment_id"`
	RefundID        string       `db:"refund_id"`
	MerchantID      string       `db:"merchant_id"`
	ChannelTradeNo  string       `db:"channel_trade_no"`
	ChannelRefundNo string       `db:"channel_refund_no"`
	Currency        string       `db:"currency"`
	InternalAmount  int64        `db:"internal_amount"`
	ChannelAmount   int64        `db:"channel_amount"`
	InternalFee     int64        `db:"internal_fee"`
	ChannelFee      int64        `db:"channel_fee"`
	InternalStatus  string       `db:"internal_status"`
	ChannelStatus   string       `db:"channel_status"`
	TradeTime       sql.NullTime `db:"trade_time"`
	Line            int64        `db:"line"`
	Note            string       `db:"note"`
	State           string       `db:"state"`
	Resolution      string       `db:"resolution"`
	ResolvedBy      string       `db:"resolved_by"`
	ResolvedAt      sql.NullTime `db:"resolved_at"`
	ResolutionNote  string       `db:"resolution_note"`
}

// hasInternal reports whether the item names one of paygw's payments or refunds.
func (it *ReconItem) hasInternal() bool {
	return it.Class != "missing_internal" && it.Class != "duplicate"
}

// sameAs is the identity under which a resolution carries over to a re-run's item.
func (it *ReconItem) sameAs() string {
	return strings.Join([]string{it.Class, it.Kind, it.PaymentID, it.RefundID, it.ChannelTradeNo, it.ChannelRefundNo,
		strconv.FormatInt(it.InternalAmount, 10), strconv.FormatInt(it.ChannelAmount, 10),
		strconv.FormatInt(it.ChannelFee, 10), it.ChannelStatus, it.InternalStatus}, "\x00")
}

// ReconRef names one payment (Refund false) or refund by id.
type ReconRef struct {
	Refund bool
	ID     string
}

// ReconResult is what one run stores.
type ReconResult struct {
	Run ReconRun
	// Each yields, in one pass, the discrepancies (every class but matched) to item and the
	// payments and refunds matched (and collected) to matched: those are marked reconciled. It is
	// called once per transaction attempt.
	Each func(item func(ReconItem) error, matched func(ReconRef) error) error
	// Turned, called after Each, names the payments and refunds whose open pending items of
	// other dates this run settles.
	Turned func() []ReconRef
}

const reconBatch = 400

// SaveReconRun stores a run in one transaction: the date's previous current run becomes
// superseded and its open items are replaced; the new run and its items are inserted (an item
// identical to one resolved in the previous run keeps that resolution); matched transactions are
// marked reconciled and the internal side of every open discrepancy is unmarked; open pending
// items of other dates named in Turned are resolved automatically. Either all of it is stored or
// nothing.
func (s *Store) SaveReconRun(ctx context.Context, res ReconResult, now time.Time) error {
	now = Now(now)
	run := res.Run
	run.Status = ReconCurrent
	err := s.Transact(ctx, func(tx *Tx) error {
		q := tx.tx
		var prev []ReconItem
		if err := sel(ctx, q, tx.dialect, &prev, `SELECT i.* FROM recon_items i JOIN recon_runs r ON r.id = i.run_id
			WHERE r.channel = ? AND r.business_date = ? AND r.status = 'current' AND i.state = 'resolved'`,
			run.Channel, run.BusinessDate); err != nil {
			return fmt.Errorf("previous resolutions: %w", err)
		}
		carried := make(map[string]ReconItem, len(prev))
		for _, p := range prev {
			carried[p.sameAs()] = p
		}
		if _, err := exec(ctx, q, tx.dialect, `DELETE FROM recon_items WHERE state = 'open' AND run_id IN
			(SELECT id FROM recon_runs WHERE channel = ? AND business_date = ? AND status = 'current')`, run.Channel, run.BusinessDate); err != nil {
			return fmt.Errorf("replace open items: %w", err)
		}
		if _, err := exec(ctx, q, tx.dialect, `UPDATE recon_runs SET status = 'superseded' WHERE channel = ? AND business_date = ? AND status = 'current'`,
			run.Channel, run.BusinessDate); err != nil {
			return fmt.Errorf("supersede run: %w", err)
		}
		if _, err := exec(ctx, q, tx.dialect, `INSERT INTO recon_runs (id, channel, business_date, status, format, file_name, file_sha256,
			statement_rows, matched, missing_internal, missing_channel, amount_mismatch, status_mismatch, fee_mismatch, duplicate,
			pending, totals, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			run.ID, run.Channel, run.BusinessDate, run.Status, run.Format, run.FileName, run.FileSHA256, run.StatementRows,
			run.Matched, run.MissingInternal, run.MissingChannel, run.AmountMismatch, run.StatusMismatch, run.FeeMismatch,
			run.Duplicate, run.Pending, run.Totals, Now(run.StartedAt), Now(run.FinishedAt)); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		ins := newItemInserter(ctx, tx)
		mark := newMarker(ctx, tx, run.ID, now)
		if res.Each != nil {
			err := res.Each(func(it ReconItem) error {
				it.RunID, it.Channel, it.BusinessDate = run.ID, run.Channel, run.BusinessDate
				it.State, it.Resolution, it.ResolvedBy, it.ResolutionNote, it.ResolvedAt = ReconOpen, "", "", "", sql.NullTime{}
				if p, ok := carried[it.sameAs()]; ok {
					it.State, it.Resolution, it.ResolvedBy, it.ResolvedAt = ReconResolved, p.Resolution, p.ResolvedBy, p.ResolvedAt
					it.ResolutionNote = fmt.Sprintf("%s (carried over from item %d)", p.ResolutionNote, p.ID)
				}
				if it.hasInternal() {
					ref := ReconRef{Refund: it.Kind == "refund", ID: it.PaymentID}
					if ref.Refund {
						ref.ID = it.RefundID
					}
					if err := mark.add(ref, it.State == ReconResolved && ResolutionReconciles(it.Resolution, it.Class)); err != nil {
						return err
					}
				}
				return ins.add(it)
			}, func(r ReconRef) error { return mark.add(r, true) })
			if err != nil {
				return err
			}
		}
		if err := ins.flush(); err != nil {
			return err
		}
		if err := mark.flush(); err != nil {
			return err
		}
		if res.Turned == nil {
			return nil
		}
		return autoResolve(ctx, tx, run, res.Turned(), now)
	})
	if err != nil {
		return fmt.Errorf("save reconciliation run %s: %w", run.ID, err)
	}
	return nil
}

// autoResolve settles open pending items of other dates of the run's channel for turned.
func autoResolve(ctx context.Context, tx *Tx, run ReconRun, turned []ReconRef, now time.Time) error {
	note := fmt.Sprintf("re-checked by run %s of %s", run.ID, run.BusinessDate)
	for start := 0; start < len(turned); start += reconBatch {
		end := min(start+reconBatch, len(turned))
		var pays, refs []string
		for _, r := range turned[start:end] {
			if r.Refund {
				refs = append(refs, r.ID)
			} else {
				pays = append(pays, r.ID)
			}
		}
		for _, c := range []struct {
			col string
			ids []string
		}{{"payment_id", pays}, {"refund_id", refs}} {
			if len(c.ids) == 0 {
				continue
			}
			kind := "payment"
			if c.col == "refund_id" {
				kind = "refund"
			}
			args := []any{now, note, run.Channel, run.BusinessDate, kind}
			if _, err := exec(ctx, tx.tx, tx.dialect, `UPDATE recon_items SET state = 'resolved', resolution = 'auto',
				resolved_by = 'reconcile', resolved_at = ?, resolution_note = ?
				WHERE channel = ? AND business_date <> ? AND class = 'pending' AND state = 'open' AND kind = ?
				AND `+c.col+` IN (`+placeholders(len(c.ids))+`)`, appendStrings(args, c.ids)...); err != nil {
				return fmt.Errorf("resolve pending items: %w", err)
			}
		}
	}
	return nil
}

var reconItemCols = []string{"run_id", "channel", "business_date", "class", "kind", "payment_id", "refund_id", "merchant_id",
	"channel_trade_no", "channel_refund_no", "currency", "internal_amount", "channel_amount", "internal_fee", "channel_fee",
	"internal_status", "channel_status", "trade_time", "line", "note", "state", "resolution", "resolved_by", "resolved_at",
	"resolution_note"}

// itemInserter writes items as multi-row INSERTs of reconBatch rows, one prepared statement
// for the full batches.
type itemInserter struct {
	ctx  context.Context
	tx   *Tx
	args []any
	n    int
	full *sql.Stmt
}

func newItemInserter(ctx context.Context, tx *Tx) *itemInserter {
	return &itemInserter{ctx: ctx, tx: tx, args: make([]any, 0, reconBatch*len(reconItemCols))}
}

func (w *itemInserter) add(it ReconItem) error {
	w.args = append(w.args, it.RunID, it.Channel, it.BusinessDate, it.Class, it.Kind, it.PaymentID, it.RefundID, it.MerchantID,
		it.ChannelTradeNo, it.ChannelRefundNo, it.Currency, it.InternalAmount, it.ChannelAmount, it.InternalFee, it.ChannelFee,
		it.InternalStatus, it.ChannelStatus, nullTime(timePtr(it.TradeTime)), it.Line, capText(it.Note, MaxNoteText), it.State, it.Resolution,
		it.ResolvedBy, nullTime(timePtr(it.ResolvedAt)), capText(it.ResolutionNote, MaxNoteText))
	w.n++
	if w.n == reconBatch {
		return w.flush()
	}
	return nil
}

func multiInsert(table string, cols []string, n int) string {
	row := "(" + placeholders(len(cols)) + ")"
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

func (w *itemInserter) flush() error {
	if w.n == 0 {
		return nil
	}
	var err error
	if w.n == reconBatch {
		if w.full == nil {
			w.full, err = w.tx.tx.PrepareContext(w.ctx, w.tx.Rebind(multiInsert("recon_items", reconItemCols, reconBatch)))
			if err != nil {
				return fmt.Errorf("prepare insert items: %w", translate(err))
			}
		}
		_, err = w.full.ExecContext(w.ctx, w.args...)
	} else {
		_, err = w.tx.tx.ExecContext(w.ctx, w.tx.Rebind(multiInsert("recon_items", reconItemCols, w.n)), w.args...)
	}
	if err != nil {
		return fmt.Errorf("insert items: %w", translate(err))
	}
	w.args, w.n = w.args[:0], 0
	return nil
}

// marker records payments and refunds as reconciled (a recon_matches row) or not (none), in
// batches: on PostgreSQL one statement per markBatchPG ids passed as an array; on SQLite
// prepared multi-row statements of markBatchSQLite rows.
type marker struct {
	ctx   context.Context
	tx    *Tx
	now   time.Time
	runID string
	// ids to mark (index 1) and to unmark (index 0)
	ids  [2][]string
	full [2]*sql.Stmt
}

const (
	markBatchPG     = 50000
	markBatchSQLite = 500
)

func newMarker(ctx context.Context, tx *Tx, runID string, now time.Time) *marker {
	return &marker{ctx: ctx, tx: tx, now: now, runID: runID}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *marker) batch() int {
	if m.tx.dialect == Postgres {
		return markBatchPG
	}
	return markBatchSQLite
}

func (m *marker) add(r ReconRef, on bool) error {
	o := b2i(on)
	m.ids[o] = append(m.ids[o], r.ID)
	if len(m.ids[o]) >= m.batch() {
		return m.flushOne(o)
	}
	return nil
}

// markSQL is the statement that marks (on) or unmarks n ids.
func (m *marker) markSQL(on bool, n int) string {
	if m.tx.dialect == Postgres {
		if on {
			return `INSERT INTO recon_matches (object_id, run_id, reconciled_at) SELECT unnest($1::text[]), $2, $3
				ON CONFLICT (object_id) DO NOTHING`
		}
		return `DELETE FROM recon_matches WHERE object_id = ANY($1)`
	}
	if on {
		return multiInsert("recon_matches", []string{"object_id", "run_id", "reconciled_at"}, n) +
			` ON CONFLICT (object_id) DO NOTHING`
	}
	return `DELETE FROM recon_matches WHERE object_id IN (` + placeholders(n) + `)`
}

func (m *marker) flushOne(o int) error {
	ids := m.ids[o]
	if len(ids) == 0 {
		return nil
	}
	on := o == 1
	var args []any
	if m.tx.dialect == Postgres {
		args = []any{ids}
		if on {
			args = append(args, m.runID, Now(m.now))
		}
	} else {
		args = make([]any, 0, 3*len(ids))
		now := Now(m.now)
		for _, id := range ids {
			if on {
				args = append(args, id, m.runID, now)
			} else {
				args = append(args, id)
			}
		}
	}
	var err error
	if len(ids) == m.batch() || m.tx.dialect == Postgres {
		if m.full[o] == nil {
			m.full[o], err = m.tx.tx.PrepareContext(m.ctx, m.markSQL(on, len(ids)))
			if err != nil {
				return fmt.Errorf("prepare reconciled marks: %w", translate(err))
			}
		}
		_, err = m.full[o].ExecContext(m.ctx, args...)
	} else {
		_, err = m.tx.tx.ExecContext(m.ctx, m.markSQL(on, len(ids)), args...)
	}
	if err != nil {
		return fmt.Errorf("mark reconciled: %w", translate(err))
	}
	m.ids[o] = ids[:0]
	return nil
}

func (m *marker) flush() error {
	// Unmark first: an id both unmarked and marked in one batch ends marked.
	for _, o := range []int{0, 1} {
		if err := m.flushOne(o); err != nil {
			return err
		}
	}
	return nil
}

// ReconRunExists reports whether channel has a current run for date.
func (s *Store) ReconRunExists(ctx context.Context, channel, date string) (bool, error) {
	var n int
	if err := get(ctx, s.db, s.dialect, &n, `SELECT COUNT(*) FROM recon_runs WHERE channel = ? AND business_date = ? AND status = 'current'`,
		channel, date); err != nil {
		return false, fmt.Errorf("recon run %s %s: %w", channel, date, err)
	}
	return n > 0, nil
}

// OpenReconPending lists the open pending items of channel on dates other than date.
func (s *Store) OpenReconPending(ctx context.Context, channel, date string) ([]ReconItem, error) {
	var out []ReconItem
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT * FROM recon_items WHERE channel = ? AND state = 'open' AND class = 'pending'
		AND business_date <> ? ORDER BY id`, channel, date); err != nil {
		return nil, fmt.Errorf("open pending items of %s: %w", channel, err)
	}
	return out, nil
}

// ReconRunFilter selects runs for ListReconRuns; zero fields match everything.
type ReconRunFilter struct {
	Channel      string
	BusinessDate string
	CurrentOnly  bool
	Limit        int // default 50
}

// ListReconRuns lists runs, newest first.
func (s *Store) ListReconRuns(ctx context.Context, f ReconRunFilter) ([]ReconRun, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Channel != "" {
		where, args = append(where, "channel = ?"), append(args, f.Channel)
	}
	if f.BusinessDate != "" {
		where, args = append(where, "business_date = ?"), append(args, f.BusinessDate)
	}
	if f.CurrentOnly {
		where = append(where, "status = 'current'")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []ReconRun
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT * FROM recon_runs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY started_at DESC, id DESC LIMIT `+strconv.Itoa(f.Limit), args...); err != nil {
		return nil, fmt.Errorf("list recon runs: %w", err)
	}
	for i := range out {
		out[i].StartedAt, out[i].FinishedAt = out[i].StartedAt.UTC(), out[i].FinishedAt.UTC()
	}
	return out, nil
}

// ReconItemFilter selects items for ListReconItems; zero fields match everything.
type ReconItemFilter struct {
	RunID        string
	Channel      string
	BusinessDate string
	OpenOnly     bool
	Limit        int // 0 = no limit
}

// ListReconItems lists items in id order.
func (s *Store) ListReconItems(ctx context.Context, f ReconItemFilter) ([]ReconItem, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.RunID != "" {
		where, args = append(where, "run_id = ?"), append(args, f.RunID)
	}
	if f.Channel != "" {
		where, args = append(where, "channel = ?"), append(args, f.Channel)
	}
	if f.BusinessDate != "" {
		where, args = append(where, "business_date = ?"), append(args, f.BusinessDate)
	}
	if f.OpenOnly {
		where = append(where, "state = 'open'")
	}
	q := `SELECT * FROM recon_items WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	var out []ReconItem
	if err := sel(ctx, s.db, s.dialect, &out, q, args...); err != nil {
		return nil, fmt.Errorf("list recon items: %w", err)
	}
	return out, nil
}

// reconItemPage is how many items EachReconItem reads per query.
const reconItemPage = 5000

// EachReconItem calls fn with every item the filter selects (Limit is ignored), in id order, one
// page of reconItemPage items at a time (keyset on id), so that the items of a run of a million
// discrepancies are never all in memory and no query stays open while fn runs.
func (s *Store) EachReconItem(ctx context.Context, f ReconItemFilter, fn func(ReconItem) error) error {
	where, args := []string{"id > ?"}, []any{int64(0)}
	if f.RunID != "" {
		where, args = append(where, "run_id = ?"), append(args, f.RunID)
	}
	if f.Channel != "" {
		where, args = append(where, "channel = ?"), append(args, f.Channel)
	}
	if f.BusinessDate != "" {
		where, args = append(where, "business_date = ?"), append(args, f.BusinessDate)
	}
	if f.OpenOnly {
		where = append(where, "state = 'open'")
	}
	q := `SELECT * FROM recon_items WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ` + strconv.Itoa(reconItemPage)
	var page []ReconItem
	for {
		page = page[:0]
		if err := sel(ctx, s.db, s.dialect, &page, q, args...); err != nil {
			return fmt.Errorf("list recon items: %w", err)
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page) < reconItemPage {
			return nil
		}
		args[0] = page[len(page)-1].ID
	}
}

// CountOpenReconDiscrepancies counts a run's items that are open and not pending: what
// `reconcile --fail-on-discrepancy` looks at.
func (s *Store) CountOpenReconDiscrepancies(ctx context.Context, runID string) (int64, error) {
	var n int64
	if err := get(ctx, s.db, s.dialect, &n, `SELECT COUNT(*) FROM recon_items WHERE run_id = ? AND state = 'open' AND class <> 'pending'`, runID); err != nil {
		return 0, fmt.Errorf("count recon items: %w", err)
	}
	return n, nil
}

// GetReconItem returns one item; ErrNotFound if there is none.
func (s *Store) GetReconItem(ctx context.Context, id int64) (ReconItem, error) {
	var it ReconItem
	if err := get(ctx, s.db, s.dialect, &it, `SELECT * FROM recon_items WHERE id = ?`, id); err != nil {
		return it, fmt.Errorf("recon item %d: %w", id, err)
	}
	return it, nil
}

// ResolveReconItem records an operator's resolution of an open item (compare-and-set on its
// open state: ErrConflict when it is no longer open), runs apply (if not nil: the state change the
// resolution implies, e.g. outcome.ApplyPaymentTx) and marks the internal side reconciled when
// reconcile is true, all in one transaction.
func (s *Store) ResolveReconItem(ctx context.Context, id int64, resolution, by, note string, reconcile bool, now time.Time,
	apply func(tx *Tx, it ReconItem) error) (ReconItem, error) {
	var it ReconItem
	err := s.Transact(ctx, func(tx *Tx) error {
		n, err := exec(ctx, tx.tx, tx.dialect, `UPDATE recon_items SET state = 'resolved', resolution = ?, resolved_by = ?,
			resolved_at = ?, resolution_note = ? WHERE id = ? AND state = 'open'`, resolution, by, Now(now), capText(note, MaxNoteText), id)
		if err != nil {
			return err
		}
		if err := get(ctx, tx.tx, tx.dialect, &it, `SELECT * FROM recon_items WHERE id = ?`, id); err != nil {
			return err
		}
		if n == 0 {
			return ErrConflict
		}
		if apply != nil {
			if err := apply(tx, it); err != nil {
				return err
			}
		}
		if reconcile && it.hasInternal() {
			m := newMarker(ctx, tx, it.RunID, Now(now))
			ref := ReconRef{Refund: it.Kind == "refund", ID: it.PaymentID}
			if ref.Refund {
				ref.ID = it.RefundID
			}
			if err := m.add(ref, true); err != nil {
				return err
			}
			return m.flush()
		}
		return nil
	})
	if err != nil {
		return it, fmt.Errorf("resolve recon item %d: %w", id, err)
	}
	return it, nil
}

// ReconciledAt returns when a payment (refund false) or refund was marked reconciled (its
// recon_matches row); null when it is not.
func (s *Store) ReconciledAt(ctx context.Context, refund bool, id string) (sql.NullTime, error) {
	var ts []time.Time
	if err := sel(ctx, s.db, s.dialect, &ts, `SELECT reconciled_at FROM recon_matches WHERE object_id = ?`, id); err != nil {
		return sql.NullTime{}, fmt.Errorf("reconciled_at of %s: %w", id, err)
	}
	if len(ts) == 0 {
		return sql.NullTime{}, nil
	}
	return sql.NullTime{Time: ts[0].UTC(), Valid: true}, nil
}

// ReconSeedPayment is a payment (and its refunds) written directly by SeedReconPayments, for tests,
// demos and benchmarks of the batch side; it bypasses the gateway.
type ReconSeedPayment struct {
	ID, MerchantID, Channel, ChannelTradeNo, Currency, Status string
	Amount                                                    int64
	CreatedAt                                                 time.Time
	PaidAt                                                    time.Time // zero unless paid
	Refunds                                                   []ReconSeedRefund
}

// ReconSeedRefund is a refund of a ReconSeedPayment.
type ReconSeedRefund struct {
	ID, ChannelRefundNo, Status string
	Amount                      int64
	CreatedAt, SucceededAt      time.Time // SucceededAt zero unless succeeded
}

// SeedReconPayments bulk-inserts payments and refunds in multi-row statements, in transactions of
// about 10,000 payments; business dates are computed in loc.
func (s *Store) SeedReconPayments(ctx context.Context, ps []ReconSeedPayment, loc *time.Location) error {
	payCols := []string{"id", "merchant_id", "out_trade_no", "amount", "currency", "pay_method", "request_hash", "status",
		"channel", "channel_trade_no", "refund_reserved", "refunded_amount", "created_at", "updated_at", "paid_at", "business_date"}
	refCols := []string{"id", "payment_id", "merchant_id", "out_refund_no", "amount", "currency", "request_hash", "status",
		"channel", "channel_refund_no", "created_at", "updated_at", "succeeded_at", "business_date"}
	const per = 500
	for start := 0; start < len(ps); start += 20 * per {
		chunk := ps[start:min(start+20*per, len(ps))]
		err := s.Transact(ctx, func(tx *Tx) error {
			for b := 0; b < len(chunk); b += per {
				batch := chunk[b:min(b+per, len(chunk))]
				var args, rargs, pend []any
				nref := 0
				for _, p := range batch {
					var refunded int64
					for _, r := range p.Refunds {
						if r.Status != "failed" {
							refunded += r.Amount
						}
						var bd any
						if !r.SucceededAt.IsZero() {
							bd = r.SucceededAt.In(loc).Format("2006-01-02")
						}
						rargs = append(rargs, r.ID, p.ID, p.MerchantID, r.ID, r.Amount, p.Currency, "seed", r.Status, p.Channel,
							r.ChannelRefundNo, Now(r.CreatedAt), Now(r.CreatedAt), nullTime(&r.SucceededAt), bd)
						nref++
						if r.Status == "succeeded" && bd != nil {
							pend = append(pend, p.MerchantID, "refund", bd, r.ID, r.ID, p.Currency, r.Amount, Now(r.SucceededAt))
						}
					}
					var bd any
					if !p.PaidAt.IsZero() {
						bd = p.PaidAt.In(loc).Format("2006-01-02")
					}
					args = append(args, p.ID, p.MerchantID, p.ID, p.Amount, p.Currency, "wallet_qr", "seed", p.Status, p.Channel,
						p.ChannelTradeNo, refunded, reconSucceededRefunds(p), Now(p.CreatedAt), Now(p.CreatedAt), nullTime(&p.PaidAt), bd)
					if (p.Status == "succeeded" || p.Status == "partially_refunded" || p.Status == "refunded") && bd != nil {
						pend = append(pend, p.MerchantID, "payment", bd, p.ID, p.ID, p.Currency, p.Amount, Now(p.PaidAt))
					}
				}
				if _, err := tx.tx.ExecContext(ctx, tx.Rebind(multiInsert("payments", payCols, len(batch))), args...); err != nil {
					return fmt.Errorf("insert payments: %w", translate(err))
				}
				for r := 0; r < nref; r += per {
					n := min(per, nref-r)
					if _, err := tx.tx.ExecContext(ctx, tx.Rebind(multiInsert("refunds", refCols, n)),
						rargs[r*len(refCols):(r+n)*len(refCols)]...); err != nil {
						return fmt.Errorf("insert refunds: %w", translate(err))
					}
				}
				w := len(pendingCols)
				for r := 0; r < len(pend)/w; r += per {
					n := min(per, len(pend)/w-r)
					if _, err := tx.tx.ExecContext(ctx, tx.Rebind(multiInsert("settle_pending", pendingCols, n)),
						pend[r*w:(r+n)*w]...); err != nil {
						return fmt.Errorf("insert pending settlement: %w", translate(err))
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed payments: %w", err)
		}
	}
	return nil
}

func reconSucceededRefunds(p ReconSeedPayment) int64 {
	var n int64
	for _, r := range p.Refunds {
		if r.Status == "succeeded" {
			n += r.Amount
		}
	}
	return n
}

// ResolutionReconciles reports whether resolving an item of class with resolution makes its
// transaction reconciled (eligible for settlement). Accepting the channel's side of a
// missing_channel item (短款: the channel never collected) does not: the money was not received,
// so it must never be paid out. Resolve and a re-run carrying a resolution over both use it.
func ResolutionReconciles(resolution, class string) bool {
	return !(resolution == ReconAcceptChannel && class == "missing_channel")
}
