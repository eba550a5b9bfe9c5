package store

import "sync/atomic"

// BatchStats counts how the requests of one kind (payment outcomes, creates) shared statements
// on PostgreSQL.
type BatchStats struct {
	Batches    int64 // batches led (a batch of one is a statement of its own)
	Requests   int64 // requests in them
	Statements int64 // statements that carried more than one request
	Batched    int64 // requests in those statements
	Fallbacks  int64 // statements of several that the database refused, their requests then written one by one
	Stalls     int64 // batches led beside the running ones because those had kept a request waiting batchStallAfter
	Queued     int   // requests waiting for a statement now
}

// sharedCounts counts the statements of several requests of one kind.
type sharedCounts struct{ statements, batched, fallbacks atomic.Int64 }

// wrote counts a statement that carried n requests.
func (c *sharedCounts) wrote(n int) {
	c.statements.Add(1)
	c.batched.Add(int64(n))
}

func batchStats[Q, R any](c *sharedCounts, b *batcher[Q, R]) BatchStats {
	st := BatchStats{Statements: c.statements.Load(), Batched: c.batched.Load(), Fallbacks: c.fallbacks.Load()}
	if b != nil {
		st.Batches, st.Requests, st.Stalls, st.Queued = b.stats()
	}
	return st
}

// WriteSetStats reports how payment outcomes (ApplyPaymentWriteSet) were written; zero on
// SQLite, whose writer groups transactions instead (WriterStats).
func (s *Store) WriteSetStats() BatchStats { return batchStats(&s.outcomeCounts, s.outcomes) }

// CreateStats reports how payments with their nonces (InsertPaymentWithNonce) were written;
// zero on SQLite.
func (s *Store) CreateStats() BatchStats { return batchStats(&s.createCounts, s.creates) }
