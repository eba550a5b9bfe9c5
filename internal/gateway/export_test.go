package gateway

import "time"

// SetPurgeBounds shrinks the retention purge's batch size, batches per pass and pass intervals so
// a test sees several batches and passes without thousands of rows or minutes of waiting.
func SetPurgeBounds(g *Service, batch, batches int, every, catchUp time.Duration) {
	g.purge = purgeBounds{batch: batch, batches: batches, every: every, catchUp: catchUp}
}
