package store

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// planEachRun, passed first among a PostgreSQL statement's arguments, has it planned at every run
// for the arguments and table sizes of that run (pgx sends it unnamed; only its description is
// cached). The batch statements join arrays to tables: a plan cached on a connection's fifth
// run, when the tables were small, kept hash-joining a sequential scan of the whole nonce table
// to every batch of creates — a cost that grew with history (BENCHMARKS.md, issue 12, sixth
// round). Planned per run, the joins probe the indexes. The single-row statements keep their
// cached plans: an equality on a key is an index probe at any size.
const planEachRun = pgx.QueryExecModeCacheDescribe

// batcher gathers the requests that callers make at the same moment into batches that one
// statement writes (PostgreSQL). A caller that finds fewer than maxInFlight batches running
// leads: it takes what is queued (up to maxBatch, distinct keys), writes it, and hands its place
// to the first caller still queued, so no caller leads more than one batch beyond its own and
// its own latency stays one batch long under any load. The others wait for the batch that takes
// them. An idle store never waits: the first caller leads a batch of one. The batches of a busy
// store grow by themselves — whatever arrived while the running ones were writing.
type batcher[Q, R any] struct {
	maxInFlight, maxBatch int
	key                   func(Q) string                        // two requests of one key never share a batch
	run                   func(ctx context.Context, qs []Q) []R // writes a batch, a result per request

	mu       sync.Mutex
	queue    []*batchReq[Q, R]
	inFlight int

	batches, items atomic.Int64
}

type batchReq[Q, R any] struct {
	q        Q
	r        R
	done     chan struct{}
	promote  chan struct{} // a finishing leader hands this queued request its place
	promoted bool          // under mu: promote has been sent (once at most)
}

func newBatcher[Q, R any](inFlight, maxBatch int, key func(Q) string, run func(context.Context, []Q) []R) *batcher[Q, R] {
	if inFlight <= 0 {
		inFlight = 2
	}
	return &batcher[Q, R]{maxInFlight: inFlight, maxBatch: maxBatch, key: key, run: run}
}

// do queues q, leads a batch when it has a place, and returns q's result. A queued request is
// written whatever its caller's context does meanwhile: once taken into a statement it cannot be
// withdrawn, and the caller must learn what became of it.
func (b *batcher[Q, R]) do(ctx context.Context, q Q) R {
	r := &batchReq[Q, R]{q: q, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	lead := b.inFlight < b.maxInFlight
	if lead {
		b.inFlight++
	}
	b.mu.Unlock()
	for {
		if lead {
			b.lead(ctx)
		}
		select {
		case <-r.done:
			// Handed a place just as another leader's batch took r: lead once, for the place.
			select {
			case <-r.promote:
				b.lead(ctx)
			default:
			}
			return r.r
		case <-r.promote:
			lead = true
		}
	}
}

// lead writes one batch, then hands its place to the first request still queued, or gives it up.
func (b *batcher[Q, R]) lead(ctx context.Context) {
	b.mu.Lock()
	batch := b.take()
	b.mu.Unlock()
	if len(batch) > 0 {
		b.batches.Add(1)
		b.items.Add(int64(len(batch)))
		qs := make([]Q, len(batch))
		for i, r := range batch {
			qs[i] = r.q
		}
		for i, res := range b.run(context.WithoutCancel(ctx), qs) { // the batch carries other callers' requests
			batch[i].r = res
			close(batch[i].done)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.queue {
		if !r.promoted {
			// Promoted while queued, r stays queued: another leader may still take it.
			r.promoted = true
			r.promote <- struct{}{}
			return
		}
	}
	b.inFlight-- // nobody left to hand the place to (the queued are promoted already)
}

// take removes up to maxBatch queued requests of distinct keys (a second request of a key
// already in the batch waits for the next one). Called with mu held.
func (b *batcher[Q, R]) take() []*batchReq[Q, R] {
	var batch, rest []*batchReq[Q, R]
	seen := map[string]bool{}
	for _, r := range b.queue {
		k := b.key(r.q)
		if len(batch) >= b.maxBatch || seen[k] {
			rest = append(rest, r)
			continue
		}
		seen[k] = true
		batch = append(batch, r)
	}
	b.queue = rest
	return batch
}

// stats returns the batches led, the requests in them and the requests queued now.
func (b *batcher[Q, R]) stats() (batches, items int64, queued int) {
	b.mu.Lock()
	queued = len(b.queue)
	b.mu.Unlock()
	return b.batches.Load(), b.items.Load(), queued
}
