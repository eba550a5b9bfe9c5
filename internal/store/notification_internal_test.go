package store

import (
	"fmt"
	"testing"
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
