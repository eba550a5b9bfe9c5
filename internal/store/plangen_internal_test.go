package store

import (
	"testing"
	"time"
)

// A batch statement's text changes (a new prepared statement, planned anew) when its runs double
// and when planMaxAge has passed, and nowhere else: the text a run gets is the same for every
// run of its generation.
func TestPlanGenerations(t *testing.T) {
	start := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	p := newPlanGenerations("SELECT 1", start)
	var texts []string
	changes := 0
	for run := 1; run <= 1024; run++ {
		s := p.sql(start.Add(time.Duration(run) * time.Millisecond))
		if len(texts) == 0 || s != texts[len(texts)-1] {
			changes++
			if run&(run-1) != 0 {
				t.Errorf("run %d began a generation; only a power of two should", run)
			}
		}
		texts = append(texts, s)
	}
	if changes != 11 { // runs 1, 2, 4, …, 1024
		t.Errorf("%d generations in 1,024 runs, want 11", changes)
	}
	last := texts[len(texts)-1]
	if s := p.sql(start.Add(planMaxAge - time.Nanosecond)); s != last {
		t.Errorf("run 1,025 before planMaxAge: %q, want the generation's %q", s, last)
	}
	if s := p.sql(start.Add(planMaxAge)); s == last {
		t.Errorf("planMaxAge passed and the text stayed %q", s)
	}
	if got := texts[0][:len("SELECT 1")]; got != "SELECT 1" {
		t.Errorf("the text does not begin with the statement: %q", texts[0])
	}
}
