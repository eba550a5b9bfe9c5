package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestProgressStyleFor (issue 10): the bar documented for `reconcile` did not appear on a
// terminal that reports no size (mpb drew 0 columns: 30 s of silence on a 600k-row run).
func TestProgressStyleFor(t *testing.T) {
	cases := []struct {
		name     string
		terminal bool
		width    int
		want     progressStyle
	}{
		{"pipe or file: log lines", false, 0, progressLog},
		{"pipe with a width (impossible, still a pipe)", false, 120, progressLog},
		{"terminal with a size: bar", true, 120, progressBar},
		{"terminal of one column: bar", true, 1, progressBar},
		{"terminal reporting no size: fixed-width bar", true, 0, progressBarFixed},
	}
	for _, c := range cases {
		if got := progressStyleFor(c.terminal, c.width); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

type progressBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *progressBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *progressBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProgressFixedBarDraws: the fixed-width bar draws each stage and its count, redrawing in
// place, through a writer that is not a terminal file (as mpb then sees a size-less terminal).
func TestProgressFixedBarDraws(t *testing.T) {
	var out progressBuffer
	app := &App{Stderr: &out, Log: zerolog.Nop()}
	pr := app.newProgressStyle(progressBarFixed)
	pr.update("statement", 65536)
	time.Sleep(400 * time.Millisecond) // mpb redraws every 150 ms
	pr.update("store", 131072)
	time.Sleep(400 * time.Millisecond)
	pr.done()
	s := out.String()
	for _, want := range []string{"statement 65536", "store 131072", "\x1b["} {
		if !strings.Contains(s, want) {
			t.Errorf("progress output lacks %q:\n%q", want, s)
		}
	}
}
