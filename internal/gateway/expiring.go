package gateway

import (
	"sync"
	"time"
)

// expiring keeps values per key until a time each, for the gateway's short-lived caches
// (merchants' secrets, active agreements). It is bounded: past expiringMax entries it starts over.
type expiring[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]expiringEntry[V]
}

type expiringEntry[V any] struct {
	v     V
	until time.Time
}

// expiringMax bounds an expiring cache's entries.
const expiringMax = 100000

// get returns k's value if it is kept and has not expired at now.
func (c *expiring[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for k until until.
func (c *expiring[K, V]) put(k K, v V, until time.Time) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= expiringMax {
		c.m = make(map[K]expiringEntry[V])
	}
	c.m[k] = expiringEntry[V]{v: v, until: until}
	c.mu.Unlock()
}

// drop forgets k.
func (c *expiring[K, V]) drop(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
