package reconcile_test

// Regression (issue 10): a statement for another date reconciled clean, and rows dated outside
// the run's date were accepted silently.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func TestRunRefusesAStatementForAnotherDate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		file := writeFile(t, "sandbox_2026-11-22.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
		o := opts(file, statement.FormatSandbox, t.TempDir())
		o.Date = "2026-11-19"
		_, err := reconcile.Run(ctx, s, o)
		var ie *reconcile.InputError
		var se *statement.Error
		if !errors.As(err, &ie) || !errors.As(err, &se) {
			t.Fatalf("err %v, want an InputError naming file and line", err)
		}
		if se.File != "sandbox_2026-11-22.csv" || se.Line != 2 || !strings.Contains(err.Error(), "2026-11-19") {
			t.Errorf("err %q (line %d): want the file, line 2 and the run's date", err, se.Line)
		}
		if runs, _ := s.ListReconRuns(ctx, store.ReconRunFilter{}); len(runs) != 0 {
			t.Errorf("a wrong statement stored %d runs", len(runs))
		}
	})
}

// TestRunRowDateWindow: a row is accepted within the pending window around the cutoffs and
// refused one second beyond it; the error names the first offending line.
func TestRunRowDateWindow(t *testing.T) {
	start := at(0, 0)
	end := start.Add(24 * time.Hour)
	const w = 30 * time.Minute
	cases := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"start of day", start, true},
		{"window before start", start.Add(-w), true},
		{"beyond window before start", start.Add(-w - time.Second), false},
		{"last second of day", end.Add(-time.Second), true},
		{"last second of window after end", end.Add(w - time.Second), true},
		{"end of window after end", end.Add(w), false},
		{"next day noon", end.Add(12 * time.Hour), false},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				rows := []statement.Row{
					{Line: 2, Kind: statement.KindPayment, TradeTime: at(10, 0), ChannelTradeNo: "Cin", OutTradeNo: "pay_in",
						Amount: 100, Fee: 0, Currency: "CNY", Status: statement.StatusSucceeded},
					{Line: 3, Kind: statement.KindPayment, TradeTime: c.at, ChannelTradeNo: "Cedge", OutTradeNo: "pay_edge",
						Amount: 100, Fee: 0, Currency: "CNY", Status: statement.StatusSucceeded},
				}
				file := writeFile(t, "edge.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) })
				_, err := reconcile.Run(ctx, s, opts(file, statement.FormatSandbox, ""))
				if c.ok {
					if err != nil {
						t.Fatalf("row at %s refused: %v", c.at.In(sh), err)
					}
					return
				}
				var ie *reconcile.InputError
				var se *statement.Error
				if !errors.As(err, &ie) || !errors.As(err, &se) || se.Line != 3 || se.File != "edge.csv" {
					t.Fatalf("row at %s: err %v, want an InputError naming edge.csv line 3", c.at.In(sh), err)
				}
			})
		}
	})
}
