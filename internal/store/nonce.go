package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Nonces are kept by slot: the slot of a nonce is its expiry time in Unix seconds divided by
// nonceSlotSeconds, and the primary key is (slot, merchant_id, nonce). New nonces go to the
// right end of the index (the last few slots) and the purge deletes whole slots from its left
// end, in key order, so it frees whole pages and writes each once. Keyed by (merchant_id,
// nonce), every purged nonce was a delete at a random place of the index: on SQLite that
// doubled the single writer's random page writes from the fifth minute of a soak on (the
// nonce window), and the p99 of every payment rose ×5 (BENCHMARKS.md, issue 12).
//
// A replay of a request carries the same signed timestamp, so the same expiry and slot: the
// primary key refuses it. A nonce the merchant reuses under another timestamp may fall in
// another slot: useNonce also looks for it in every slot that can hold a nonce unexpired at
// now (liveNonceSlots of them), so it is refused as before. (Two such requests racing each
// other on PostgreSQL could both pass; only the holder of the merchant's secret can make
// them, and neither is a replay.)
const nonceSlotSeconds = 120

// MaxNonceLife bounds how far past now a nonce may expire. The gateway keeps a nonce until its
// request's timestamp, at most 300 s ahead of server time, is 301 s old: at most 601 s.
const MaxNonceLife = 11 * time.Minute

// liveNonceSlots is how many slots can hold a nonce unexpired at now: nonceSlot(now) through
// nonceSlot(now + MaxNonceLife).
const liveNonceSlots = int(MaxNonceLife/time.Second)/nonceSlotSeconds + 2

// nonceSlot is the slot of a nonce that expires at t.
func nonceSlot(t time.Time) int64 { return t.Unix() / nonceSlotSeconds }

// UseNonce records a request nonce for a merchant until expires. It returns false when the
// nonce was already used and has not expired: a replay. Shared by every replica through the
// database, not process memory.
func (s *Store) UseNonce(ctx context.Context, merchantID, nonce string, expires, now time.Time) (bool, error) {
	return useNonce(ctx, s.db, s.dialect, merchantID, nonce, expires, now)
}

// UseNonce is Store.UseNonce inside a transaction, so a request's nonce and its effect commit
// together.
func (t *Tx) UseNonce(ctx context.Context, merchantID, nonce string, expires, now time.Time) (bool, error) {
	return useNonce(ctx, t.tx, t.dialect, merchantID, nonce, expires, now)
}

func useNonce(ctx context.Context, q queryer, d Dialect, merchantID, nonce string, expires, now time.Time) (bool, error) {
	args, err := nonceArgs(merchantID, nonce, expires, now)
	if err != nil {
		return false, err
	}
	n, err := exec(ctx, q, d, d.nonceInsert(), args...)
	if err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	return n == 1, nil
}

// nonceInsert inserts a nonce unless it is live in any slot: its arguments are nonceArgs'. A
// nonce of the same slot that has expired (not yet purged) is taken over.
func (d Dialect) nonceInsert() string {
	if d == Postgres {
		return nonceInsertPostgres
	}
	return nonceInsertSQLite
}

// On PostgreSQL the selected values are typed: an INSERT … SELECT's parameters are not typed
// by its columns.
var (
	nonceInsertSQLite   = nonceInsertSQL(`?, ?, ?, ?`, "")
	nonceInsertPostgres = nonceInsertSQL(`?::bigint, ?::text, ?::text, ?::timestamptz`, "")
)

// nonceInsertSQL is the nonce's insert selecting vals; cond, when not empty, is a further
// condition without arguments ("… AND ") that the insert needs.
func nonceInsertSQL(vals, cond string) string {
	return `INSERT INTO auth_nonces (slot, merchant_id, nonce, expires_at)
		SELECT ` + vals + ` WHERE ` + cond + `NOT EXISTS (SELECT 1 FROM auth_nonces
			WHERE slot IN (?` + strings.Repeat(`, ?`, liveNonceSlots-1) + `) AND merchant_id = ? AND nonce = ? AND expires_at > ?)
		ON CONFLICT (slot, merchant_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
			WHERE auth_nonces.expires_at <= ?`
}

// nonceArgs are nonceInsert's arguments. A nonce that expires beyond now+MaxNonceLife is
// refused: the live slots searched for it could miss it later.
func nonceArgs(merchantID, nonce string, expires, now time.Time) ([]any, error) {
	if expires.After(now.Add(MaxNonceLife)) {
		return nil, fmt.Errorf("use nonce: expiry %s is more than %s after %s", Now(expires).Format(time.RFC3339),
			MaxNonceLife, Now(now).Format(time.RFC3339))
	}
	args := make([]any, 0, 4+liveNonceSlots+4)
	args = append(args, nonceSlot(expires), merchantID, nonce, Now(expires))
	first := nonceSlot(now)
	for i := range liveNonceSlots {
		args = append(args, first+int64(i))
	}
	return append(args, merchantID, nonce, Now(now), Now(now)), nil
}

// PurgeNonces deletes one batch of at most limit nonces of slots that have wholly expired at
// now, in key order (oldest slot first), as one statement, and returns how many it deleted. A
// caller purges a backlog by calling again while it gets limit back. Nonces of the current slot
// that have expired wait for the slot to pass (at most nonceSlotSeconds); they no longer refuse
// anything.
//
// On PostgreSQL each batch starts after the last key this Store deleted (noncePurgeCursor): a
// delete leaves its index entries until a vacuum, and a batch that started from the smallest
// key walked all of them — a no-op purge cost 50–70 ms that way. Purging in small batches,
// continuously, instead of a whole 2-minute slot at once, spreads the purge's WAL: one
// statement deleting a slot (62,000 nonces at 520 requests/s) wrote several megabytes at once,
// and every commit queued behind them (BENCHMARKS.md, issue 12, eighth round).
func (s *Store) PurgeNonces(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("purge nonces: limit must be positive")
	}
	if s.dialect != Postgres {
		q, args := s.dialect.noncePurge(now, nonceKey{}, limit)
		n, err := exec(ctx, s.db, s.dialect, q, args...)
		if err != nil {
			return 0, fmt.Errorf("purge nonces: %w", err)
		}
		return int(n), nil
	}
	c := &s.noncePurge
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.restarted.IsZero() {
		c.restarted = now
	}
	q, args := s.dialect.noncePurge(now, c.after, limit)
	var r struct {
		N     int            `db:"n"`
		Batch int            `db:"batch"`
		Slot  sql.NullInt64  `db:"slot"`
		MID   sql.NullString `db:"merchant_id"`
		Key   sql.NullString `db:"nonce"`
	}
	if err := get(ctx, s.db, s.dialect, &r, q, args...); err != nil {
		return 0, fmt.Errorf("purge nonces: %w", err)
	}
	if r.Slot.Valid {
		c.after = nonceKey{slot: r.Slot.Int64, merchantID: r.MID.String, nonce: r.Key.String}
	}
	if r.Batch < limit && now.Sub(c.restarted) >= nonceSlotSeconds*time.Second {
		// Caught up: start over from the smallest key at most once a slot, for nonces written
		// behind the cursor (another replica's clock a little behind this one's). Slots only
		// expire, so nothing else can appear there.
		c.after, c.restarted = nonceKey{}, now
	}
	return r.N, nil
}

// noncePurgeCursor is where this Store's next PostgreSQL nonce purge starts (PurgeNonces).
type noncePurgeCursor struct {
	mu        sync.Mutex
	after     nonceKey  // the last key of the last batch; zero: from the start
	restarted time.Time // when after last went back to zero (or the first purge)
}

// nonceKey is an auth_nonces primary key; the zero value sorts before every real one (slots are
// Unix times ÷ 120, all positive).
type nonceKey struct {
	slot       int64
	merchantID string
	nonce      string
}

// noncePurge is PurgeNonces' statement and its arguments. On PostgreSQL it deletes the batch
// after the cursor and answers one row: how many it deleted, how many the batch held and the
// batch's last key (NULL when it was empty).
func (d Dialect) noncePurge(now time.Time, after nonceKey, limit int) (string, []any) {
	if d == Postgres {
		// By ctid: with IN over the key PostgreSQL hash-joined a sequential scan of the whole
		// table with the batch (123 ms for 1,000 of 220,000 rows); a TID scan reads only the
		// batch's rows. A row another replica's purge deleted meanwhile is skipped, and the
		// cursor still moves past the batch, so this one does not walk those entries again.
		return `WITH b AS (
				SELECT ctid AS t, slot, merchant_id, nonce FROM auth_nonces
				WHERE slot < ? AND (slot, merchant_id, nonce) > (?, ?, ?)
				ORDER BY slot, merchant_id, nonce LIMIT ?
			), d AS (
				DELETE FROM auth_nonces WHERE ctid = ANY (ARRAY(SELECT t FROM b)) RETURNING 1
			), last AS (
				SELECT slot, merchant_id, nonce FROM b ORDER BY slot DESC, merchant_id DESC, nonce DESC LIMIT 1
			)
			SELECT (SELECT COUNT(*) FROM d) AS n, (SELECT COUNT(*) FROM b) AS batch, last.slot, last.merchant_id, last.nonce
			FROM (SELECT 1) AS one LEFT JOIN last ON true`,
			[]any{nonceSlot(now), after.slot, after.merchantID, after.nonce, limit}
	}
	return `DELETE FROM auth_nonces WHERE (slot, merchant_id, nonce) IN (
		SELECT slot, merchant_id, nonce FROM auth_nonces WHERE slot < ? ORDER BY slot, merchant_id, nonce LIMIT ?)`,
		[]any{nonceSlot(now), limit}
}
