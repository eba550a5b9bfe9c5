package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"

	"github.com/paygw/paygw/internal/paygw"
)

// WriteSetResult is what one write set of ApplyPaymentWriteSets came to: as ApplyPaymentWriteSet
// returns it.
type WriteSetResult struct {
	Payment paygw.Payment
	Moved   bool
	Err     error
}

// ApplyPaymentWriteSets writes several payments' write sets, each exactly as ApplyPaymentWriteSet
// would (each moves or not on its own compare-and-set), and returns their results in order. On
// PostgreSQL the sets go in one statement — one round trip, one commit, one executor start-up
// for them all — when they name distinct payments and none gives daily-cap room back; otherwise,
// and on SQLite, each set is applied on its own. A statement the database refuses (a constraint
// of one set) is retried set by set, so each set gets its own error and the others still apply;
// an error that leaves the statement's fate unknown (a lost connection) is every set's answer.
func (s *Store) ApplyPaymentWriteSets(ctx context.Context, wss []PaymentWriteSet) []WriteSetResult {
	res := make([]WriteSetResult, len(wss))
	done := make([]bool, len(wss))
	if s.dialect.writableCTE() {
		var group []int
		seen := make(map[string]bool, len(wss))
		for i, ws := range wss {
			if batchable(ws) && !seen[ws.PaymentID] {
				seen[ws.PaymentID] = true
				group = append(group, i)
			}
		}
		if len(group) > 1 {
			sub := make([]PaymentWriteSet, len(group))
			for k, i := range group {
				sub[k] = wss[i]
			}
			subRes := make([]WriteSetResult, len(group))
			if err := s.applyWriteSetsPostgres(ctx, sub, subRes); err != nil {
				if refused(err) {
					s.outcomeCounts.fallbacks.Add(1) // nothing was written: each alone, below
				} else { // maybe written: say so, do not write again
					for _, i := range group {
						res[i], done[i] = WriteSetResult{Err: err}, true
					}
				}
			} else {
				s.outcomeCounts.wrote(len(sub))
				for k, i := range group {
					res[i], done[i] = subRes[k], true
				}
			}
		}
	}
	for i, ws := range wss {
		if !done[i] {
			res[i].Payment, res[i].Moved, res[i].Err = s.applyOne(ctx, ws)
		}
	}
	return res
}

// applyOne writes ws on its own: on PostgreSQL as its single statement, on SQLite as its
// primitives in one transaction of the group-commit writer.
func (s *Store) applyOne(ctx context.Context, ws PaymentWriteSet) (p paygw.Payment, moved bool, err error) {
	if ws.Transition.Version == 0 {
		return p, false, errors.New("payment write set: the snapshot's version is required")
	}
	if !s.dialect.writableCTE() {
		err = s.Transact(ctx, func(tx *Tx) (err error) {
			p, moved, err = tx.applyWriteSet(ctx, ws)
			return err
		})
		return p, moved, err
	}
	if len(ws.Transition.From) == 0 {
		return p, false, errors.New("payment write set: no status to move from")
	}
	return s.applyWriteSetPostgres(ctx, ws)
}

// batchable reports whether ws can share a statement with others: it has a snapshot version,
// its attempt and notification are the payment's own, and it gives no daily-cap room back (that
// UPDATE guards each release on its own; failures and closes are the rare outcomes). Two sets of
// one payment never share one: an UPDATE … FROM moves a row once.
func batchable(ws PaymentWriteSet) bool {
	if tr := ws.Transition; tr.Version == 0 || len(tr.From) == 0 || ws.ReleaseCap != nil || (tr.PaidAt != nil && tr.PaidAt.IsZero()) {
		return false
	}
	if a := ws.Attempt; a != nil && (a.PaymentID != ws.PaymentID || a.RefundID != "") {
		return false
	}
	if sp := ws.Settle; sp != nil && sp.ObjectID != ws.PaymentID {
		return false
	}
	n := ws.Notification
	return n == nil || (n.ID != "" && n.MerchantID != "" && n.Type != "" && !n.CreatedAt.IsZero() &&
		n.PaymentID == ws.PaymentID && n.RefundID == "")
}

// writeSetsSQL is the statement of a batch: every part takes its rows from arrays (the text is
// the same for any batch size, so it is prepared once) and writes only the rows of payments the
// compare-and-set moved (JOIN u). The balance changes of all journals are summed per balance row
// and applied in key order, so two batches never wait on each other's rows in opposite orders.
// The settlement markers are plain inserts: a payment moves to success once, so its marker is
// new, and a plain insert skips the speculative insertion ON CONFLICT makes (an extra index
// probe and a WAL record a row). Should one exist after all, the database refuses the batch and
// each set is written alone by the single statement, whose insert does have ON CONFLICT DO NOTHING.
const writeSetsSQL = `WITH v AS (
	SELECT * FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::boolean[], ?::timestamptz[], ?::text[],
		?::text[], ?::timestamptz[]) AS v(v_id, v_version, v_from, v_to, v_ctn, v_paid, v_paid_at, v_bdate, v_fail, v_at)
), u AS (
	UPDATE payments SET status = v_to,
		channel_trade_no = CASE WHEN v_ctn <> '' THEN v_ctn ELSE channel_trade_no END,
		paid_at = CASE WHEN v_paid THEN v_paid_at ELSE paid_at END,
		business_date = CASE WHEN v_paid THEN v_bdate ELSE business_date END,
		fail_reason = v_fail, next_query_at = NULL, updated_at = v_at, version = version + 1
	FROM v WHERE id = v_id AND version = v_version AND strpos(v_from, ',' || status || ',') > 0
	RETURNING ` + paymentCols + `
), a AS (
	INSERT INTO channel_attempts (payment_id, refund_id, channel, operation, outcome, error, latency_ms, started_at, finished_at)
	SELECT x.payment_id, NULL, x.channel, x.operation, x.outcome, x.error, x.latency_ms, x.started_at, x.finished_at
	FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::timestamptz[], ?::timestamptz[])
		AS x(payment_id, channel, operation, outcome, error, latency_ms, started_at, finished_at)
), acc AS (
	INSERT INTO ledger_accounts (name, currency, created_at)
	SELECT x.name, x.currency, min(x.created_at) FROM unnest(?::text[], ?::text[], ?::timestamptz[], ?::text[])
		AS x(name, currency, created_at, pid) JOIN u ON u.id = x.pid
	GROUP BY x.name, x.currency ORDER BY x.name, x.currency
	ON CONFLICT (name, currency) DO NOTHING
), j AS (
	INSERT INTO ledger_journals (id, kind, ref_id, created_at)
	SELECT x.id, x.kind, x.ref_id, x.created_at FROM unnest(?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::text[])
		AS x(id, kind, ref_id, created_at, pid) JOIN u ON u.id = x.pid
), p AS (
	INSERT INTO ledger_postings (journal_id, account, currency, amount)
	SELECT x.journal_id, x.account, x.currency, x.amount FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[])
		AS x(journal_id, account, currency, amount, pid) JOIN u ON u.id = x.pid
), b AS (
	INSERT INTO ledger_balances (account, currency, shard, balance)
	SELECT x.account, x.currency, x.shard, sum(x.amount)::bigint FROM unnest(?::text[], ?::text[], ?::integer[], ?::bigint[], ?::text[])
		AS x(account, currency, shard, amount, pid) JOIN u ON u.id = x.pid
	GROUP BY x.account, x.currency, x.shard ORDER BY x.account, x.currency, x.shard
	ON CONFLICT (account, currency, shard) DO UPDATE SET balance = ledger_balances.balance + excluded.balance
), s AS (
	INSERT INTO settle_pending (merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at)
	SELECT x.merchant_id, x.kind, x.business_date, x.object_id, x.out_no, x.currency, x.amount, x.done_at
	FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::timestamptz[])
		AS x(merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at) JOIN u ON u.id = x.object_id
), n AS (
	INSERT INTO notifications (id, merchant_id, object_id, payment_id, refund_id, type, url, body, status,
		attempts, next_attempt_at, created_at, updated_at)
	SELECT x.id, m.id, x.payment_id, x.payment_id, '', x.type, COALESCE(NULLIF(x.url, ''), m.notify_url), x.body, 'pending',
		0, x.created_at, x.created_at, x.created_at
	FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[])
		AS x(id, merchant_id, payment_id, type, url, body, created_at)
	JOIN u ON u.id = x.payment_id JOIN merchants m ON m.id = x.merchant_id
	WHERE COALESCE(NULLIF(x.url, ''), m.notify_url) <> ''
)
SELECT ` + paymentCols + ` FROM u`

// writeSetArgs collects the columns of a batch, one slice per array parameter.
type writeSetArgs struct {
	vID, vFrom, vTo, vCtn, vBdate, vFail []string
	vVersion                             []int64
	vPaid                                []bool
	vPaidAt, vAt                         []time.Time
	aPay, aChan, aOp, aOut, aErr         []string
	aLat                                 []int64
	aStart, aFin                         []time.Time
	accName, accCur, accPid              []string
	accAt                                []time.Time
	jID, jKind, jRef, jPid               []string
	jAt                                  []time.Time
	pJnl, pAcc, pCur, pPid               []string
	pAmt                                 []int64
	bAcc, bCur, bPid                     []string
	bShard                               []int32
	bAmt                                 []int64
	sMer, sKind, sDate, sObj, sOut, sCur []string
	sAmt                                 []int64
	sDone                                []time.Time
	nID, nMer, nPay, nType, nURL, nBody  []string
	nAt                                  []time.Time
}

func (w *writeSetArgs) args() []any {
	return []any{
		w.vID, w.vVersion, w.vFrom, w.vTo, w.vCtn, w.vPaid, w.vPaidAt, w.vBdate, w.vFail, w.vAt,
		w.aPay, w.aChan, w.aOp, w.aOut, w.aErr, w.aLat, w.aStart, w.aFin,
		w.accName, w.accCur, w.accAt, w.accPid,
		w.jID, w.jKind, w.jRef, w.jAt, w.jPid,
		w.pJnl, w.pAcc, w.pCur, w.pAmt, w.pPid,
		w.bAcc, w.bCur, w.bShard, w.bAmt, w.bPid,
		w.sMer, w.sKind, w.sDate, w.sObj, w.sOut, w.sCur, w.sAmt, w.sDone,
		w.nID, w.nMer, w.nPay, w.nType, w.nURL, w.nBody, w.nAt,
	}
}

// writeSetsArgs builds writeSetsSQL's arrays for wss, the sets in payment id order, and each
// set's journal plan (by its index in wss).
func (s *Store) writeSetsArgs(wss []PaymentWriteSet) (writeSetArgs, []journalPlan, error) {
	var w writeSetArgs
	plans := make([]journalPlan, len(wss))
	shard := -1 // every journal of the batch on one balance shard: one balance row per account, not one per journal
	// The statement locks the payments' rows in the order of its arrays (its plan drives the
	// update from them), then the balance rows in key order. In payment id order, two statements
	// (two replicas', whose batches may share a payment: one's outcome, the other's callback)
	// cannot each hold a row the other waits for. Were a plan ever to lock in another order,
	// PostgreSQL's deadlock detection would refuse one statement and its sets would be written
	// one by one: slower, not wrong.
	order := make([]int, len(wss))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(wss[a].PaymentID, wss[b].PaymentID) })
	for _, i := range order {
		ws := wss[i]
		tr := ws.Transition
		from := ","
		for _, st := range tr.From {
			from += string(st) + ","
		}
		var paidAt time.Time
		if tr.PaidAt != nil && !tr.PaidAt.IsZero() {
			paidAt = Now(*tr.PaidAt)
		}
		w.vID, w.vVersion, w.vFrom, w.vTo = append(w.vID, ws.PaymentID), append(w.vVersion, tr.Version), append(w.vFrom, from), append(w.vTo, string(tr.To))
		w.vCtn, w.vPaid, w.vPaidAt = append(w.vCtn, tr.ChannelTradeNo), append(w.vPaid, !paidAt.IsZero()), append(w.vPaidAt, paidAt)
		w.vBdate, w.vFail, w.vAt = append(w.vBdate, tr.BusinessDate), append(w.vFail, tr.FailReason), append(w.vAt, Now(tr.At))
		if a := ws.Attempt; a != nil {
			w.aPay, w.aChan, w.aOp, w.aOut = append(w.aPay, a.PaymentID), append(w.aChan, a.Channel), append(w.aOp, a.Operation), append(w.aOut, a.Outcome)
			w.aErr, w.aLat = append(w.aErr, a.Error), append(w.aLat, a.Latency.Milliseconds())
			w.aStart, w.aFin = append(w.aStart, Now(a.StartedAt)), append(w.aFin, Now(a.FinishedAt))
		}
		if j := ws.Journal; j != nil {
			jp, err := planJournal(&s.accounts, s.dialect, *j)
			if err != nil {
				return w, nil, notSent{err}
			}
			if shard < 0 {
				shard = jp.shard
			}
			jp.shard = shard
			plans[i] = jp
			for _, p := range jp.newAccounts {
				w.accName, w.accCur, w.accAt, w.accPid = append(w.accName, p.Account), append(w.accCur, string(p.Currency)), append(w.accAt, Now(ws.Now)), append(w.accPid, ws.PaymentID)
			}
			w.jID, w.jKind, w.jRef, w.jAt, w.jPid = append(w.jID, jp.id), append(w.jKind, j.Kind), append(w.jRef, j.RefID), append(w.jAt, Now(ws.Now)), append(w.jPid, ws.PaymentID)
			for _, p := range jp.postings {
				w.pJnl, w.pAcc, w.pCur, w.pAmt, w.pPid = append(w.pJnl, jp.id), append(w.pAcc, p.Account), append(w.pCur, string(p.Currency)), append(w.pAmt, p.Amount), append(w.pPid, ws.PaymentID)
			}
			for _, p := range jp.bal {
				w.bAcc, w.bCur, w.bShard, w.bAmt, w.bPid = append(w.bAcc, p.Account), append(w.bCur, string(p.Currency)), append(w.bShard, int32(shard)), append(w.bAmt, p.Amount), append(w.bPid, ws.PaymentID)
			}
		}
		if sp := ws.Settle; sp != nil {
			w.sMer, w.sKind, w.sDate, w.sObj = append(w.sMer, sp.MerchantID), append(w.sKind, sp.Kind), append(w.sDate, sp.BusinessDate), append(w.sObj, sp.ObjectID)
			w.sOut, w.sCur, w.sAmt, w.sDone = append(w.sOut, sp.OutNo), append(w.sCur, sp.Currency), append(w.sAmt, sp.Amount), append(w.sDone, Now(sp.DoneAt))
		}
		if n := ws.Notification; n != nil {
			w.nID, w.nMer, w.nPay, w.nType = append(w.nID, n.ID), append(w.nMer, n.MerchantID), append(w.nPay, n.PaymentID), append(w.nType, n.Type)
			w.nURL, w.nBody, w.nAt = append(w.nURL, n.URL), append(w.nBody, string(n.Body)), append(w.nAt, Now(n.CreatedAt))
		}
	}
	return w, plans, nil
}

// applyWriteSetsPostgres writes wss (each batchable, distinct payments) in one statement and
// fills res; on an error res is untouched (refused(err): nothing was written).
func (s *Store) applyWriteSetsPostgres(ctx context.Context, wss []PaymentWriteSet, res []WriteSetResult) error {
	w, plans, err := s.writeSetsArgs(wss)
	if err != nil {
		return err
	}
	var rows []paymentRow
	err = s.autocommit(ctx, func(ctx context.Context) error {
		rows = rows[:0]
		return sel(ctx, s.db, s.dialect, &rows, s.outcomeStmts.sql(), w.args()...)
	}, attribute.Int("db.batch_size", len(wss)))
	if err != nil {
		return fmt.Errorf("apply outcomes of %d payments: %w", len(wss), err)
	}
	byID := make(map[string]paymentRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	for i, ws := range wss {
		r, moved := byID[ws.PaymentID]
		if moved {
			res[i].Payment, res[i].Moved = r.domain(), true
			plans[i].remember() // committed with the statement
		}
	}
	return nil
}

// maxWriteSetBatch bounds a statement's outcomes: its arrays and the rows it locks at once.
const maxWriteSetBatch = 64

// refused reports whether err is the database's refusal of a statement (a PostgreSQL error: the
// statement wrote nothing), as opposed to an error that leaves its fate unknown (a connection
// lost after the commit was sent).
func refused(err error) bool {
	var pe *pgconn.PgError
	var ns notSent
	return errors.As(err, &pe) || errors.As(err, &ns)
}

// notSent is an error found before a statement was sent (a set that cannot be planned).
type notSent struct{ error }

func (e notSent) Unwrap() error { return e.error }
