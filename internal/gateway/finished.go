package gateway

import (
	"sync"

	"github.com/paygw/paygw/internal/paygw"
)

// finished remembers the payments this process recorded in a final status, for a while, so
// that a channel's callback confirming one (the channels call back for every payment, most
// often while or just after the synchronous answer was recorded) is answered without reading
// the payment again. A final status never changes back, a payment's amount never changes and
// its channel is fixed once it is final, so what is remembered stays true; what is forgotten is
// read from the database as before. Two generations of at most finishedGeneration entries
// each bound the memory (≈ 100 bytes an entry) whatever the history.
type finished struct {
	mu        sync.Mutex
	cur, prev map[string]finishedPayment
}

type finishedPayment struct {
	channel string
	amount  int64
}

const finishedGeneration = 16384

// add remembers p if it is final.
func (f *finished) add(p paygw.Payment) {
	if p.ID == "" || !p.Status.Final() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cur) >= finishedGeneration || f.cur == nil {
		f.prev, f.cur = f.cur, make(map[string]finishedPayment, finishedGeneration)
	}
	f.cur[p.ID] = finishedPayment{channel: p.Channel, amount: p.Amount}
}

// get reports what is remembered of payment id.
func (f *finished) get(id string) (finishedPayment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.cur[id]; ok {
		return p, true
	}
	p, ok := f.prev[id]
	return p, ok
}
