package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// batcher gathers the requests that callers make at the same moment into batches that one
// statement writes (PostgreSQL). A caller that finds fewer than maxInFlight batches running
// leads: it takes what is queued (up to maxBatch), writes it, and hands its place to the first
// caller still queued, so no caller leads more than one batch beyond its own and its own latency
// stays one batch long under any load. The others wait for the batch that takes them, or leave
// the queue when their context ends first. An idle store never waits: the first caller leads a
// batch of one. The batches of a busy store grow by themselves — whatever arrived while the
// running ones were writing.
//
// Requests that share a key (a payment, a nonce, an out_trade_no) never share a batch nor run in
// two batches at once: the second waits for the first's batch to end, so two batch statements
// never wait on each other's rows.
//
// A statement that stalls (behind a checkpoint's writes, an autovacuum pass, a lock) would hold
// every request of its kind behind it when one runs at a time. So a request that has waited
// stallAfter (when set) in the queue may lead one batch beyond maxInFlight; that place closes
// when its batch ends. Under load, when statements take less than stallAfter, the batches stay
// as few and as large as maxInFlight makes them.
type batcher[Q, R any] struct {
	maxInFlight, maxBatch int
	stallAfter            time.Duration                         // 0: no place beyond maxInFlight
	keys                  func(Q) []string                      // a request's keys
	run                   func(ctx context.Context, qs []Q) []R // writes a batch, a result per request
	failed                func(error) R                         // the result of a request that could not be written

	mu       sync.Mutex
	queue    []*batchReq[Q, R]
	running  map[string]bool // keys of the requests in running batches
	inFlight int

	batches, items, stalls atomic.Int64
}

type batchReq[Q, R any] struct {
	q        Q
	keys     []string
	r        R
	done     chan struct{}
	promote  chan struct{} // a finishing leader hands this queued request its place
	promoted bool          // under mu: promote was sent and not yet received
}

func newBatcher[Q, R any](inFlight, maxBatch int, keys func(Q) []string, run func(context.Context, []Q) []R, failed func(error) R) *batcher[Q, R] {
	if inFlight <= 0 {
		inFlight = 1
	}
	return &batcher[Q, R]{maxInFlight: inFlight, maxBatch: maxBatch, keys: keys, run: run, failed: failed, running: map[string]bool{}}
}

// do queues q, leads a batch when it has a place, and returns q's result. A request taken into a
// batch is written whatever its caller's context does meanwhile (a statement cannot give back
// part of its work, and the caller must learn what became of it); one still queued when its
// context ends leaves the queue unwritten.
func (b *batcher[Q, R]) do(ctx context.Context, q Q) R {
	r := &batchReq[Q, R]{q: q, keys: b.keys(q), done: make(chan struct{}), promote: make(chan struct{}, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := b.inFlight < b.maxInFlight
	if lead {
		b.inFlight++
	}
	b.mu.Unlock()
	var stalled <-chan time.Time
	if !lead && b.stallAfter > 0 {
		t := time.NewTimer(b.stallAfter)
		defer t.Stop()
		stalled = t.C
	}
	for {
		if lead {
			b.lead(ctx)
			lead = false
		}
		select {
		case <-stalled:
			stalled = nil
			b.mu.Lock()
			// Still queued, nothing of its own running, and the running statements all began
			// before it came (none has a place to spare): take the one place beyond maxInFlight.
			if b.inFlight == b.maxInFlight && slices.Contains(b.queue, r) && !b.anyRunning(r.keys) {
				b.inFlight++
				lead = true
				b.stalls.Add(1)
			}
			b.mu.Unlock()
		case <-r.done:
			// Handed a place just as another leader's batch took r: lead once, for the place.
			select {
			case <-r.promote:
				b.lead(ctx)
			default:
			}
			return r.r
		case <-r.promote:
			b.mu.Lock()
			r.promoted = false // consumed: r may be handed a place again
			b.mu.Unlock()
			lead = true
		case <-ctx.Done():
			if b.withdraw(r) {
				return b.failed(ctx.Err())
			}
			ctx = context.WithoutCancel(ctx) // taken meanwhile: wait for its batch
		}
	}
}

// withdraw removes r from the queue if no batch has taken it, passing on the place it was handed.
func (b *batcher[Q, R]) withdraw(r *batchReq[Q, R]) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.queue, r)
	if i < 0 {
		return false
	}
	b.queue = append(b.queue[:i:i], b.queue[i+1:]...)
	if r.promoted {
		b.handOn()
	}
	return true
}

// lead writes one batch, then hands its place to the first request still queued, or gives it up.
// A batch that panics answers each of its requests with an error instead of leaving them waiting.
func (b *batcher[Q, R]) lead(ctx context.Context) {
	b.mu.Lock()
	batch := b.take()
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		for _, r := range batch {
			for _, k := range r.keys {
				delete(b.running, k)
			}
		}
		b.handOn()
		b.mu.Unlock()
	}()
	if len(batch) == 0 {
		return
	}
	b.batches.Add(1)
	b.items.Add(int64(len(batch)))
	qs := make([]Q, len(batch))
	for i, r := range batch {
		qs[i] = r.q
	}
	answered := 0
	defer func() {
		if p := recover(); p != nil {
			for _, r := range batch[answered:] {
				r.r = b.failed(fmt.Errorf("store: batch of %d failed: %v", len(batch), p))
				close(r.done)
			}
		}
	}()
	for i, res := range b.run(context.WithoutCancel(ctx), qs) { // the batch carries other callers' requests
		batch[i].r = res
		close(batch[i].done)
		answered = i + 1
	}
}

// handOn gives the place of a leader that is done to the first queued request that a batch
// could take now and that holds no place yet, or frees it. A request waiting for a running key
// is handed none: the batch that runs its key hands a place on when it ends. A place beyond
// maxInFlight (a stall's) is freed, not handed on. Called with mu held.
func (b *batcher[Q, R]) handOn() {
	if b.inFlight > b.maxInFlight {
		b.inFlight--
		return
	}
	for _, r := range b.queue {
		if !r.promoted && !b.anyRunning(r.keys) {
			// Promoted while queued, r stays queued: another leader may still take it.
			r.promoted = true
			r.promote <- struct{}{}
			return
		}
	}
	b.inFlight-- // nobody to hand the place to
}

// take removes up to maxBatch queued requests whose keys are neither in the batch nor in a
// running batch, marks their keys running and returns them. Called with mu held.
func (b *batcher[Q, R]) take() []*batchReq[Q, R] {
	var batch, rest []*batchReq[Q, R]
	for _, r := range b.queue {
		if len(batch) >= b.maxBatch || b.anyRunning(r.keys) {
			rest = append(rest, r)
			continue
		}
		for _, k := range r.keys {
			b.running[k] = true
		}
		batch = append(batch, r)
	}
	b.queue = rest
	return batch
}

func (b *batcher[Q, R]) anyRunning(keys []string) bool {
	for _, k := range keys {
		if b.running[k] {
			return true
		}
	}
	return false
}

// stats returns the batches led, the requests in them, the batches led on a stall's place and
// the requests queued now.
func (b *batcher[Q, R]) stats() (batches, items, stalls int64, queued int) {
	b.mu.Lock()
	queued = len(b.queue)
	b.mu.Unlock()
	return b.batches.Load(), b.items.Load(), b.stalls.Load(), queued
}
