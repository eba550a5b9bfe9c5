package store

import (
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
)

// TestReboundCache: a cached rebind is sqlx's, every time, and the cache keeps no more than its
// bound (queries past it are still rebound, each time).
func TestReboundCache(t *testing.T) {
	var c reboundCache
	q := "SELECT a FROM t WHERE b = ? AND c = ?"
	for range 3 {
		if got, want := c.get(q), sqlx.Rebind(sqlx.DOLLAR, q); got != want {
			t.Fatalf("get(%q) = %q, want %q", q, got, want)
		}
	}
	if len(c.m) != 1 {
		t.Fatalf("cached %d texts, want 1", len(c.m))
	}
	big := "SELECT ?" + strings.Repeat(" ", maxReboundBytes)
	if got := c.get(big); !strings.HasPrefix(got, "SELECT $1") {
		t.Fatalf("past the bound: %.20q", got)
	}
	if len(c.m) != 1 || c.bytes > maxReboundBytes {
		t.Fatalf("past the bound: %d texts, %d bytes", len(c.m), c.bytes)
	}
}
