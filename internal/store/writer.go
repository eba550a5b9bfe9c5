package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// SQLite allows one writer at a time, and with synchronous=FULL every commit is an fsync. The
// writer serialises this process's write transactions on one connection and commits them in
// groups: every transaction queued while the previous commit was syncing runs in the next
// database transaction, each inside its own SAVEPOINT (so one failing rolls back only itself),
// and one COMMIT makes the whole group durable. Each caller returns only after that commit,
// so durability is unchanged; throughput is no longer one fsync per transaction. Other
// processes on the same file still take turns through the busy timeout.
type writer struct {
	db   *sqlx.DB
	s    *Store
	jobs chan *writeJob
	quit chan struct{}
	wg   sync.WaitGroup
}

type writeJob struct {
	ctx   context.Context
	fn    func(*Tx) error
	tx    *Tx
	err   error
	panic any // a panic in fn, re-raised in the caller's goroutine
	done  chan struct{}
}

// maxGroup bounds how many transactions share one commit.
const maxGroup = 256

// A transaction's fn runs on the writer goroutine and must write only through its Tx: a write
// through the Store from inside fn would wait for the writer that is running it.

func newWriter(db *sqlx.DB, s *Store) *writer {
	w := &writer{db: db, s: s, jobs: make(chan *writeJob, 1024), quit: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *writer) close() {
	close(w.quit)
	w.wg.Wait()
	w.db.Close()
}

// do runs fn in a group-committed transaction and waits for the commit.
func (w *writer) do(ctx context.Context, fn func(*Tx) error) error {
	j := &writeJob{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case w.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return errors.New("store: closed")
	}
	<-j.done // never abandon a queued job: its outcome must be known before returning
	if j.panic != nil {
		panic(j.panic)
	}
	if j.err == nil {
		for _, f := range j.tx.after {
			f()
		}
	}
	return j.err
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*writeJob, 0, maxGroup)
	for {
		select {
		case j := <-w.jobs:
			batch = append(batch[:0], j)
		case <-w.quit:
			for {
				select {
				case j := <-w.jobs:
					j.err = errors.New("store: closed")
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

func (w *writer) run(batch []*writeJob) {
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
		finish(translate(fmt.Errorf("begin: %w", err)))
		return
	}
	// lost ends the group when its transaction is gone (SQLite rolls back the whole transaction
	// when a statement is interrupted, e.g. by a cancelled context): the jobs without an error
	// of their own get a retryable error, and Transact runs them again in a later group.
	lost := func(what string, err error) {
		_ = stx.Rollback()
		finish(fmt.Errorf("%w: group transaction lost at %s: %v", ErrBusy, what, err))
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
		j.tx = &Tx{tx: stx, dialect: w.s.dialect, keys: w.s.keys, storeID: w.s.id}
		j.err = call(j)
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
	finish(translate(stx.Commit()))
}

// call runs a job's fn; a panic rolls the job back and is re-raised in its caller (the writer
// itself must survive it), as it would be outside the writer.
func call(j *writeJob) (err error) {
	defer func() {
		if p := recover(); p != nil {
			j.panic = p
			err = fmt.Errorf("store: panic in transaction: %v", p)
		}
	}()
	return j.fn(j.tx)
}
