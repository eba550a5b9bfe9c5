package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// The merchant notification outbox. The gateway inserts a notification in the transaction of
// the state change that causes it; delivery workers claim due ones as leases (locked_by,
// locked_until), POST them and record each attempt; replay selects and re-queues them.

type notificationRow struct {
	ID            string       `db:"id"`
	MerchantID    string       `db:"merchant_id"`
	ObjectID      string       `db:"object_id"`
	PaymentID     string       `db:"payment_id"`
	RefundID      string       `db:"refund_id"`
	Type          string       `db:"type"`
	URL           string       `db:"url"`
	Body          string       `db:"body"`
	Status        string       `db:"status"`
	Attempts      int          `db:"attempts"`
	NextAttemptAt time.Time    `db:"next_attempt_at"`
	LockedBy      string       `db:"locked_by"`
	LockedUntil   sql.NullTime `db:"locked_until"`
	LastStatus    int          `db:"last_status"`
	LastError     string       `db:"last_error"`
	CreatedAt     time.Time    `db:"created_at"`
	UpdatedAt     time.Time    `db:"updated_at"`
	DeliveredAt   sql.NullTime `db:"delivered_at"`
	ScheduleBase  int          `db:"schedule_base"`
	ReplayPending bool         `db:"replay_pending"`
}

const notificationCols = `id, merchant_id, object_id, payment_id, refund_id, type, url, body, status, attempts,
	next_attempt_at, locked_by, locked_until, last_status, last_error, created_at, updated_at, delivered_at,
	schedule_base, replay_pending`

func (r notificationRow) domain() paygw.Notification {
	return paygw.Notification{
		ID: r.ID, MerchantID: r.MerchantID, PaymentID: r.PaymentID, RefundID: r.RefundID, Type: r.Type,
		URL: r.URL, Body: []byte(r.Body), Status: paygw.NotificationStatus(r.Status), Attempts: r.Attempts,
		NextAttemptAt: r.NextAttemptAt.UTC(), LastError: r.LastError, LastStatus: r.LastStatus,
		CreatedAt: r.CreatedAt.UTC(), DeliveredAt: timePtr(r.DeliveredAt),
	}
}

func (r notificationRow) delivery() Delivery {
	d := Delivery{Notification: r.domain(), Holder: r.LockedBy, Retry: r.Attempts - r.ScheduleBase, Replay: r.ReplayPending}
	if r.LockedUntil.Valid {
		d.LeaseUntil = r.LockedUntil.Time.UTC()
	}
	if d.Retry < 0 {
		d.Retry = 0
	}
	return d
}

// InsertNotification adds a notification to the outbox inside the transaction of the state
// change that causes it. Its object is the refund when RefundID is set, else the payment; a
// second notification of the same type for the same object fails with an error satisfying
// IsUnique. An empty Status is pending and a zero NextAttemptAt is CreatedAt (due at once).
func (t *Tx) InsertNotification(ctx context.Context, n paygw.Notification) error {
	if n.ID == "" || n.MerchantID == "" || n.Type == "" || n.CreatedAt.IsZero() {
		return fmt.Errorf("insert notification: id, merchant_id, type and created_at are required")
	}
	obj := n.PaymentID
	if n.RefundID != "" {
		obj = n.RefundID
	}
	if obj == "" {
		return fmt.Errorf("insert notification %s: payment_id or refund_id is required", n.ID)
	}
	status := n.Status
	if status == "" {
		status = paygw.NotificationPending
	}
	next := n.NextAttemptAt
	if next.IsZero() {
		next = n.CreatedAt
	}
	_, err := exec(ctx, t.tx, t.dialect, `INSERT INTO notifications (id, merchant_id, object_id, payment_id, refund_id,
		type, url, body, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		n.ID, n.MerchantID, obj, n.PaymentID, n.RefundID, n.Type, n.URL, string(n.Body), string(status),
		Now(next), Now(n.CreatedAt), Now(n.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert notification %s %s of %s: %w", n.ID, n.Type, obj, err)
	}
	return nil
}

// GetNotification returns one notification or ErrNotFound.
func (s *Store) GetNotification(ctx context.Context, id string) (paygw.Notification, error) {
	var r notificationRow
	if err := get(ctx, s.db, s.dialect, &r, `SELECT `+notificationCols+` FROM notifications WHERE id = ?`, id); err != nil {
		return paygw.Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return r.domain(), nil
}

// Delivery is a claimed notification: the domain value plus what completing the claim needs.
type Delivery struct {
	paygw.Notification
	Holder     string    // who holds the lease
	LeaseUntil time.Time // the lease ends; after it another worker may claim the notification
	Retry      int       // attempts since the schedule (re)started: the index of the next schedule step
	Replay     bool      // this attempt is an operator's replay: recorded as manual
}

// ClaimOptions bound a claim.
type ClaimOptions struct {
	Holder      string        // lease holder: the worker's id
	Limit       int           // at most this many notifications
	PerMerchant int           // at most this many in flight per merchant, across all workers (0 = no cap)
	Lease       time.Duration // lease length
	// Attempted are notifications Holder has attempted and not recorded yet: still leased (no one
	// else may take them) but no longer in flight at the merchant's endpoint, so they do not count
	// against its cap. Without it a merchant's slots stayed taken until the attempts were written,
	// and one merchant's delivery rate was its cap per claim-deliver-record cycle.
	Attempted []string
}

// skipLocked is the row-locking clause of a claim's candidate scan: PostgreSQL skips rows
// another claimer is taking, so any number of replicas share the queue; SQLite needs none,
// since the claim's transaction holds the database's single write lock.
func (d Dialect) skipLocked() string {
	if d == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// merchantHeads is the claim's candidate set: for each merchant with waiting notifications
// (found by a loose scan of notifications_due_merchant, one probe per merchant) that is below its
// cap, its oldest due, unleased notifications, at most perMerchant of them. Its cost grows with
// the number of merchants waiting, never with how deep one merchant's backlog is. PostgreSQL
// reads each merchant's head in a LATERAL subquery; SQLite has no LATERAL, so a correlated IN
// subquery does the same. Nothing is locked here: only the rows finally picked are (claimLock).
// head is the per-merchant read bound, a literal (limitLiteral). Arguments: now, now.
func (d Dialect) merchantHeads(head string) string {
	const due = `status IN ('pending', 'failed') AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)`
	if d == Postgres {
		return `SELECT h.id, h.merchant_id, h.next_attempt_at FROM open_merchants m CROSS JOIN LATERAL (
				SELECT id, merchant_id, next_attempt_at FROM notifications
				WHERE merchant_id = m.merchant_id AND ` + due + `
				ORDER BY next_attempt_at, id LIMIT ` + head + `) h`
	}
	// CROSS JOIN keeps SQLite's planner from scanning notifications as the outer loop.
	return `SELECT n.id, n.merchant_id, n.next_attempt_at FROM open_merchants m CROSS JOIN notifications n
			ON n.id IN (SELECT id FROM notifications ` + d.dueMerchantIndex() + `
				WHERE merchant_id = m.merchant_id AND ` + due + `
				ORDER BY next_attempt_at, id LIMIT ` + head + `)`
}

// limitLiteral renders a bound on the rows a claim reads (not on what it takes) as an integer
// literal, rounded up to a power of two. SQLite re-prepares a statement at its next run whenever
// the value bound to a LIMIT parameter has changed — 77 µs a run against 8 µs — and a claim's
// bounds follow the workers' free slots, so as parameters they re-prepared the claim inside the
// single writer most of the time (BENCHMARKS.md, "Issue 12, fifth round"). As literals the
// statement stays cached, and the rounding keeps its texts few; reading a few more rows than
// needed changes nothing, since pick applies the caps and the exact limit.
func limitLiteral(n int) string {
	p := 1
	for p < n {
		p *= 2
	}
	return strconv.Itoa(p)
}

// claimLock is the last step of a claim on PostgreSQL: the picked rows, locked with SKIP LOCKED
// and checked again under the lock (READ COMMITTED re-reads a row another claimer has just
// updated), so concurrent claimers never take the same notification; one that loses a race gets
// a shorter batch. SQLite needs no row locks: the claim's transaction holds the write lock.
// Arguments: now.
func (d Dialect) claimLock() string {
	if d == Postgres {
		return `SELECT id FROM notifications WHERE id IN (SELECT id FROM pick)
			AND status IN ('pending', 'failed') AND (locked_until IS NULL OR locked_until <= ?)
			FOR UPDATE SKIP LOCKED`
	}
	return `SELECT id FROM pick WHERE ? IS NOT NULL`
}

// dueMerchantIndex makes SQLite read notifications_due_merchant, which holds only waiting
// notifications: with statistics its planner may prefer notifications_merchant, whose scan steps
// over every delivered notification of a merchant. PostgreSQL picks the partial index itself.
func (d Dialect) dueMerchantIndex() string {
	if d == SQLite {
		return "INDEXED BY notifications_due_merchant"
	}
	return ""
}

// ClaimNotifications leases up to o.Limit due notifications (pending or failed, next attempt at
// or before now, not leased) to o.Holder until now+o.Lease, oldest due first. A merchant with
// o.PerMerchant notifications in flight is skipped, and a batch never takes a merchant past its
// cap, so one slow merchant never fills the batch or the workers.
//
// Neither statement's cost grows with the backlog. The first reads the front of the due queue —
// a fixed window of the oldest due rows — and takes what its merchants' caps allow. When that
// came back short, the window may have been full of the rows of a merchant at its cap with other
// merchants' work behind them, so a second statement reads the head of each waiting merchant's
// queue instead (merchantHeads). On PostgreSQL rows are locked with
// SKIP LOCKED, so concurrent claimers never take the same notification; on SQLite the immediate
// transaction serialises claimers. The cap is read in the same statement, so two claimers racing
// on PostgreSQL can briefly exceed it together.
func (s *Store) ClaimNotifications(ctx context.Context, o ClaimOptions, now time.Time) ([]Delivery, error) {
	if o.Limit <= 0 || o.Holder == "" || o.Lease <= 0 {
		return nil, fmt.Errorf("claim notifications: holder, limit and lease are required")
	}
	var rows []notificationRow
	claim := func(q queryer) error {
		rows = rows[:0]
		front, args := s.claimFront(o, now)
		if err := sel(ctx, q, s.dialect, &rows, front, args...); err != nil {
			return err
		}
		if len(rows) == o.Limit || o.PerMerchant <= 0 {
			return nil
		}
		more := o
		more.Limit = o.Limit - len(rows)
		var extra []notificationRow
		heads, args := s.claimHeads(more, now)
		if err := sel(ctx, q, s.dialect, &extra, heads, args...); err != nil {
			return err
		}
		rows = append(rows, extra...)
		return nil
	}
	var err error
	if s.dialect.SingleWriter() {
		err = s.Transact(ctx, func(tx *Tx) error { return claim(tx.tx) })
	} else {
		err = claim(s.db)
	}
	if err != nil {
		return nil, fmt.Errorf("claim notifications for %s: %w", o.Holder, err)
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttemptAt.Equal(out[j].NextAttemptAt) {
			return out[i].NextAttemptAt.Before(out[j].NextAttemptAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// claimPick ranks the candidates (cand) by merchant, counts each merchant's leases (busy), and
// leases what the caps and the limit allow. The limit is a row number, not a LIMIT parameter,
// which SQLite would re-prepare the statement for whenever it changes (limitLiteral).
// Arguments: perMerchant, limit, then claimLock's, then holder, lease end, now.
const claimPick = `, pick AS (
			SELECT id FROM (
				SELECT id, ROW_NUMBER() OVER (ORDER BY next_attempt_at, id) AS k FROM (
					SELECT cand.id, cand.next_attempt_at,
					       ROW_NUMBER() OVER (PARTITION BY cand.merchant_id ORDER BY cand.next_attempt_at, cand.id) + COALESCE(busy.n, 0) AS slot
					FROM cand LEFT JOIN busy ON busy.merchant_id = cand.merchant_id
				) ranked WHERE slot <= ?
			) numbered WHERE k <= ?
		)`

// claimBusy counts each merchant's notifications in flight: leased, less those the claiming
// holder has already attempted (o.Attempted).
func claimBusy(o ClaimOptions, now time.Time) (string, []any) {
	q := `busy AS (
			SELECT merchant_id, COUNT(*) AS n FROM notifications
			WHERE locked_until IS NOT NULL AND locked_until > ?`
	args := []any{now}
	if ids := attemptedIDs(o.Attempted); len(ids) > 0 {
		q += ` AND NOT (locked_by = ? AND id IN (` + placeholders(len(ids)) + `))`
		args = appendStrings(append(args, o.Holder), ids)
	}
	return q + ` GROUP BY merchant_id
		)`, args
}

// attemptedIDs pads ids to a power of two (repeating the last; a repeat changes nothing) and
// bounds them at 256 (the rest still count as busy), so the claim's text takes at most nine
// shapes and the prepared-statement caches keep them.
func attemptedIDs(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	ids = ids[:min(len(ids), 256)]
	n := 1
	for n < len(ids) {
		n *= 2
	}
	out := make([]string, n)
	copy(out, ids)
	for i := len(ids); i < n; i++ {
		out[i] = ids[len(ids)-1]
	}
	return out
}

func claimCaps(o ClaimOptions) (perMerchant, head int) {
	perMerchant = o.PerMerchant
	if perMerchant <= 0 {
		perMerchant = 1 << 30
	}
	return perMerchant, min(perMerchant, o.Limit) // no merchant can take more than the batch
}

// claimFront is the claim over the front of the due queue: the oldest due, unleased rows in
// (next_attempt_at, id) order through notifications_due, at most twice the limit (16 at least,
// rounded up to a power of two: limitLiteral) whoever they belong to — locked with SKIP LOCKED on
// PostgreSQL — then only those of merchants below their cap. The window is what bounds its cost.
func (s *Store) claimFront(o ClaimOptions, now time.Time) (string, []any) {
	perMerchant, _ := claimCaps(o)
	window := max(2*o.Limit, 16)
	now = Now(now)
	busy, args := claimBusy(o, now)
	q := `WITH ` + busy + `, front AS (
			SELECT id, merchant_id, next_attempt_at FROM notifications
			WHERE status IN ('pending', 'failed') AND next_attempt_at <= ?
			  AND (locked_until IS NULL OR locked_until <= ?)
			ORDER BY next_attempt_at, id LIMIT ` + limitLiteral(window) + s.dialect.skipLocked() + `
		), cand AS (
			SELECT id, merchant_id, next_attempt_at FROM front
			WHERE merchant_id NOT IN (SELECT merchant_id FROM busy WHERE n >= ?)
		)` + claimPick + `
		UPDATE notifications SET locked_by = ?, locked_until = ?, updated_at = ?
		WHERE id IN (SELECT id FROM pick)
		RETURNING ` + notificationCols
	return q, append(args, now, now, perMerchant, perMerchant, o.Limit, o.Holder, Now(now.Add(o.Lease)), now)
}

// claimHeads is the claim over each waiting merchant's head of the queue (merchantHeads).
func (s *Store) claimHeads(o ClaimOptions, now time.Time) (string, []any) {
	perMerchant, head := claimCaps(o)
	now = Now(now)
	busy, args := claimBusy(o, now)
	q := `WITH RECURSIVE waiting (merchant_id) AS (
			SELECT (SELECT merchant_id FROM notifications ` + s.dialect.dueMerchantIndex() + `
				WHERE status IN ('pending', 'failed') ORDER BY merchant_id LIMIT 1)
			UNION ALL
			SELECT (SELECT n.merchant_id FROM notifications n ` + s.dialect.dueMerchantIndex() + ` WHERE n.status IN ('pending', 'failed')
				AND n.merchant_id > w.merchant_id ORDER BY n.merchant_id LIMIT 1)
			FROM waiting w WHERE w.merchant_id IS NOT NULL
		), ` + busy + `, open_merchants AS (
			SELECT merchant_id FROM waiting WHERE merchant_id IS NOT NULL
			  AND merchant_id NOT IN (SELECT merchant_id FROM busy WHERE n >= ?)
		), cand AS (` + s.dialect.merchantHeads(limitLiteral(head)) + `
		)` + claimPick + `, claimed AS (` + s.dialect.claimLock() + `
		)
		UPDATE notifications SET locked_by = ?, locked_until = ?, updated_at = ?
		WHERE id IN (SELECT id FROM claimed)
		RETURNING ` + notificationCols
	return q, append(args, perMerchant, now, now, perMerchant, o.Limit, now, o.Holder, Now(now.Add(o.Lease)), now)
}

// ClaimNotification leases one notification by id to holder, whatever its status, unless
// another holder's lease on it is still running (ok=false). Replay --now uses it so that an
// operator's delivery and a worker's never overlap.
func (s *Store) ClaimNotification(ctx context.Context, id, holder string, lease time.Duration, now time.Time) (Delivery, bool, error) {
	now = Now(now)
	var rows []notificationRow
	err := sel(ctx, s.db, s.dialect, &rows, `UPDATE notifications SET locked_by = ?, locked_until = ?, updated_at = ?
		WHERE id = ? AND (locked_until IS NULL OR locked_until <= ? OR locked_by = ?)
		RETURNING `+notificationCols, holder, Now(now.Add(lease)), now, id, now, holder)
	if err != nil {
		return Delivery{}, false, fmt.Errorf("claim notification %s: %w", id, err)
	}
	if len(rows) == 0 {
		if _, err := s.GetNotification(ctx, id); err != nil {
			return Delivery{}, false, err
		}
		return Delivery{}, false, nil
	}
	return rows[0].delivery(), true, nil
}

// ReleaseNotifications gives claims back without an attempt, due again at next (a worker whose
// endpoint's circuit breaker is open), in one statement. A notification whose lease holder lost
// is left alone.
func (s *Store) ReleaseNotifications(ctx context.Context, ids []string, holder string, next, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := appendStrings([]any{Now(next), Now(now)}, ids)
	_, err := exec(ctx, s.db, s.dialect, `UPDATE notifications SET locked_by = '', locked_until = NULL,
		next_attempt_at = ?, updated_at = ? WHERE id IN (`+placeholders(len(ids))+`) AND locked_by = ?
		AND status IN ('pending', 'failed')`, append(args, holder)...)
	if err != nil {
		return fmt.Errorf("release %d notifications: %w", len(ids), err)
	}
	return nil
}

// AttemptResult is the outcome of one delivery attempt of a claimed notification.
type AttemptResult struct {
	NotificationID string
	Holder         string // the lease holder that made the attempt
	Attempt        int    // the attempt's number: the notification's attempts when claimed, plus one
	Manual         bool   // an operator's replay
	StartedAt      time.Time
	StatusCode     int // 0 when no HTTP response arrived
	Latency        time.Duration
	Error          string
	Response       string    // the first bytes of the response body
	Delivered      bool      // a 2xx within the timeout
	NextAttemptAt  time.Time // when not delivered: the next attempt; zero means dead
	ScheduleBase   *int      // when set, the schedule restarts at this attempt count (a --now replay)
}

// RecordAttempts stores attempts in one transaction: an attempt row each, and each
// notification's new state (delivered, failed with its next attempt, or dead), its lease
// released. A notification whose lease its holder lost (expired and claimed by another) keeps
// the other's state; its attempt is still recorded and its id is returned in lost.
func (s *Store) RecordAttempts(ctx context.Context, rs []AttemptResult, now time.Time) (lost []string, err error) {
	if len(rs) == 0 {
		return nil, nil
	}
	now = Now(now)
	record := recordAttemptsEach
	if s.dialect.bindsArrays() {
		record = recordAttemptsPostgres
	}
	err = s.Transact(ctx, func(tx *Tx) error {
		var err error
		lost, err = record(ctx, tx, rs, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// attemptState is the notification state an attempt leaves.
func attemptState(r AttemptResult, now time.Time) (paygw.NotificationStatus, time.Time) {
	switch {
	case r.Delivered:
		return paygw.NotificationDelivered, now
	case r.NextAttemptAt.IsZero():
		return paygw.NotificationDead, now
	default:
		return paygw.NotificationFailed, Now(r.NextAttemptAt)
	}
}

const completeSet = `attempts = attempts + 1, status = ?, next_attempt_at = ?, last_status = ?, last_error = ?,
	locked_by = '', locked_until = NULL, replay_pending = FALSE, updated_at = ?`

// recordAttemptsEach writes attempts one statement each: SQLite, where a statement costs no
// round trip.
func recordAttemptsEach(ctx context.Context, tx *Tx, rs []AttemptResult, now time.Time) ([]string, error) {
	var lost []string
	for _, r := range rs {
		status, next := attemptState(r, now)
		var delivered sql.NullTime
		if r.Delivered {
			delivered = sql.NullTime{Time: now, Valid: true}
		}
		base := sql.NullInt64{}
		if r.ScheduleBase != nil {
			base = sql.NullInt64{Int64: int64(*r.ScheduleBase), Valid: true}
		}
		n, err := exec(ctx, tx.tx, tx.dialect, `UPDATE notifications SET schedule_base = COALESCE(?, schedule_base),
			delivered_at = COALESCE(?, delivered_at), `+completeSet+` WHERE id = ? AND locked_by = ?`,
			base, delivered, string(status), next, r.StatusCode, truncate(r.Error, 1000), now, r.NotificationID, r.Holder)
		if err != nil {
			return nil, fmt.Errorf("complete notification %s: %w", r.NotificationID, err)
		}
		if n == 0 {
			lost = append(lost, r.NotificationID)
		}
		_, err = exec(ctx, tx.tx, tx.dialect, `INSERT INTO notification_attempts (notification_id, attempt, manual, worker,
			started_at, status_code, latency_ms, error, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.NotificationID, r.Attempt, r.Manual, r.Holder, Now(r.StartedAt), r.StatusCode, r.Latency.Milliseconds(),
			truncate(r.Error, 1000), r.Response)
		if err != nil {
			return nil, fmt.Errorf("record attempt %d of notification %s: %w", r.Attempt, r.NotificationID, err)
		}
	}
	return lost, nil
}

// recordAttemptsPostgres writes a batch in two statements over arrays (unnest): one round trip
// for the notifications' states and one for the attempt rows, whatever the batch size.
func recordAttemptsPostgres(ctx context.Context, tx *Tx, rs []AttemptResult, now time.Time) ([]string, error) {
	k := len(rs)
	ids, holders, statuses, errs, resps := make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k)
	nexts, starts := make([]time.Time, k), make([]time.Time, k)
	codes, attempts, bases := make([]int32, k), make([]int32, k), make([]int32, k)
	latencies := make([]int64, k)
	delivered, manual := make([]bool, k), make([]bool, k)
	for i, r := range rs {
		st, next := attemptState(r, now)
		ids[i], holders[i], statuses[i], nexts[i] = r.NotificationID, r.Holder, string(st), next
		codes[i], errs[i], delivered[i], bases[i] = int32(r.StatusCode), truncate(r.Error, 1000), r.Delivered, -1
		if r.ScheduleBase != nil {
			bases[i] = int32(*r.ScheduleBase)
		}
		attempts[i], manual[i], starts[i], latencies[i], resps[i] = int32(r.Attempt), r.Manual, Now(r.StartedAt), r.Latency.Milliseconds(), r.Response
	}
	var done []string
	err := tx.tx.SelectContext(ctx, &done, `UPDATE notifications AS n SET
			schedule_base = CASE WHEN v.base >= 0 THEN v.base ELSE n.schedule_base END,
			delivered_at = CASE WHEN v.delivered THEN $9::timestamptz ELSE n.delivered_at END,
			attempts = n.attempts + 1, status = v.status, next_attempt_at = v.next, last_status = v.code, last_error = v.err,
			locked_by = '', locked_until = NULL, replay_pending = FALSE, updated_at = $9::timestamptz
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[], $7::bool[], $8::int[])
			AS v(id, holder, status, next, code, err, delivered, base)
		WHERE n.id = v.id AND n.locked_by = v.holder
		RETURNING n.id`, ids, holders, statuses, nexts, codes, errs, delivered, bases, now)
	if err != nil {
		return nil, fmt.Errorf("complete %d notifications: %w", k, translate(err))
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO notification_attempts (notification_id, attempt, manual, worker,
			started_at, status_code, latency_ms, error, response)
		SELECT * FROM unnest($1::text[], $2::int[], $3::bool[], $4::text[], $5::timestamptz[], $6::int[], $7::bigint[], $8::text[], $9::text[])`,
		ids, attempts, manual, holders, starts, codes, latencies, errs, resps)
	if err != nil {
		return nil, fmt.Errorf("record %d notification attempts: %w", k, translate(err))
	}
	if len(done) == k {
		return nil, nil
	}
	ok := make(map[string]bool, len(done))
	for _, id := range done {
		ok[id] = true
	}
	var lost []string
	for _, id := range ids {
		if !ok[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// NotificationAttempt is one recorded delivery attempt.
type NotificationAttempt struct {
	ID             int64     `db:"id"`
	NotificationID string    `db:"notification_id"`
	Attempt        int       `db:"attempt"`
	Manual         bool      `db:"manual"`
	Worker         string    `db:"worker"`
	StartedAt      time.Time `db:"started_at"`
	StatusCode     int       `db:"status_code"`
	LatencyMS      int64     `db:"latency_ms"`
	Error          string    `db:"error"`
	Response       string    `db:"response"`
}

// NotificationAttempts returns a notification's attempts in order.
func (s *Store) NotificationAttempts(ctx context.Context, id string) ([]NotificationAttempt, error) {
	var out []NotificationAttempt
	if err := sel(ctx, s.db, s.dialect, &out, `SELECT id, notification_id, attempt, manual, worker, started_at, status_code,
		latency_ms, error, response FROM notification_attempts WHERE notification_id = ? ORDER BY id`, id); err != nil {
		return nil, fmt.Errorf("notification attempts %s: %w", id, err)
	}
	for i := range out {
		out[i].StartedAt = out[i].StartedAt.UTC()
	}
	return out, nil
}

// NotificationFilter selects notifications for replay. Empty fields match everything; Since
// and Until bound created_at as [Since, Until).
type NotificationFilter struct {
	MerchantID string
	PaymentID  string // the payment's own notifications and its refunds'
	Type       string
	Status     paygw.NotificationStatus
	Since      time.Time
	Until      time.Time
}

// Empty reports whether the filter selects every notification.
func (f NotificationFilter) Empty() bool { return f == NotificationFilter{} }

func (f NotificationFilter) where() (string, []any) {
	var w []string
	var args []any
	add := func(cond string, v any) { w = append(w, cond); args = append(args, v) }
	if f.MerchantID != "" {
		add("merchant_id = ?", f.MerchantID)
	}
	if f.PaymentID != "" {
		add("payment_id = ?", f.PaymentID)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", Now(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", Now(f.Until))
	}
	if len(w) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(w, " AND "), args
}

// CountNotifications counts the notifications f selects.
func (s *Store) CountNotifications(ctx context.Context, f NotificationFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := get(ctx, s.db, s.dialect, &n, `SELECT COUNT(*) FROM notifications`+where, args...); err != nil {
		return 0, fmt.Errorf("count notifications: %w", err)
	}
	return n, nil
}

// NotificationCursor continues a listing after the last notification of the previous page.
type NotificationCursor struct {
	CreatedAt time.Time
	ID        string
}

// ListNotifications returns up to limit notifications f selects, oldest first, after cursor
// (nil = from the start). Pages are stable under inserts of newer notifications.
func (s *Store) ListNotifications(ctx context.Context, f NotificationFilter, after *NotificationCursor, limit int) ([]paygw.Notification, error) {
	if limit <= 0 {
		limit = 500
	}
	where, args := f.where()
	if after != nil {
		cond := "(created_at > ? OR (created_at = ? AND id > ?))"
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		args = append(args, Now(after.CreatedAt), Now(after.CreatedAt), after.ID)
	}
	args = append(args, limit)
	var rows []notificationRow
	if err := sel(ctx, s.db, s.dialect, &rows, `SELECT `+notificationCols+` FROM notifications`+where+
		` ORDER BY created_at, id LIMIT ?`, args...); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	out := make([]paygw.Notification, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// RequeueNotifications puts the notifications f selects back in the queue for the workers:
// pending, due at now, the retry schedule restarted (attempts keeps counting), the next
// attempt recorded as manual. Notifications being delivered right now (leased) are left alone
// and not counted. It returns how many were re-queued.
func (s *Store) RequeueNotifications(ctx context.Context, f NotificationFilter, now time.Time) (int, error) {
	where, args := f.where()
	now = Now(now)
	cond := "(locked_until IS NULL OR locked_until <= ?)"
	if where == "" {
		where = " WHERE " + cond
	} else {
		where += " AND " + cond
	}
	args = append([]any{now, now}, append(args, now)...)
	n, err := exec(ctx, s.db, s.dialect, `UPDATE notifications SET status = 'pending', next_attempt_at = ?,
		schedule_base = attempts, replay_pending = TRUE, locked_by = '', locked_until = NULL, updated_at = ?`+where, args...)
	if err != nil {
		return 0, fmt.Errorf("requeue notifications: %w", err)
	}
	return int(n), nil
}

// QueueStats describe the outbox for metrics.
type QueueStats struct {
	Waiting   int       // pending or failed: not delivered yet and not dead
	Due       int       // waiting with the next attempt at or before now
	OldestDue time.Time // the earliest next attempt among due ones; zero when none
}

// NotificationQueueStats reads the queue's depth and its oldest due notification.
func (s *Store) NotificationQueueStats(ctx context.Context, now time.Time) (QueueStats, error) {
	now = Now(now)
	var st QueueStats
	if err := get(ctx, s.db, s.dialect, &st.Waiting, `SELECT COUNT(*) FROM notifications WHERE status IN ('pending', 'failed')`); err != nil {
		return st, fmt.Errorf("queue depth: %w", err)
	}
	if err := get(ctx, s.db, s.dialect, &st.Due, `SELECT COUNT(*) FROM notifications WHERE status IN ('pending', 'failed') AND next_attempt_at <= ?`, now); err != nil {
		return st, fmt.Errorf("queue due: %w", err)
	}
	var oldest []time.Time
	if err := sel(ctx, s.db, s.dialect, &oldest, `SELECT next_attempt_at FROM notifications
		WHERE status IN ('pending', 'failed') AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 1`, now); err != nil {
		return st, fmt.Errorf("queue oldest due: %w", err)
	}
	if len(oldest) == 1 {
		st.OldestDue = oldest[0].UTC()
	}
	return st, nil
}

// purgeable selects, oldest delivery first, the delivered notifications whose delivery is before
// the cutoff and that nobody holds a lease on (a --now replay may be re-sending one), through
// notifications_delivered (migration 0019): the scan reads the rows it deletes and no others,
// however many pending, failed, dead or recent notifications are kept. Arguments: before, now,
// limit.
func (d Dialect) purgeable() string {
	return `SELECT id FROM notifications ` + d.deliveredIndex() + `
		WHERE status = 'delivered' AND delivered_at < ? AND (locked_until IS NULL OR locked_until <= ?)
		ORDER BY delivered_at LIMIT ?`
}

// purgeInOne is the whole purge as one statement, for a dialect whose WITH clause may delete
// (writableCTE): the candidates locked with SKIP LOCKED, their attempts, then them. Arguments:
// purgeable's.
func (d Dialect) purgeInOne() string {
	return `WITH doomed AS (` + d.purgeable() + d.skipLocked() + `),
			attempts AS (DELETE FROM notification_attempts WHERE notification_id IN (SELECT id FROM doomed))
		DELETE FROM notifications WHERE id IN (SELECT id FROM doomed)`
}

// deliveredIndex makes SQLite read notifications_delivered, as dueMerchantIndex does for claims,
// whatever its statistics say. PostgreSQL picks the partial index itself.
func (d Dialect) deliveredIndex() string {
	if d == SQLite {
		return "INDEXED BY notifications_delivered"
	}
	return ""
}

// PurgeDeliveredNotifications deletes up to limit delivered notifications delivered before
// before, with their attempts, in one transaction, and returns how many it deleted. Pending,
// failed and dead notifications are never deleted, nor one under a lease at now. A caller purges
// a backlog by calling again while it gets limit back; each call holds its locks for one batch.
//
// PostgreSQL does it in one statement whose candidates are locked with SKIP LOCKED, so replicas
// purging at once share the work and a row a claim or a replay is changing is left for later.
// SQLite runs the same selection twice in one transaction (attempts, then notifications), which
// holds the write lock, so both statements see the same rows.
func (s *Store) PurgeDeliveredNotifications(ctx context.Context, before, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("purge delivered notifications: limit must be positive")
	}
	args := []any{Now(before), Now(now), limit}
	var n int64
	var err error
	if s.dialect.writableCTE() {
		n, err = exec(ctx, s.db, s.dialect, s.dialect.purgeInOne(), args...)
	} else {
		err = s.Transact(ctx, func(tx *Tx) error {
			if _, err := exec(ctx, tx.tx, tx.dialect, `DELETE FROM notification_attempts WHERE notification_id IN (`+
				tx.dialect.purgeable()+`)`, args...); err != nil {
				return err
			}
			var err error
			n, err = exec(ctx, tx.tx, tx.dialect, `DELETE FROM notifications WHERE id IN (`+tx.dialect.purgeable()+`)`, args...)
			return err
		})
	}
	if err != nil {
		return 0, fmt.Errorf("purge delivered notifications before %s: %w", Now(before).Format(time.RFC3339), err)
	}
	return int(n), nil
}
