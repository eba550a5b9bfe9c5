package store

// BatchStats counts how the requests of one kind (payment outcomes, creates) shared statements
// on PostgreSQL.
type BatchStats struct {
	Batches    int64 // batches led (a batch of one is a statement of its own)
	Requests   int64 // requests in them
	Statements int64 // statements that carried more than one request
	Batched    int64 // requests in those statements
	Fallbacks  int64 // statements of several that the database refused, their requests then written one by one
	Queued     int   // requests waiting for a statement now
}

// WriteSetStats reports how payment outcomes (ApplyPaymentWriteSet) were written; zero on
// SQLite, whose writer groups transactions instead (WriterStats).
func (s *Store) WriteSetStats() BatchStats {
	st := BatchStats{Statements: s.writeSetStatements.Load(), Batched: s.writeSetsBatched.Load(), Fallbacks: s.writeSetFallbacks.Load()}
	if b := s.outcomes; b != nil {
		st.Batches, st.Requests, st.Queued = b.stats()
	}
	return st
}

// CreateStats reports how payments with their nonces (InsertPaymentWithNonce) were written;
// zero on SQLite.
func (s *Store) CreateStats() BatchStats {
	st := BatchStats{Statements: s.createStatements.Load(), Batched: s.createsBatched.Load(), Fallbacks: s.createFallbacks.Load()}
	if b := s.creates; b != nil {
		st.Batches, st.Requests, st.Queued = b.stats()
	}
	return st
}
