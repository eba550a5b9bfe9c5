package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/trace"
)

// PaymentWriteSet is everything one payment outcome writes, computed in advance by the use case
// from the payment as it last saw it (Transition.Version). The store decides nothing: it writes
// the set if and only if the compare-and-set moves the payment.
type PaymentWriteSet struct {
	PaymentID  string
	Transition PaymentTransition // with Version set: the snapshot the rest was computed from
	// Attempt, when set, is recorded whether or not the payment moves.
	Attempt *ChannelAttempt
	Journal *paygw.Journal
	Settle  *SettlePending
	// ReleaseCap gives the payment's amount back to its merchant's daily cap.
	ReleaseCap *CapRelease
	// Notification is queued to its URL, or when that is empty to the merchant's default
	// notify URL; to neither when both are empty.
	Notification *paygw.Notification
	Now          time.Time
}

// CapRelease is the daily-cap room a failed or closed payment gives back.
type CapRelease struct {
	PaymentID, MerchantID, Currency string
	Amount                          int64
}

// ApplyPaymentWriteSet writes ws atomically: on PostgreSQL as one statement (data-modifying
// CTEs, every insert conditional on the compare-and-set's row: one round trip, one commit), on
// SQLite as its primitives in one transaction of the group-commit writer. moved=false: the
// payment was no longer at the snapshot (or not in a source status) and only the attempt was
// recorded; the caller recomputes from the current row.
func (s *Store) ApplyPaymentWriteSet(ctx context.Context, ws PaymentWriteSet) (paygw.Payment, bool, error) {
	if s.outcomes != nil {
		r := s.outcomes.do(ctx, ws)
		return r.Payment, r.Moved, r.Err
	}
	return s.applyOne(ctx, ws)
}

func (t *Tx) applyWriteSet(ctx context.Context, ws PaymentWriteSet) (paygw.Payment, bool, error) {
	if ws.Attempt != nil {
		if err := t.RecordAttempt(ctx, *ws.Attempt); err != nil {
			return paygw.Payment{}, false, err
		}
	}
	p, moved, err := t.TransitionPayment(ctx, ws.PaymentID, ws.Transition)
	if err != nil || !moved {
		return p, false, err
	}
	if err := t.WritePaymentEffects(ctx, ws); err != nil {
		return p, false, err
	}
	return p, true, nil
}

// applyWriteSetPostgres builds the one statement: u is the compare-and-set; every other part
// inserts only when u returned the row (FROM u, or WHERE EXISTS (SELECT 1 FROM u)). Foreign keys
// are checked at the end of the statement, so postings may name the journal and accounts
// inserted beside them. Parameters are typed by casts: in a SELECT list they have no column to
// take a type from.
func (s *Store) applyWriteSetPostgres(ctx context.Context, ws PaymentWriteSet) (paygw.Payment, bool, error) {
	var parts []string
	var args []any
	add := func(name, q string, a ...any) {
		parts = append(parts, name+" AS ("+q+")")
		args = append(args, a...)
	}
	uq, ua := transitionSQL(ws.PaymentID, ws.Transition)
	add("u", uq+" RETURNING "+paymentCols, ua...)
	if a := ws.Attempt; a != nil {
		add("a", `INSERT INTO channel_attempts (payment_id, refund_id, channel, operation, outcome, error,
			latency_ms, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			nullString(a.PaymentID), nullString(a.RefundID), a.Channel, a.Operation, a.Outcome, a.Error,
			a.Latency.Milliseconds(), Now(a.StartedAt), Now(a.FinishedAt))
	}
	var jp journalPlan
	if j := ws.Journal; j != nil {
		var err error
		if jp, err = planJournal(&s.accounts, s.dialect, *j); err != nil {
			return paygw.Payment{}, false, err
		}
		if len(jp.newAccounts) > 0 {
			add("acc", `INSERT INTO ledger_accounts (name, currency, created_at) SELECT * FROM (VALUES `+
				typedValues(len(jp.newAccounts), "text", "text", "timestamptz")+`) v WHERE EXISTS (SELECT 1 FROM u)
				ON CONFLICT (name, currency) DO NOTHING`, jp.accountArgs(ws.Now)...)
		}
		add("j", `INSERT INTO ledger_journals (id, kind, ref_id, created_at) SELECT ?::text, ?::text, ?::text, ?::timestamptz FROM u`,
			jp.id, j.Kind, j.RefID, Now(ws.Now))
		add("b", `INSERT INTO ledger_balances (account, currency, shard, balance) SELECT * FROM (VALUES `+
			typedValues(len(jp.bal), "text", "text", "integer", "bigint")+`) v WHERE EXISTS (SELECT 1 FROM u)
			ON CONFLICT (account, currency, shard) DO UPDATE SET balance = ledger_balances.balance + excluded.balance`, jp.balanceArgs()...)
		add("p", `INSERT INTO ledger_postings (journal_id, account, currency, amount) SELECT * FROM (VALUES `+
			typedValues(len(jp.postings), "text", "text", "text", "bigint")+`) v WHERE EXISTS (SELECT 1 FROM u)`, jp.postingArgs()...)
	}
	if sp := ws.Settle; sp != nil {
		add("s", `INSERT INTO settle_pending (merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at)
			SELECT ?::text, ?::text, ?::text, ?::text, ?::text, ?::text, ?::bigint, ?::timestamptz FROM u ON CONFLICT DO NOTHING`,
			sp.MerchantID, sp.Kind, sp.BusinessDate, sp.ObjectID, sp.OutNo, sp.Currency, sp.Amount, Now(sp.DoneAt))
	}
	if c := ws.ReleaseCap; c != nil {
		add("c", `UPDATE risk_daily_totals SET amount = amount - ?::bigint
			WHERE merchant_id = ?::text AND currency = ?::text AND amount >= ?::bigint
				AND business_date = (SELECT cap_date FROM payments WHERE id = ?::text) AND EXISTS (SELECT 1 FROM u)`,
			c.Amount, c.MerchantID, c.Currency, c.Amount, c.PaymentID)
	}
	if n := ws.Notification; n != nil {
		if n.ID == "" || n.MerchantID == "" || n.Type == "" || n.CreatedAt.IsZero() || n.PaymentID == "" || n.RefundID != "" {
			return paygw.Payment{}, false, fmt.Errorf("payment write set: notification needs id, merchant, type, created_at and the payment")
		}
		add("n", `INSERT INTO notifications (id, merchant_id, object_id, payment_id, refund_id, type, url, body, status,
			attempts, next_attempt_at, created_at, updated_at)
			SELECT ?::text, m.id, ?::text, ?::text, '', ?::text, COALESCE(NULLIF(?::text, ''), m.notify_url), ?::text, 'pending',
				0, ?::timestamptz, ?::timestamptz, ?::timestamptz
			FROM merchants m WHERE m.id = ?::text AND COALESCE(NULLIF(?::text, ''), m.notify_url) <> '' AND EXISTS (SELECT 1 FROM u)`,
			n.ID, n.PaymentID, n.PaymentID, n.Type, n.URL, string(n.Body), Now(n.CreatedAt), Now(n.CreatedAt), Now(n.CreatedAt),
			n.MerchantID, n.URL)
	}
	var rows []paymentRow
	if err := s.autocommit(ctx, func(ctx context.Context) error {
		rows = rows[:0]
		return sel(ctx, s.db, s.dialect, &rows, "WITH "+strings.Join(parts, ", ")+" SELECT "+paymentCols+" FROM u", args...)
	}); err != nil {
		return paygw.Payment{}, false, fmt.Errorf("apply outcome of payment %s: %w", ws.PaymentID, err)
	}
	if len(rows) == 0 {
		return paygw.Payment{}, false, nil
	}
	jp.remember() // committed: the statement ran in its own transaction
	return rows[0].domain(), true, nil
}

// typedValues renders n rows of cast placeholders: (?::text, ?::bigint), (…).
func typedValues(n int, types ...string) string {
	cells := make([]string, len(types))
	for i, t := range types {
		cells[i] = "?::" + t
	}
	row := "(" + strings.Join(cells, ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// autocommit runs one statement that is its own transaction (PostgreSQL, outside Transact):
// traced as a database transaction (with attrs besides the usual) and retried like one (a failed
// statement changed nothing).
func (s *Store) autocommit(ctx context.Context, fn func(ctx context.Context) error, attrs ...attribute.KeyValue) (err error) {
	ctx, span := trace.Start(ctx, "db.transact", append([]attribute.KeyValue{attribute.String("db.system", string(s.dialect)),
		attribute.Bool("db.single_statement", true)}, attrs...)...)
	defer func() { trace.End(span, err) }()
	for attempt := 0; attempt < 5; attempt++ {
		err = fn(ctx)
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// WritePaymentEffects writes what a payment's move brings with it, from ws: the journal, the
// settlement marker, the daily cap's room back, and the notification (to the merchant's default
// notify URL when it has none; without either there is nothing to deliver). The move itself and
// the attempt are the caller's.
func (t *Tx) WritePaymentEffects(ctx context.Context, ws PaymentWriteSet) error {
	if ws.Journal != nil {
		if err := t.PostJournal(ctx, *ws.Journal, ws.Now); err != nil {
			return err
		}
	}
	if ws.Settle != nil {
		if err := t.PendSettlement(ctx, *ws.Settle); err != nil {
			return err
		}
	}
	if c := ws.ReleaseCap; c != nil {
		if err := t.ReleaseDailyCap(ctx, c.PaymentID, c.MerchantID, c.Currency, c.Amount); err != nil {
			return err
		}
	}
	if n := ws.Notification; n != nil {
		return t.QueueNotification(ctx, *n)
	}
	return nil
}

// QueueNotification inserts n, to the merchant's default notify URL when n has none; without
// either there is nothing to deliver and nothing is written.
func (t *Tx) QueueNotification(ctx context.Context, n paygw.Notification) error {
	if n.URL == "" {
		var err error
		if n.URL, err = t.MerchantNotifyURL(ctx, n.MerchantID); err != nil {
			return err
		}
		if n.URL == "" {
			return nil
		}
	}
	return t.InsertNotification(ctx, n)
}
