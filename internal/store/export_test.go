package store

// QueuedWrites reports how many transactions wait for this SQLite store's writer (0 on
// PostgreSQL): tests order goroutines on it instead of sleeping.
func QueuedWrites(s *Store) int {
	if s.w == nil {
		return 0
	}
	return s.w.Queued()
}
