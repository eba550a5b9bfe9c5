package store

import (
	"math/bits"
	"strconv"
	"sync"
)

// planGenerations gives a batch statement's text per plan generation, so that PostgreSQL plans
// it once per generation and connection instead of at every run, yet never keeps a plan made for
// tables much smaller than they have become.
//
// The batch statements join arrays to tables (the nonces, the payments, the agreements). Planned
// at every run they cost 0.5–0.7 ms of planning a batch, a third of PostgreSQL's CPU on the
// create path (BENCHMARKS.md, issue 12, seventh round). Cached for good, the plan a connection
// made at its fifth run, when the tables were small, kept hash-joining a sequential scan of the
// whole nonce table into every batch as the table grew (sixth round). A generation ends when the
// statement's runs in this process double (the first lasts firstGeneration runs): pgx keys its
// prepared statements by their text, so a new generation's text is prepared anew and planned for
// the tables as they are then. On a database that starts empty the tables grow with the runs, so
// a plan is used up to about twice the size it was made for; on one already large, growth within
// a generation is a smaller share. With autovacuum on (as production runs) PostgreSQL also
// replans a cached statement after each ANALYZE of a table it reads, which covers growth from
// other processes. Generations are logarithmic in the runs — 25 by a billion — so the prepared
// statements they leave on a connection stay few.
type planGenerations struct {
	base string

	mu   sync.Mutex
	runs uint64
	gen  int
	text string // base with the generation's comment
}

// firstGeneration is the first generation's length in runs: plans made while the tables hold a
// few batches are cheap however bad, and not worth a prepared statement each.
const firstGeneration = 64

func newPlanGenerations(base string) *planGenerations {
	return &planGenerations{base: base}
}

// sql is the statement's text for one more run.
func (p *planGenerations) sql() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	gen := max(bits.Len64(p.runs), bits.Len64(firstGeneration-1))
	if p.text == "" || gen != p.gen {
		p.gen, p.text = gen, p.base+"\n-- plan generation "+strconv.Itoa(gen)
	}
	return p.text
}
