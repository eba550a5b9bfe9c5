package store

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

func TestAttemptedIDsShapes(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 0}, {1, 1}, {2, 2}, {3, 4}, {5, 8}, {200, 256}, {256, 256}, {900, 256}} {
		ids := make([]string, c.in)
		for i := range ids {
			ids[i] = fmt.Sprint("evt_", i)
		}
		got := attemptedIDs(ids)
		if len(got) != c.want {
			t.Errorf("%d ids → %d, want %d", c.in, len(got), c.want)
		}
		seen := map[string]bool{}
		for _, id := range got {
			seen[id] = true
		}
		if want := min(c.in, 256); len(seen) != want {
			t.Errorf("%d ids → %d distinct, want %d", c.in, len(seen), want)
		}
	}
}

// A claim binds no LIMIT: SQLite re-prepares a statement whenever the value bound to a LIMIT
// parameter changes (77 µs a run against 8 µs), and the claim's bounds follow the workers' free
// slots. Every limit from 1 to 64 and every number of attempted notifications up to 300 gives
// one of a few texts, so the statement caches keep them all.
func TestClaimBindsNoLimit(t *testing.T) {
	for _, d := range []Dialect{SQLite, Postgres} {
		s := &Store{dialect: d}
		texts := map[string]bool{}
		for limit := 1; limit <= 64; limit++ {
			for _, attempted := range []int{0, 1, 2, 3, 5, 9, 17, 33, 65, 129, 300} {
				ids := make([]string, attempted)
				for i := range ids {
					ids[i] = fmt.Sprintf("evt_%d", i)
				}
				o := ClaimOptions{Holder: "w", Limit: limit, PerMerchant: 8, Lease: time.Minute, Attempted: ids}
				for _, q := range []string{first(s.claimFront(o, time.Now())), first(s.claimHeads(o, time.Now()))} {
					if regexp.MustCompile(`(?i)LIMIT\s+\?`).MatchString(q) {
						t.Fatalf("%s: a claim binds its LIMIT:\n%s", d, q)
					}
					texts[q] = true
				}
			}
		}
		// front: windows 16, 32, 64, 128; heads: 1, 2, 4, 8; each × 10 attempted-id shapes.
		if len(texts) > 80 {
			t.Errorf("%s: %d claim texts for limits 1-64, want at most 80", d, len(texts))
		}
	}
}

func first(q string, _ []any) string { return q }

func TestLimitLiteral(t *testing.T) {
	for n, want := range map[int]string{0: "1", 1: "1", 2: "2", 3: "4", 16: "16", 17: "32", 100: "128"} {
		if got := limitLiteral(n); got != want {
			t.Errorf("limitLiteral(%d) = %s, want %s", n, got, want)
		}
	}
}
