package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// ExplainClaim returns the plans of ClaimNotifications' two statements, the front of the queue
// and the merchants' heads: on SQLite the EXPLAIN QUERY PLAN rows as "id parent detail" (read on
// the writer's connection, where claims run); on PostgreSQL the JSON of EXPLAIN (ANALYZE,
// FORMAT JSON), run in a transaction that is rolled back.
func (s *Store) ExplainClaim(ctx context.Context, o ClaimOptions, now time.Time) (front, heads []string, err error) {
	fq, fargs := s.claimFront(o, now)
	hq, hargs := s.claimHeads(o, now)
	if front, err = s.explain(ctx, fq, fargs); err != nil {
		return nil, nil, err
	}
	heads, err = s.explain(ctx, hq, hargs)
	return front, heads, err
}

// ExplainPurge returns the plan of PurgeDeliveredNotifications' selection (SQLite, where its two
// statements share it) or of its one statement (PostgreSQL, executed and rolled back), as
// ExplainClaim does.
func (s *Store) ExplainPurge(ctx context.Context, before, now time.Time, limit int) ([]string, error) {
	args := []any{Now(before), Now(now), limit}
	if s.dialect.writableCTE() {
		return s.explain(ctx, s.dialect.purgeInOne(), args)
	}
	return s.explain(ctx, s.dialect.purgeable(), args)
}

// ExplainNonce returns the plans of UseNonce's statement and of PurgeNonces', as ExplainClaim
// does.
func (s *Store) ExplainNonce(ctx context.Context, merchantID, nonce string, expires, now time.Time, limit int) (use, purge []string, err error) {
	args, err := nonceArgs(merchantID, nonce, expires, now)
	if err != nil {
		return nil, nil, err
	}
	if use, err = s.explain(ctx, s.dialect.nonceInsert(), args); err != nil {
		return nil, nil, err
	}
	q, pargs := s.dialect.noncePurge(now, nonceKey{}, limit)
	purge, err = s.explain(ctx, q, pargs)
	return use, purge, err
}

// ExplainDuePayments returns the plan of ClaimDuePayments' statement as it runs (on PostgreSQL
// in a transaction that prefers indexes), as ExplainClaim does.
func (s *Store) ExplainDuePayments(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]string, error) {
	q, args := s.claimDuePayments(now, limit, lease)
	return s.explainAfter(ctx, s.dialect.preferIndex(), q, args)
}

// SeedFinishedPayments writes n succeeded payments of a merchant as production leaves them on
// PostgreSQL: each was inserted with its next query scheduled and then finished, which cleared
// it, so payments_next_query keeps a dead entry per payment until a vacuum. No statistics are
// gathered (CI runs without autovacuum).
func (s *Store) SeedFinishedPayments(ctx context.Context, merchantID string, n int, created time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO payments (id, merchant_id, out_trade_no, amount, currency, pay_method,
		request_hash, status, channel, created_at, updated_at, next_query_at)
		SELECT 'pay_seed_' || g, $1, 'seed-' || g, 100, 'CNY', 'wallet_qr', 'h', 'created', 'sandbox', $2, $2, $3
		FROM generate_series(1, $4) g`, merchantID, Now(created), Now(created.Add(time.Minute)), n); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `UPDATE payments SET status = 'succeeded', paid_at = updated_at, business_date = '2026-12-06', next_query_at = NULL WHERE id LIKE 'pay_seed_%'`)
	return err
}

func (s *Store) explain(ctx context.Context, q string, args []any) ([]string, error) {
	return s.explainAfter(ctx, "", q, args)
}

// explainAfter is explain with a statement run first in the same transaction (PostgreSQL).
func (s *Store) explainAfter(ctx context.Context, prelude, q string, args []any) ([]string, error) {
	if s.dialect == SQLite {
		var plan []struct {
			ID      int    `db:"id"`
			Parent  int    `db:"parent"`
			NotUsed int    `db:"notused"`
			Detail  string `db:"detail"`
		}
		err := s.Transact(ctx, func(tx *Tx) error {
			return sel(ctx, tx.tx, s.dialect, &plan, "EXPLAIN QUERY PLAN "+q, args...)
		})
		var out []string
		for _, p := range plan {
			out = append(out, fmt.Sprintf("%d %d %s", p.ID, p.Parent, p.Detail))
		}
		return out, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	if prelude != "" {
		if _, err := tx.ExecContext(ctx, prelude); err != nil {
			return nil, err
		}
	}
	var js string
	if err := tx.GetContext(ctx, &js, "EXPLAIN (ANALYZE, FORMAT JSON) "+s.dialect.rebind(q), args...); err != nil {
		return nil, err
	}
	return []string{js}, nil
}

// QueuedWrites reports how many transactions wait for this SQLite store's writer (0 on
// PostgreSQL): tests order goroutines on it instead of sleeping.
func QueuedWrites(s *Store) int {
	if s.w == nil {
		return 0
	}
	return s.w.Queued()
}

// InsertPaymentsWithNonces writes the creates as one batch (one statement on PostgreSQL when
// there are several) and returns each one's answer.
func (s *Store) InsertPaymentsWithNonces(ctx context.Context, ps []paygw.Payment, ns []NonceUse, now time.Time) ([]bool, []error) {
	reqs := make([]createReq, len(ps))
	for i := range ps {
		reqs[i] = createReq{p: ps[i], n: ns[i], now: now}
	}
	fresh, errs := make([]bool, len(ps)), make([]error, len(ps))
	for i, r := range s.insertPaymentsWithNonces(ctx, reqs) {
		fresh[i], errs[i] = r.fresh, r.err
	}
	return fresh, errs
}
