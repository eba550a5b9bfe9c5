package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/paygw/paygw/internal/paygw"
)

// createReq is one InsertPaymentWithNonce waiting for its statement.
type createReq struct {
	p   paygw.Payment
	n   NonceUse
	now time.Time
}

type createRes struct {
	fresh bool
	err   error
}

// maxCreateBatch bounds a create statement's payments.
const maxCreateBatch = 64

// createKeys keeps two uses of one nonce, and two creates of one out_trade_no, out of one
// statement and out of statements running at once: within a statement neither would see the
// other's row (both payments of one nonce would be inserted), and the second of one out_trade_no
// would make the database refuse the whole statement.
func createKeys(r createReq) []string {
	return []string{"nonce\x00" + r.n.MerchantID + "\x00" + r.n.Nonce, "out\x00" + r.p.MerchantID + "\x00" + r.p.OutTradeNo}
}

// insertPaymentsWithNonces writes the creates of a batch, each as InsertPaymentWithNonce would:
// on PostgreSQL a batch of one in its own statement, of several in one statement (each payment
// inserted only if its nonce was). A nonce whose expiry is out of bounds or that is another
// merchant's fails alone, and a retry of an out_trade_no is answered alone. A statement of
// several that the database refuses changes nothing and is retried create by create, so each
// gets its own answer; any other error (the connection lost, perhaps after the commit) is every
// create's answer.
func (s *Store) insertPaymentsWithNonces(ctx context.Context, reqs []createReq) []createRes {
	res := make([]createRes, len(reqs))
	var group []int
	for i, r := range reqs {
		if _, err := nonceArgs(r.n.MerchantID, r.n.Nonce, r.n.Expires, r.now); err != nil {
			res[i].err = err
			continue
		}
		if r.p.MerchantID != r.n.MerchantID {
			res[i].err = fmt.Errorf("insert payment %s: the nonce is merchant %s's, the payment %s's", r.p.ID, r.n.MerchantID, r.p.MerchantID)
			continue
		}
		group = append(group, i)
	}
	if len(group) > 1 && s.dialect.writableCTE() {
		sub := make([]createReq, len(group))
		for k, i := range group {
			sub[k] = reqs[i]
		}
		fresh, alone, err := s.insertPaymentsPostgres(ctx, sub)
		switch {
		case err == nil:
			s.createCounts.wrote(len(sub))
			var again []int
			for k, i := range group {
				res[i].fresh = fresh[k]
				if alone[k] {
					again = append(again, i)
				}
			}
			group = again // retries of an out_trade_no, inactive agreements: answered alone
		case refused(err):
			s.createCounts.fallbacks.Add(1) // nothing was written: each alone
		default:
			for _, i := range group { // maybe written: say so, do not write again
				res[i].err = err
			}
			return res
		}
	}
	for _, i := range group {
		r := reqs[i]
		if s.dialect.writableCTE() {
			res[i].fresh, res[i].err = s.insertPaymentWithNonce(ctx, r.p, r.n, r.now)
			continue
		}
		res[i].err = s.Transact(ctx, func(tx *Tx) (err error) {
			res[i].fresh, err = tx.InsertPaymentWithNonce(ctx, r.p, &r.n, r.now)
			return err
		})
	}
	return res
}

// createsSQL is the statement of a batch of creates: the nonces' insert (createWithNonce's, a row
// per create, each looked for in its own live slots), then the payments whose nonce it returned.
// Taking over an expired nonce of the same slot compares with the batch's earliest now. A create
// whose out_trade_no the merchant has used already (its retry), or whose method needs an
// agreement that is not active, writes nothing and comes back as alone: it is then answered by
// the single statement (a unique error, the idempotent reply; ErrAgreementInactive), without
// making the database refuse the whole batch.
var createsSQL = `WITH x AS (
	SELECT *, EXISTS (SELECT 1 FROM payments p WHERE p.merchant_id = x_mid AND p.out_trade_no = x_out)
		OR (x_need AND NOT EXISTS (SELECT 1 FROM agreements g WHERE g.id = x_agreement AND g.merchant_id = x_mid
			AND g.status = 'active')) AS x_alone
	FROM unnest(?::bigint[], ?::text[], ?::text[], ?::timestamptz[], ?::bigint[], ?::timestamptz[],
		?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::text[],
		?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::boolean[])
	AS x(x_slot, x_mid, x_nonce, x_exp, x_first, x_now,
		x_id, x_out, x_amount, x_currency, x_method, x_subject, x_notify, x_return, x_expires, x_agreement,
		x_metadata, x_hash, x_status, x_channel, x_payer, x_ip, x_created, x_next_query, x_need)
), n AS (
	INSERT INTO auth_nonces (slot, merchant_id, nonce, expires_at)
	SELECT x_slot, x_mid, x_nonce, x_exp FROM x WHERE NOT x_alone AND NOT EXISTS (SELECT 1 FROM auth_nonces a
		WHERE a.slot IN (x_first` + liveSlotOffsets() + `) AND a.merchant_id = x_mid AND a.nonce = x_nonce AND a.expires_at > x_now)
	ON CONFLICT (slot, merchant_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
		WHERE auth_nonces.expires_at <= ?::timestamptz
	RETURNING merchant_id, nonce
), ins AS (
	INSERT INTO payments (id, merchant_id, out_trade_no, amount, currency, pay_method, subject, notify_url, return_url,
		expires_at, agreement_id, metadata, request_hash, status, channel, payer_account, client_ip, created_at, updated_at,
		next_query_at)
	SELECT x_id, x_mid, x_out, x_amount, x_currency, x_method, x_subject, x_notify, x_return, x_expires, x_agreement,
		x_metadata, x_hash, x_status, x_channel, x_payer, x_ip, x_created, x_created, x_next_query
	FROM x JOIN n ON n.merchant_id = x_mid AND n.nonce = x_nonce
	RETURNING id
)
SELECT id, false AS alone FROM ins
UNION ALL
SELECT x_id, true FROM x WHERE x_alone`

// liveSlotOffsets renders ", x_first + 1, …" up to the last live slot.
func liveSlotOffsets() string {
	var b strings.Builder
	for i := 1; i < liveNonceSlots; i++ {
		fmt.Fprintf(&b, ", x_first + %d", i)
	}
	return b.String()
}

// insertPaymentsPostgres runs createsSQL for reqs (each nonce's expiry checked, distinct nonces
// and out_trade_nos) and reports which payments were inserted and which creates' out_trade_no
// was taken already or whose agreement is not active (nothing written for them: alone).
func (s *Store) insertPaymentsPostgres(ctx context.Context, reqs []createReq) (fresh, alone []bool, err error) {
	n := len(reqs)
	var (
		slot, first, amount                                         = make([]int64, n), make([]int64, n), make([]int64, n)
		mid, nonce, id, out, currency, method, subject, notify, ret = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		metadata, hash, status, channel, payer, ip                  = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		agreement                                                   = make([]*string, n)
		need                                                        = make([]bool, n)
		exp, now, created                                           = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		expires, nextQuery                                          = make([]*time.Time, n), make([]*time.Time, n)
		earliest                                                    time.Time
	)
	opt := func(t *time.Time) *time.Time {
		if t == nil || t.IsZero() {
			return nil
		}
		v := Now(*t)
		return &v
	}
	for i, r := range reqs {
		p := r.p
		slot[i], mid[i], nonce[i], exp[i] = nonceSlot(r.n.Expires), r.n.MerchantID, r.n.Nonce, Now(r.n.Expires)
		first[i], now[i] = nonceSlot(r.now), Now(r.now)
		if earliest.IsZero() || now[i].Before(earliest) {
			earliest = now[i]
		}
		id[i], out[i], amount[i], currency[i], method[i] = p.ID, p.OutTradeNo, p.Amount, string(p.Currency), string(p.PayMethod)
		subject[i], notify[i], ret[i], expires[i] = p.Subject, p.NotifyURL, p.ReturnURL, opt(p.ExpiresAt)
		if p.AgreementID != "" {
			a := p.AgreementID
			agreement[i] = &a
		}
		need[i] = p.PayMethod.NeedsAgreement()
		metadata[i], hash[i], status[i], channel[i] = string(p.Metadata), p.RequestHash, string(p.Status), p.Channel
		payer[i], ip[i], created[i], nextQuery[i] = p.PayerAccount, p.ClientIP, Now(p.CreatedAt), opt(p.NextQueryAt)
	}
	var rows []struct {
		ID    string `db:"id"`
		Alone bool   `db:"alone"`
	}
	err = s.autocommit(ctx, func(ctx context.Context) error {
		rows = rows[:0]
		return sel(ctx, s.db, s.dialect, &rows, s.createStmts.sql(), slot, mid, nonce, exp, first, now,
			id, out, amount, currency, method, subject, notify, ret, expires, agreement,
			metadata, hash, status, channel, payer, ip, created, nextQuery, need, earliest)
	}, attribute.Int("db.batch_size", n))
	if err != nil {
		return nil, nil, fmt.Errorf("insert %d payments: %w", n, err)
	}
	inserted, single := make(map[string]bool, len(rows)), make(map[string]bool)
	for _, r := range rows {
		if r.Alone {
			single[r.ID] = true
		} else {
			inserted[r.ID] = true
		}
	}
	fresh, alone = make([]bool, n), make([]bool, n)
	for i := range reqs {
		fresh[i], alone[i] = inserted[id[i]], single[id[i]]
	}
	return fresh, alone, nil
}
