package store

import (
	"math/bits"
	"strconv"
	"sync"
	"time"
)

// planGenerations gives a batch statement's text per plan generation, so that PostgreSQL plans
// it once per generation and connection instead of at every run, yet never keeps a plan made for
// tables much smaller than they have become.
//
// The batch statements join arrays to tables (the nonces, the payments, the agreements). Planned
// at every run they cost 0.5–0.7 ms of planning a batch — a third of PostgreSQL's CPU on the
// create path (BENCHMARKS.md, issue 12, seventh round). Cached for good, the plan a connection
// made at its fifth run, when the tables were small, kept hash-joining a sequential scan of the
// whole nonce table into every batch as the table grew (sixth round). A generation ends when the
// runs of this statement in this process double, and at least every planMaxAge: pgx keys its
// prepared statements by text, so a new generation's text is prepared anew and planned for the
// tables as they are then. On a database that starts empty the tables grow with the runs, so a
// plan is never used past about twice the size it was made for; on one already large a plan made
// at any size of this process's run is made for that size; the age bound covers growth from
// other processes. (With autovacuum on, PostgreSQL also replans a cached plan after each ANALYZE
// of a table it reads.)
type planGenerations struct {
	base  string
	start time.Time

	mu   sync.Mutex
	runs uint64
	gen  string // the current generation's key
	text string // base with the generation's comment
}

// planMaxAge bounds how long a generation lasts whatever the runs.
const planMaxAge = 10 * time.Minute

func newPlanGenerations(base string, start time.Time) *planGenerations {
	return &planGenerations{base: base, start: start}
}

// sql is the statement's text for one more run at now.
func (p *planGenerations) sql(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	gen := strconv.Itoa(bits.Len64(p.runs)) + "." + strconv.FormatInt(int64(now.Sub(p.start)/planMaxAge), 10)
	if gen != p.gen {
		p.gen, p.text = gen, p.base+"\n-- plan generation "+gen
	}
	return p.text
}
