package store

import (
	"context"
	"fmt"
	"time"
)

// UseNonce records a request nonce for a merchant until expires. It returns false when the
// nonce was already used and has not expired: a replay. Shared by every replica through the
// primary key, not process memory.
func (s *Store) UseNonce(ctx context.Context, merchantID, nonce string, expires, now time.Time) (bool, error) {
	return useNonce(ctx, s.db, s.dialect, merchantID, nonce, expires, now)
}

// UseNonce is Store.UseNonce inside a transaction, so a request's nonce and its effect commit
// together.
func (t *Tx) UseNonce(ctx context.Context, merchantID, nonce string, expires, now time.Time) (bool, error) {
	return useNonce(ctx, t.tx, t.dialect, merchantID, nonce, expires, now)
}

func useNonce(ctx context.Context, q queryer, d Dialect, merchantID, nonce string, expires, now time.Time) (bool, error) {
	n, err := exec(ctx, q, d, `INSERT INTO auth_nonces (merchant_id, nonce, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (merchant_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE auth_nonces.expires_at <= ?`,
		merchantID, nonce, Now(expires), Now(now))
	if err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	return n == 1, nil
}

// PurgeNonces deletes expired nonces; returns how many. It deletes nonceBatch rows per statement
// (its own transaction), at most nonceBatches of them per call: one statement over every expired
// nonce held SQLite's writer — and with it every payment — for as long as a minute of requests
// took to delete (the soaks' p99 spikes from the fifth minute on, when nonces began to expire).
func (s *Store) PurgeNonces(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for i := 0; i < nonceBatches; i++ {
		n, err := exec(ctx, s.db, s.dialect, `DELETE FROM auth_nonces WHERE (merchant_id, nonce) IN (
			SELECT merchant_id, nonce FROM auth_nonces WHERE expires_at <= ? LIMIT ?)`, Now(now), nonceBatch)
		if err != nil {
			return total, fmt.Errorf("purge nonces: %w", err)
		}
		total += n
		if n < int64(nonceBatch) || ctx.Err() != nil {
			break
		}
	}
	return total, nil
}

// nonceBatch and nonceBatches bound one PurgeNonces call (variables for tests).
var nonceBatch, nonceBatches = 1000, 100
