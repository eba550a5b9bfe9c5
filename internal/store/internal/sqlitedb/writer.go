// Package sqlitedb is the store's SQLite machinery: a database/sql connector whose connections
// cache prepared statements, and the writer that serialises a process's write transactions on
// one connection and commits them in groups. Each opened database carries its own cache and
// writer; nothing here is process-wide.
package sqlitedb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// SQLite allows one writer at a time, and with synchronous=FULL every commit is an fsync. The
// writer serialises this process's write transactions on one connection and commits them in
// groups: every transaction queued while the previous commit was syncing runs in the next
// database transaction, each inside its own SAVEPOINT (so one failing rolls back only itself),
// and one COMMIT makes the whole group durable. Each caller returns only after that commit,
// so durability is unchanged; throughput is no longer one fsync per transaction. Other
// processes on the same file still take turns through the busy timeout.
type Writer struct {
	db        *sqlx.DB
	translate func(error) error
	busy      error
	jobs      chan *writeJob
	quit      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the loop has returned
	wg        sync.WaitGroup

	// Counters for Stats, written by the loop only.
	groups, txs      atomic.Uint64
	busyNs, commitNs atomic.Int64
	commits          [len(CommitBuckets) + 1]atomic.Uint64 // COMMITs by duration bucket; the last: above every bound
}

// CommitBuckets are the upper bounds of Stats.Commits. A COMMIT is an fsync of the WAL and, now
// and then, an automatic checkpoint that copies the WAL into the database file and syncs that
// too, stalling every transaction queued behind it.
var CommitBuckets = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// Stats is what the writer has done since it started: how many group transactions it ran and
// how many callers' transactions they held, how long it was busy in them (BEGIN to the end of
// COMMIT or ROLLBACK) and how much of that was COMMIT (with synchronous=FULL, the WAL's fsync).
// The COMMIT part is elastic: a writer with capacity to spare commits as soon as anything is
// queued, in small groups, so busy time nears wall time long before the writer is saturated;
// busy minus commit, the time in the callers' statements, is its utilisation.
type Stats struct {
	Groups, Transactions uint64
	Busy, Commit         time.Duration
	Queued               int // transactions waiting now
	// Commits counts COMMITs by duration: Commits[i] took at most CommitBuckets[i] and more than
	// the bound before it; the last entry counts those above every bound.
	Commits [len(CommitBuckets) + 1]uint64
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	st := Stats{Groups: w.groups.Load(), Transactions: w.txs.Load(), Busy: time.Duration(w.busyNs.Load()),
		Commit: time.Duration(w.commitNs.Load()), Queued: len(w.jobs)}
	for i := range w.commits {
		st.Commits[i] = w.commits[i].Load()
	}
	return st
}

type writeJob struct {
	ctx   context.Context
	fn    func(*sqlx.Tx) error
	err   error
	panic any // a panic in fn, re-raised in the caller's goroutine
	done  chan struct{}
}

var errClosed = errors.New("store: closed")

// maxGroup bounds how many transactions share one commit.
const maxGroup = 256

// A transaction's fn runs on the writer goroutine and must write only through its transaction:
// a write through the store from inside fn would wait for the writer that is running it.

// NewWriter starts the writer of db, a pool of one connection that opens transactions with
// BEGIN IMMEDIATE. translate maps the writer's own errors (begin, commit) to the caller's; a
// group transaction lost midway fails its jobs with an error wrapping busy, which the caller
// may retry.
func NewWriter(db *sqlx.DB, translate func(error) error, busy error) *Writer {
	w := &Writer{db: db, translate: translate, busy: busy, jobs: make(chan *writeJob, 1024),
		quit: make(chan struct{}), stopped: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

// Close fails the queued jobs, waits for the running group and closes the connection.
func (w *Writer) Close() {
	close(w.quit)
	w.wg.Wait()
	w.db.Close()
}

// Queued reports how many transactions wait for the writer.
func (w *Writer) Queued() int { return len(w.jobs) }

// Do runs fn in a group-committed transaction and waits for the commit: it returns fn's error,
// or the group's begin or commit error, or ctx's error when the job was cancelled before it
// ran. A panic in fn rolls fn back and is re-raised here.
func (w *Writer) Do(ctx context.Context, fn func(*sqlx.Tx) error) error {
	j := &writeJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case w.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return errClosed
	}
	// Never abandon a queued job: its outcome must be known before returning. Only a job queued
	// after the loop stopped (it can be, when Close raced with the send) is never run.
	select {
	case <-j.done:
	case <-w.stopped:
		select {
		case <-j.done:
		default:
			return errClosed
		}
	}
	if j.panic != nil {
		panic(j.panic)
	}
	return j.err
}

func (w *Writer) loop() {
	defer w.wg.Done()
	defer close(w.stopped)
	batch := make([]*writeJob, 0, maxGroup)
	for {
		select {
		case j := <-w.jobs:
			batch = append(batch[:0], j)
		case <-w.quit:
			for {
				select {
				case j := <-w.jobs:
					j.err = errClosed
					close(j.done)
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < maxGroup {
			select {
			case j := <-w.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		w.run(batch)
	}
}

func (w *Writer) run(batch []*writeJob) {
	start := time.Now()
	defer func() {
		w.groups.Add(1)
		w.txs.Add(uint64(len(batch)))
		w.busyNs.Add(int64(time.Since(start)))
	}()
	finish := func(err error) {
		for _, j := range batch {
			if j.err == nil {
				j.err = err
			}
			close(j.done)
		}
	}
	stx, err := w.db.BeginTxx(context.Background(), nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		finish(w.translate(fmt.Errorf("begin: %w", err)))
		return
	}
	// lost ends the group when its transaction is gone (SQLite rolls back the whole transaction
	// when a statement is interrupted, e.g. by a cancelled context): the jobs without an error
	// of their own get a retryable error, and Transact runs them again in a later group.
	lost := func(what string, err error) {
		_ = stx.Rollback()
		finish(fmt.Errorf("%w: group transaction lost at %s: %v", w.busy, what, err))
	}
	ok := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		if _, err := stx.Exec("SAVEPOINT w"); err != nil {
			lost("savepoint", err)
			return
		}
		j.err = call(j, stx)
		if j.err != nil {
			if _, err := stx.Exec("ROLLBACK TO w"); err != nil {
				lost("rollback to savepoint", err)
				return
			}
		} else {
			ok++
		}
		if _, err := stx.Exec("RELEASE w"); err != nil {
			lost("release savepoint", err)
			return
		}
	}
	if ok == 0 {
		_ = stx.Rollback()
		finish(nil)
		return
	}
	c := time.Now()
	err = stx.Commit()
	d := time.Since(c)
	w.commitNs.Add(int64(d))
	i := 0
	for i < len(CommitBuckets) && d > CommitBuckets[i] {
		i++
	}
	w.commits[i].Add(1)
	finish(w.translate(err))
}

// call runs a job's fn; a panic rolls the job back and is re-raised in its caller (the writer
// itself must survive it), as it would be outside the writer.
func call(j *writeJob, stx *sqlx.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			j.panic = p
			err = fmt.Errorf("store: panic in transaction: %v", p)
		}
	}()
	return j.fn(stx)
}
