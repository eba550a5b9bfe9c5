package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/paygw"
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
	At              time.Time // paid_at / succeeded_at; zero when not succeeded
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
	if s.dialect.timesAsText() {
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
	return `(SELECT COALESCE(` + s.dialect.stringAgg("r2.amount", "r2.succeeded_at, r2.id") + `, '') ` + where + `)`
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
	if s.dialect.timesAsText() {
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
		if t0.Valid {
			t.At = t0.Time.UTC()
		}
		if atText.Valid {
			tm, perr := parseSQLiteTime(atText.String)
			if perr != nil {
				return fmt.Errorf("payment %s refund %s: %w", t.PaymentID, t.RefundID, perr)
			}
			t.At = tm
		}
		t.Reconciled = rec != 0
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

// reconRunRow is a recon_runs row.
type reconRunRow struct {
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
	Totals          string    `db:"totals"`
	StartedAt       time.Time `db:"started_at"`
	FinishedAt      time.Time `db:"finished_at"`
}

func (r reconRunRow) domain() paygw.ReconRun {
	return paygw.ReconRun{ID: r.ID, Channel: r.Channel, BusinessDate: r.BusinessDate, Status: paygw.ReconRunStatus(r.Status),
		Format: r.Format, FileName: r.FileName, FileSHA256: r.FileSHA256, StatementRows: r.StatementRows,
		Counts: map[paygw.ReconClass]int64{paygw.ReconMatched: r.Matched, paygw.ReconMissingInternal: r.MissingInternal,
			paygw.ReconMissingChannel: r.MissingChannel, paygw.ReconAmountMismatch: r.AmountMismatch,
			paygw.ReconStatusMismatch: r.StatusMismatch, paygw.ReconFeeMismatch: r.FeeMismatch,
			paygw.ReconDuplicate: r.Duplicate, paygw.ReconPending: r.Pending},
		Totals: r.Totals, StartedAt: r.StartedAt.UTC(), FinishedAt: r.FinishedAt.UTC()}
}

// reconItemRow is a recon_items row.
type reconItemRow struct {
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

func (r *reconItemRow) domain() paygw.ReconItem {
	return paygw.ReconItem{ID: r.ID, RunID: r.RunID, Channel: r.Channel, BusinessDate: r.BusinessDate,
		Class: paygw.ReconClass(r.Class), Kind: paygw.ObjectKind(r.Kind), PaymentID: r.PaymentID, RefundID: r.RefundID,
		MerchantID: r.MerchantID, ChannelTradeNo: r.ChannelTradeNo, ChannelRefundNo: r.ChannelRefundNo, Currency: r.Currency,
		InternalAmount: r.InternalAmount, ChannelAmount: r.ChannelAmount, InternalFee: r.InternalFee, ChannelFee: r.ChannelFee,
		InternalStatus: r.InternalStatus, ChannelStatus: r.ChannelStatus, TradeTime: timePtr(r.TradeTime), Line: r.Line,
		Note: r.Note, State: paygw.ReconItemState(r.State), Resolution: paygw.ReconResolution(r.Resolution),
		ResolvedBy: r.ResolvedBy, ResolvedAt: timePtr(r.ResolvedAt), ResolutionNote: r.ResolutionNote}
}

func reconItems(rows []reconItemRow) []paygw.ReconItem {
	if rows == nil {
		return nil
	}
	out := make([]paygw.ReconItem, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out
}

// ReconRef names one payment (Refund false) or refund by id.
type ReconRef struct {
	Refund bool
	ID     string
}

const reconBatch = 400

// ResolvedReconItems returns the resolved items of channel's current run of date (none when
// there is no run yet), for a re-run to carry their resolutions over.
func (t *Tx) ResolvedReconItems(ctx context.Context, channel, date string) ([]paygw.ReconItem, error) {
	var rows []reconItemRow
	if err := sel(ctx, t.tx, t.dialect, &rows, `SELECT i.* FROM recon_items i JOIN recon_runs r ON r.id = i.run_id
		WHERE r.channel = ? AND r.business_date = ? AND r.status = 'current' AND i.state = 'resolved'`,
		channel, date); err != nil {
		return nil, fmt.Errorf("previous resolutions: %w", err)
	}
	return reconItems(rows), nil
}

// SupersedeReconRun deletes the open items of channel's current run of date and marks that run
// superseded; its resolved items stay, as the record of what was decided.
func (t *Tx) SupersedeReconRun(ctx context.Context, channel, date string) error {
	if _, err := exec(ctx, t.tx, t.dialect, `DELETE FROM recon_items WHERE state = 'open' AND run_id IN
		(SELECT id FROM recon_runs WHERE channel = ? AND business_date = ? AND status = 'current')`, channel, date); err != nil {
		return fmt.Errorf("replace open items: %w", err)
	}
	if _, err := exec(ctx, t.tx, t.dialect, `UPDATE recon_runs SET status = 'superseded' WHERE channel = ? AND business_date = ? AND status = 'current'`,
		channel, date); err != nil {
		return fmt.Errorf("supersede run: %w", err)
	}
	return nil
}

// InsertReconRun inserts a run; the unique index on the current run of a channel and date
// refuses a second one (supersede the previous run first).
func (t *Tx) InsertReconRun(ctx context.Context, run paygw.ReconRun) error {
	if _, err := exec(ctx, t.tx, t.dialect, `INSERT INTO recon_runs (id, channel, business_date, status, format, file_name, file_sha256,
		statement_rows, matched, missing_internal, missing_channel, amount_mismatch, status_mismatch, fee_mismatch, duplicate,
		pending, totals, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, run.Channel, run.BusinessDate, string(run.Status), run.Format, run.FileName, run.FileSHA256, run.StatementRows,
		run.Count(paygw.ReconMatched), run.Count(paygw.ReconMissingInternal), run.Count(paygw.ReconMissingChannel),
		run.Count(paygw.ReconAmountMismatch), run.Count(paygw.ReconStatusMismatch), run.Count(paygw.ReconFeeMismatch),
		run.Count(paygw.ReconDuplicate), run.Count(paygw.ReconPending), run.Totals, Now(run.StartedAt), Now(run.FinishedAt)); err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	return nil
}

// ReconWriter writes a run's items and reconciled marks inside a transaction, in multi-row
// batches; Flush writes what is left. A million items never sit in memory at once.
type ReconWriter struct {
	ins  *itemInserter
	mark *marker
}

// NewReconWriter returns a writer for run runID; marks are stamped now.
func (t *Tx) NewReconWriter(ctx context.Context, runID string, now time.Time) *ReconWriter {
	return &ReconWriter{ins: newItemInserter(ctx, t), mark: newMarker(ctx, t, runID, Now(now))}
}

// Item queues one item, stored as given (run, state and resolution included).
func (w *ReconWriter) Item(it paygw.ReconItem) error { return w.ins.add(it) }

// Mark queues r to be marked reconciled (on) or not: a recon_matches row or none. Of an id both
// unmarked and marked before a flush, the mark wins.
func (w *ReconWriter) Mark(r ReconRef, on bool) error { return w.mark.add(r, on) }

// Flush writes the queued items, then the queued marks.
func (w *ReconWriter) Flush() error {
	if err := w.ins.flush(); err != nil {
		return err
	}
	return w.mark.flush()
}

// ResolveOpenReconItems resolves the open items of class on channel, of dates other than
// exceptDate, whose payment or refund refs names, with resolution, by and note.
func (t *Tx) ResolveOpenReconItems(ctx context.Context, channel, exceptDate string, class paygw.ReconClass, refs []ReconRef,
	resolution paygw.ReconResolution, by, note string, now time.Time) error {
	for start := 0; start < len(refs); start += reconBatch {
		end := min(start+reconBatch, len(refs))
		var pays, rfs []string
		for _, r := range refs[start:end] {
			if r.Refund {
				rfs = append(rfs, r.ID)
			} else {
				pays = append(pays, r.ID)
			}
		}
		for _, c := range []struct {
			col  string
			kind paygw.ObjectKind
			ids  []string
		}{{"payment_id", paygw.ObjectPayment, pays}, {"refund_id", paygw.ObjectRefund, rfs}} {
			if len(c.ids) == 0 {
				continue
			}
			args := []any{string(resolution), by, Now(now), capText(note, MaxNoteText), channel, exceptDate, string(class), string(c.kind)}
			if _, err := exec(ctx, t.tx, t.dialect, `UPDATE recon_items SET state = 'resolved', resolution = ?,
				resolved_by = ?, resolved_at = ?, resolution_note = ?
				WHERE channel = ? AND business_date <> ? AND class = ? AND state = 'open' AND kind = ?
				AND `+c.col+` IN (`+placeholders(len(c.ids))+`)`, appendStrings(args, c.ids)...); err != nil {
				return fmt.Errorf("resolve pending items: %w", err)
			}
		}
	}
	return nil
}

// MarkReconciled marks one payment or refund reconciled by run runID (a recon_matches row; kept
// when there is one).
func (t *Tx) MarkReconciled(ctx context.Context, runID string, r ReconRef, now time.Time) error {
	m := newMarker(ctx, t, runID, Now(now))
	if err := m.add(r, true); err != nil {
		return err
	}
	return m.flush()
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

func (w *itemInserter) add(it paygw.ReconItem) error {
	w.args = append(w.args, it.RunID, it.Channel, it.BusinessDate, string(it.Class), string(it.Kind), it.PaymentID, it.RefundID, it.MerchantID,
		it.ChannelTradeNo, it.ChannelRefundNo, it.Currency, it.InternalAmount, it.ChannelAmount, it.InternalFee, it.ChannelFee,
		it.InternalStatus, it.ChannelStatus, nullTime(it.TradeTime), it.Line, capText(it.Note, MaxNoteText), string(it.State), string(it.Resolution),
		it.ResolvedBy, nullTime(it.ResolvedAt), capText(it.ResolutionNote, MaxNoteText))
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
	if m.tx.dialect.bindsArrays() {
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
	if m.tx.dialect.bindsArrays() {
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
	if m.tx.dialect.bindsArrays() {
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
	if len(ids) == m.batch() || m.tx.dialect.bindsArrays() {
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
func (s *Store) OpenReconPending(ctx context.Context, channel, date string) ([]paygw.ReconItem, error) {
	var out []reconItemRow
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT * FROM recon_items WHERE channel = ? AND state = 'open' AND class = 'pending'
		AND business_date <> ? ORDER BY id`, channel, date); err != nil {
		return nil, fmt.Errorf("open pending items of %s: %w", channel, err)
	}
	return reconItems(out), nil
}

// ReconRunFilter selects runs for ListReconRuns; zero fields match everything.
type ReconRunFilter struct {
	Channel      string
	BusinessDate string
	CurrentOnly  bool
	Limit        int // default 50
}

// ListReconRuns lists runs, newest first.
func (s *Store) ListReconRuns(ctx context.Context, f ReconRunFilter) ([]paygw.ReconRun, error) {
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
	var rows []reconRunRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT * FROM recon_runs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY started_at DESC, id DESC LIMIT `+strconv.Itoa(f.Limit), args...); err != nil {
		return nil, fmt.Errorf("list recon runs: %w", err)
	}
	var out []paygw.ReconRun
	for _, r := range rows {
		out = append(out, r.domain())
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
func (s *Store) ListReconItems(ctx context.Context, f ReconItemFilter) ([]paygw.ReconItem, error) {
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
	var out []reconItemRow
	if err := sel(ctx, s.db, s.dialect, &out, q, args...); err != nil {
		return nil, fmt.Errorf("list recon items: %w", err)
	}
	return reconItems(out), nil
}

// reconItemPage is how many items EachReconItem reads per query.
const reconItemPage = 5000

// EachReconItem calls fn with every item the filter selects (Limit is ignored), in id order, one
// page of reconItemPage items at a time (keyset on id), so that the items of a run of a million
// discrepancies are never all in memory and no query stays open while fn runs.
func (s *Store) EachReconItem(ctx context.Context, f ReconItemFilter, fn func(paygw.ReconItem) error) error {
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
	var page []reconItemRow
	for {
		page = page[:0]
		if err := sel(ctx, s.db, s.dialect, &page, q, args...); err != nil {
			return fmt.Errorf("list recon items: %w", err)
		}
		for i := range page {
			if err := fn(page[i].domain()); err != nil {
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
func (s *Store) GetReconItem(ctx context.Context, id int64) (paygw.ReconItem, error) {
	var it reconItemRow
	if err := get(ctx, s.db, s.dialect, &it, `SELECT * FROM recon_items WHERE id = ?`, id); err != nil {
		return paygw.ReconItem{}, fmt.Errorf("recon item %d: %w", id, err)
	}
	return it.domain(), nil
}

// ResolveReconItem records an operator's resolution of an open item (compare-and-set on its
// open state: ErrConflict when it is no longer open) and runs apply (if not nil: what the
// resolution implies, e.g. outcome.ApplyPaymentTx and Tx.MarkReconciled), in one transaction.
func (s *Store) ResolveReconItem(ctx context.Context, id int64, resolution paygw.ReconResolution, by, note string,
	now time.Time, apply func(tx *Tx, it paygw.ReconItem) error) (paygw.ReconItem, error) {
	var it paygw.ReconItem
	err := s.Transact(ctx, func(tx *Tx) error {
		n, err := exec(ctx, tx.tx, tx.dialect, `UPDATE recon_items SET state = 'resolved', resolution = ?, resolved_by = ?,
			resolved_at = ?, resolution_note = ? WHERE id = ? AND state = 'open'`, string(resolution), by, Now(now), capText(note, MaxNoteText), id)
		if err != nil {
			return err
		}
		var row reconItemRow
		if err := get(ctx, tx.tx, tx.dialect, &row, `SELECT * FROM recon_items WHERE id = ?`, id); err != nil {
			return err
		}
		it = row.domain()
		if n == 0 {
			return ErrConflict
		}
		if apply != nil {
			return apply(tx, it)
		}
		return nil
	})
	if err != nil {
		return it, fmt.Errorf("resolve recon item %d: %w", id, err)
	}
	return it, nil
}

// ReconciledAt returns when a payment (refund false) or refund was marked reconciled (its
// recon_matches row); nil when it is not.
func (s *Store) ReconciledAt(ctx context.Context, refund bool, id string) (*time.Time, error) {
	var ts []time.Time
	if err := sel(ctx, s.db, s.dialect, &ts, `SELECT reconciled_at FROM recon_matches WHERE object_id = ?`, id); err != nil {
		return nil, fmt.Errorf("reconciled_at of %s: %w", id, err)
	}
	if len(ts) == 0 {
		return nil, nil
	}
	t := ts[0].UTC()
	return &t, nil
}
