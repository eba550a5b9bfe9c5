package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

type paymentRow struct {
	ID             string         `db:"id"`
	MerchantID     string         `db:"merchant_id"`
	OutTradeNo     string         `db:"out_trade_no"`
	Amount         int64          `db:"amount"`
	Currency       string         `db:"currency"`
	PayMethod      string         `db:"pay_method"`
	Subject        string         `db:"subject"`
	NotifyURL      string         `db:"notify_url"`
	ReturnURL      string         `db:"return_url"`
	ExpiresAt      sql.NullTime   `db:"expires_at"`
	AgreementID    sql.NullString `db:"agreement_id"`
	Metadata       string         `db:"metadata"`
	RequestHash    string         `db:"request_hash"`
	Status         string         `db:"status"`
	Channel        string         `db:"channel"`
	ChannelTradeNo string         `db:"channel_trade_no"`
	PayURL         string         `db:"pay_url"`
	NextAction     string         `db:"next_action"`
	RefundReserved int64          `db:"refund_reserved"`
	RefundedAmount int64          `db:"refunded_amount"`
	PayerAccount   string         `db:"payer_account"`
	ClientIP       string         `db:"client_ip"`
	FailReason     string         `db:"fail_reason"`
	CreatedAt      time.Time      `db:"created_at"`
	UpdatedAt      time.Time      `db:"updated_at"`
	PaidAt         sql.NullTime   `db:"paid_at"`
	BusinessDate   sql.NullString `db:"business_date"`
	NextQueryAt    sql.NullTime   `db:"next_query_at"`
	QueryCount     int            `db:"query_count"`
	Version        int64          `db:"version"`
}

const paymentCols = `id, merchant_id, out_trade_no, amount, currency, pay_method, subject, notify_url, return_url,
	expires_at, agreement_id, metadata, request_hash, status, channel, channel_trade_no, pay_url, refund_reserved,
	refunded_amount, payer_account, client_ip, fail_reason, created_at, updated_at, paid_at, business_date,
	next_query_at, query_count, version, next_action`

func (r paymentRow) domain() paygw.Payment {
	p := paygw.Payment{
		ID: r.ID, MerchantID: r.MerchantID, OutTradeNo: r.OutTradeNo, Amount: r.Amount,
		Currency: money.Currency(r.Currency), PayMethod: paygw.PayMethod(r.PayMethod), Subject: r.Subject,
		NotifyURL: r.NotifyURL, ReturnURL: r.ReturnURL, ExpiresAt: timePtr(r.ExpiresAt), AgreementID: r.AgreementID.String,
		RequestHash: r.RequestHash, Status: paygw.PaymentStatus(r.Status), Channel: r.Channel,
		ChannelTradeNo: r.ChannelTradeNo, PayURL: r.PayURL, NextAction: nextActionOf(r.NextAction), RefundedAmount: r.RefundedAmount,
		PayerAccount: r.PayerAccount, ClientIP: r.ClientIP, FailReason: r.FailReason,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), PaidAt: timePtr(r.PaidAt),
		BusinessDate: r.BusinessDate.String, NextQueryAt: timePtr(r.NextQueryAt), QueryCount: r.QueryCount,
		Version: r.Version,
	}
	if r.Metadata != "" {
		p.Metadata = json.RawMessage(r.Metadata)
	}
	return p
}

// ErrAgreementInactive: a payment by a method that needs an agreement (withhold, quick pay) was
// not recorded because its agreement is not active as the insert ran (terminated meanwhile, or
// not the merchant's). Nothing was written, not even the request's nonce.
var ErrAgreementInactive = errors.New("the payment's agreement is not active")

// activeAgreementSQL is true when a payment's agreement is active: arguments agreement id and
// merchant id. The inserts of a payment by a method that needs an agreement check it in the
// statement (or the transaction) that inserts the payment, so a gateway may keep agreements it
// read in memory and still never take a payment on one terminated since.
const activeAgreementSQL = `EXISTS (SELECT 1 FROM agreements WHERE id = ? AND merchant_id = ? AND status = 'active')`

// InsertPayment records a new payment. A second payment with the same (merchant, out_trade_no)
// fails with IsUnique(err, PaymentOutTradeNoKey...); one whose method needs an agreement that
// is not active, with ErrAgreementInactive.
func (t *Tx) InsertPayment(ctx context.Context, p paygw.Payment) error {
	if err := t.requireActiveAgreement(ctx, p); err != nil {
		return err
	}
	return t.insertPayment(ctx, p)
}

// requireActiveAgreement returns ErrAgreementInactive unless p's method needs no agreement or
// its agreement is active.
func (t *Tx) requireActiveAgreement(ctx context.Context, p paygw.Payment) error {
	if !p.PayMethod.NeedsAgreement() {
		return nil
	}
	var ok bool
	if err := get(ctx, t.tx, t.dialect, &ok, `SELECT `+activeAgreementSQL, p.AgreementID, p.MerchantID); err != nil {
		return fmt.Errorf("insert payment %s: agreement: %w", p.ID, err)
	}
	if !ok {
		return fmt.Errorf("insert payment %s: agreement %q: %w", p.ID, p.AgreementID, ErrAgreementInactive)
	}
	return nil
}

func (t *Tx) insertPayment(ctx context.Context, p paygw.Payment) error {
	_, err := exec(ctx, t.tx, t.dialect, `INSERT INTO payments (id, merchant_id, out_trade_no, amount, currency, pay_method,
		subject, notify_url, return_url, expires_at, agreement_id, metadata, request_hash, status, channel, payer_account,
		client_ip, created_at, updated_at, next_query_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.MerchantID, p.OutTradeNo, p.Amount, string(p.Currency), string(p.PayMethod), p.Subject, p.NotifyURL,
		p.ReturnURL, nullTime(p.ExpiresAt), nullString(p.AgreementID), string(p.Metadata), p.RequestHash, string(p.Status),
		p.Channel, p.PayerAccount, p.ClientIP, Now(p.CreatedAt), Now(p.CreatedAt), nullTime(p.NextQueryAt))
	if err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	return nil
}

// PaymentOutTradeNoKey names the unique key on (merchant_id, out_trade_no) in both dialects.
var PaymentOutTradeNoKey = []string{"payments_merchant_out_trade_no", "payments.merchant_id, payments.out_trade_no"}

// GetPayment returns a payment by id or ErrNotFound.
func (s *Store) GetPayment(ctx context.Context, id string) (paygw.Payment, error) {
	return getPayment(ctx, s.db, s.dialect, `WHERE id = ?`, id)
}

// GetMerchantPayment returns a merchant's own payment by id; another merchant's is ErrNotFound.
func (s *Store) GetMerchantPayment(ctx context.Context, merchantID, id string) (paygw.Payment, error) {
	return getPayment(ctx, s.db, s.dialect, `WHERE id = ? AND merchant_id = ?`, id, merchantID)
}

// GetPaymentByOutTradeNo returns a merchant's payment by its out_trade_no.
func (s *Store) GetPaymentByOutTradeNo(ctx context.Context, merchantID, outTradeNo string) (paygw.Payment, error) {
	return getPayment(ctx, s.db, s.dialect, `WHERE merchant_id = ? AND out_trade_no = ?`, merchantID, outTradeNo)
}

func getPayment(ctx context.Context, q queryer, d Dialect, where string, args ...any) (paygw.Payment, error) {
	var r paymentRow
	if err := get(ctx, q, d, &r, `SELECT `+paymentCols+` FROM payments `+where, args...); err != nil {
		return paygw.Payment{}, fmt.Errorf("get payment: %w", err)
	}
	return r.domain(), nil
}

// ChannelUpdate is what a channel's first answer sets on a created payment.
type ChannelUpdate struct {
	Channel        string
	ChannelTradeNo string
	PayURL         string
	NextAction     *paygw.NextAction
	Status         paygw.PaymentStatus // processing (awaiting payer or unknown outcome)
	NextQueryAt    *time.Time
	Attempt        *ChannelAttempt // the call that produced this answer, recorded in the same transaction
}

// MarkPaymentSent moves a created payment to processing with the channel's answer,
// compare-and-set on status created: a callback that already finished it wins.
func (s *Store) MarkPaymentSent(ctx context.Context, id string, u ChannelUpdate, now time.Time) (bool, error) {
	var n int64
	err := s.Transact(ctx, func(tx *Tx) error {
		var err error
		n, err = exec(ctx, tx.tx, tx.dialect, `UPDATE payments SET status = ?, channel = ?,
			channel_trade_no = CASE WHEN ? <> '' THEN ? ELSE channel_trade_no END, pay_url = ?, next_action = ?,
			next_query_at = ?, updated_at = ?, version = version + 1 WHERE id = ? AND status = 'created'`,
			string(u.Status), u.Channel, u.ChannelTradeNo, u.ChannelTradeNo, u.PayURL, nextActionText(u.NextAction),
			nullTime(u.NextQueryAt), Now(now), id)
		if err != nil {
			return err
		}
		if u.Attempt != nil {
			return recordAttempt(ctx, tx.tx, tx.dialect, *u.Attempt)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("mark payment sent %s: %w", id, err)
	}
	return n == 1, nil
}

// SwitchPaymentChannel records that a created payment is being retried on another channel
// after a definite failure of the previous one.
func (s *Store) SwitchPaymentChannel(ctx context.Context, id, channel string, now time.Time) error {
	n, err := exec(ctx, s.db, s.dialect, `UPDATE payments SET channel = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND status = 'created'`, channel, Now(now), id)
	if err != nil {
		return fmt.Errorf("switch payment channel %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("switch payment channel %s: %w", id, ErrConflict)
	}
	return nil
}

// ClaimDuePayments takes up to limit payments in created/processing whose next active query is
// due, oldest due first, and moves their next query to now+lease in the same statement: sweepers
// of several replicas running at once each query a due payment once (PostgreSQL skips rows
// another claimer is taking; SQLite's single writer serialises claimers). The sweep then sets
// the real next query; a payment whose claimer died is due again when the lease ends.
//
// On PostgreSQL the claim runs in a transaction that reads through indexes (selectIndexed): every
// payment leaves payments_next_query when it finishes, and the planner, with no statistics or
// stale ones, chose a sequential scan of the whole payments table for it — every second, on
// every replica, a cost that grew with history (26 ms at 24 k payments; BENCHMARKS.md, issue 12,
// seventh round).
func (s *Store) ClaimDuePayments(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]paygw.Payment, error) {
	if limit <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim due payments: limit and lease must be positive")
	}
	q, args := s.claimDuePayments(now, limit, lease)
	var rows []paymentRow
	err := s.Transact(ctx, func(tx *Tx) error { return selectIndexed(ctx, tx, &rows, q, args...) })
	if err != nil {
		return nil, fmt.Errorf("claim due payments: %w", err)
	}
	out := make([]paygw.Payment, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// claimDuePayments is ClaimDuePayments' statement and its arguments.
func (s *Store) claimDuePayments(now time.Time, limit int, lease time.Duration) (string, []any) {
	return `UPDATE payments SET next_query_at = ? WHERE id IN (
			SELECT id FROM payments
			WHERE next_query_at IS NOT NULL AND next_query_at <= ? AND status IN ('created', 'processing')
			ORDER BY next_query_at LIMIT ?` + s.dialect.skipLocked() + `
		) RETURNING ` + paymentCols, []any{Now(now.Add(lease)), Now(now), limit}
}

// SchedulePaymentQuery sets the next active query of an unfinished payment (nil: none).
func (s *Store) SchedulePaymentQuery(ctx context.Context, id string, next *time.Time, count int, now time.Time) error {
	_, err := exec(ctx, s.db, s.dialect, `UPDATE payments SET next_query_at = ?, query_count = ?, updated_at = ?
		WHERE id = ? AND status IN ('created', 'processing')`, nullTime(next), count, Now(now), id)
	if err != nil {
		return fmt.Errorf("schedule payment query %s: %w", id, err)
	}
	return nil
}

// PayerCount counts a payer's payments (by masked account or token) created since from.
func (s *Store) PayerCount(ctx context.Context, merchantID, payer string, from time.Time) (int, error) {
	var n int
	err := get(ctx, s.db, s.dialect, &n, `SELECT COUNT(*) FROM payments WHERE merchant_id = ? AND payer_account = ? AND created_at >= ?`,
		merchantID, payer, Now(from))
	if err != nil {
		return 0, fmt.Errorf("payer count: %w", err)
	}
	return n, nil
}

// NonceUse is a request nonce to record with the write it authorises.
type NonceUse struct {
	MerchantID, Nonce string
	Expires           time.Time
}

// InsertPaymentWithNonce is Store.InsertPaymentWithNonce inside a transaction (the agreement's
// check, the nonce, then the payment): fresh=false and nothing written when the nonce was used.
func (t *Tx) InsertPaymentWithNonce(ctx context.Context, p paygw.Payment, n *NonceUse, now time.Time) (fresh bool, err error) {
	if err := t.requireActiveAgreement(ctx, p); err != nil {
		return false, err
	}
	if n != nil {
		if fresh, err = t.UseNonce(ctx, n.MerchantID, n.Nonce, n.Expires, now); err != nil || !fresh {
			return fresh, err
		}
	}
	return true, t.insertPayment(ctx, p)
}

// InsertPaymentWithNonce records a new payment and, when n is not nil, the request's nonce,
// atomically: fresh=false (and nothing written) when the nonce was already used. On PostgreSQL
// it is one statement (the payment is inserted only if the nonce insert returned its row): one
// round trip and one commit. A duplicate (merchant, out_trade_no) fails with IsUnique and
// records no nonce; a payment whose method needs an agreement that is not active, with
// ErrAgreementInactive and nothing written.
//
// On PostgreSQL the creates that arrive together share one statement (insertPaymentsWithNonces).
func (s *Store) InsertPaymentWithNonce(ctx context.Context, p paygw.Payment, n *NonceUse, now time.Time) (fresh bool, err error) {
	if !s.dialect.writableCTE() || n == nil {
		err = s.Transact(ctx, func(tx *Tx) (err error) {
			fresh, err = tx.InsertPaymentWithNonce(ctx, p, n, now)
			return err
		})
		return fresh, err
	}
	if s.creates != nil {
		r := s.creates.do(ctx, createReq{p: p, n: *n, now: now})
		return r.fresh, r.err
	}
	return s.insertPaymentWithNonce(ctx, p, *n, now)
}

// insertPaymentWithNonce is InsertPaymentWithNonce's statement of one payment on PostgreSQL.
func (s *Store) insertPaymentWithNonce(ctx context.Context, p paygw.Payment, n NonceUse, now time.Time) (fresh bool, err error) {
	nargs, err := nonceArgs(n.MerchantID, n.Nonce, n.Expires, now)
	if err != nil {
		return false, err
	}
	args := append([]any{p.PayMethod.NeedsAgreement(), p.AgreementID, p.MerchantID}, nargs...)
	args = append(args, p.ID, p.MerchantID, p.OutTradeNo, p.Amount, string(p.Currency), string(p.PayMethod), p.Subject,
		p.NotifyURL, p.ReturnURL, nullTime(p.ExpiresAt), nullString(p.AgreementID), string(p.Metadata), p.RequestHash,
		string(p.Status), p.Channel, p.PayerAccount, p.ClientIP, Now(p.CreatedAt), Now(p.CreatedAt), nullTime(p.NextQueryAt))
	var ids []string
	err = s.autocommit(ctx, func(ctx context.Context) error {
		ids = ids[:0]
		return sel(ctx, s.db, s.dialect, &ids, createWithNonce, args...)
	})
	if err != nil {
		return false, fmt.Errorf("insert payment: %w", err)
	}
	if len(ids) == 1 && ids[0] == "" {
		return false, fmt.Errorf("insert payment %s: agreement %q: %w", p.ID, p.AgreementID, ErrAgreementInactive)
	}
	return len(ids) == 1, nil
}

// createWithNonce is InsertPaymentWithNonce's statement on PostgreSQL: whether the payment's
// agreement, if its method needs one, is active (g); the nonce's insert if it is; then the
// payment only if the nonce's returned its row. An inactive agreement comes back as an empty id.
var createWithNonce = `WITH g AS (SELECT NOT ?::boolean OR ` + strings.ReplaceAll(activeAgreementSQL, "?", "?::text") + ` AS ok),
	n AS (` + nonceInsertSQL(`?::bigint, ?::text, ?::text, ?::timestamptz`, `(SELECT ok FROM g) AND `) + ` RETURNING 1),
	ins AS (INSERT INTO payments (id, merchant_id, out_trade_no, amount, currency, pay_method,
	subject, notify_url, return_url, expires_at, agreement_id, metadata, request_hash, status, channel, payer_account,
	client_ip, created_at, updated_at, next_query_at)
	SELECT ?::text, ?::text, ?::text, ?::bigint, ?::text, ?::text, ?::text, ?::text, ?::text, ?::timestamptz, ?::text, ?::text,
		?::text, ?::text, ?::text, ?::text, ?::text, ?::timestamptz, ?::timestamptz, ?::timestamptz
	WHERE EXISTS (SELECT 1 FROM n) RETURNING id)
	SELECT id FROM ins UNION ALL SELECT '' FROM g WHERE NOT ok`
