package store

import (
	"strings"
	"testing"
)

// A batch statement's text changes (a new prepared statement, planned anew) when its runs double
// past the first generation, and nowhere else: every run of a generation gets the same text.
func TestPlanGenerations(t *testing.T) {
	p := newPlanGenerations("SELECT 1")
	var last string
	var began []int
	for run := 1; run <= 4096; run++ {
		s := p.sql()
		if !strings.HasPrefix(s, "SELECT 1\n") {
			t.Fatalf("run %d: %q does not begin with the statement", run, s)
		}
		if s != last {
			began = append(began, run)
		}
		last = s
	}
	want := []int{1, firstGeneration, 128, 256, 512, 1024, 2048, 4096}
	if len(began) != len(want) {
		t.Fatalf("generations began at runs %v, want %v", began, want)
	}
	for i := range want {
		if began[i] != want[i] {
			t.Fatalf("generations began at runs %v, want %v", began, want)
		}
	}
}
