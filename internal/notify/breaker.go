package notify

import (
	"sync"
	"time"
)

// breakerState is an endpoint breaker's state.
type breakerState int

const (
	breakerClosed   breakerState = iota // requests flow; consecutive failures are counted
	breakerOpen                         // no requests until the open period ends
	breakerHalfOpen                     // one trial request decides: closed again, or open again
)

func (s breakerState) String() string {
	switch s {
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// breaker is an endpoint's circuit breaker, on the worker's clock. It is not gobreaker because
// the queue needs two things from it: the time it reopens (a deferred notification is due again
// exactly then, so deferrals keep their order and the oldest due one becomes the trial), and a
// clock shared with the schedule.
type breaker struct {
	name     string
	trip     int // consecutive failures that open it
	openFor  time.Duration
	onChange func(name string, from, to breakerState)

	mu    sync.Mutex
	state breakerState
	fails int
	until time.Time // open: when it turns half-open
	gen   uint64    // bumped on every state change; results of an older generation are ignored
	trial bool      // half-open: the trial request is in flight
}

func (b *breaker) set(to breakerState, now time.Time) {
	from := b.state
	b.state, b.gen, b.fails, b.trial = to, b.gen+1, 0, false
	if to == breakerOpen {
		b.until = now.Add(b.openFor)
	}
	if b.onChange != nil && from != to {
		b.onChange(b.name, from, to)
	}
}

// allow asks for a request at now. ok=false means not now: retry is when the endpoint may be
// tried again (zero while a half-open trial is in flight: its outcome decides).
func (b *breaker) allow(now time.Time) (gen uint64, ok bool, retry time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == breakerOpen {
		if now.Before(b.until) {
			return 0, false, b.until
		}
		b.set(breakerHalfOpen, now)
	}
	if b.state == breakerHalfOpen {
		if b.trial {
			return 0, false, time.Time{}
		}
		b.trial = true
	}
	return b.gen, true, time.Time{}
}

// done reports the outcome of a request allow let through.
func (b *breaker) done(gen uint64, failed bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return // started before the last state change: says nothing about the endpoint now
	}
	switch {
	case b.state == breakerHalfOpen && failed:
		b.set(breakerOpen, now)
	case b.state == breakerHalfOpen:
		b.set(breakerClosed, now)
	case failed:
		b.fails++
		if b.fails >= b.trip {
			b.set(breakerOpen, now)
		}
	default:
		b.fails = 0
	}
}

// closed reports whether requests flow freely (a batch may run them concurrently).
func (b *breaker) closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == breakerClosed
}
