package gateway

import "time"

// SetPurgeBounds shrinks the retention purge's batch size, batches per pass and pass intervals so
// a test sees several batches and passes without thousands of rows or minutes of waiting.
func SetPurgeBounds(g *Service, batch, batches int, every, catchUp time.Duration) {
	g.purge.batch, g.purge.batches, g.purge.every, g.purge.catchUp = batch, batches, every, catchUp
}

// SetNoncePurgeBounds shrinks the nonce purge's batch size and batches per pass.
func SetNoncePurgeBounds(g *Service, batch, batches int) {
	g.purge.nonceBatch, g.purge.nonceBatches = batch, batches
}
