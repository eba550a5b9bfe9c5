package store_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestJobRunTextIsCapped (issue 14 item 5): an Alipay zip of 10,000 entries stored a 2.7 MB error
// in job_runs. Stored texts keep a bounded, valid UTF-8 prefix.
func TestJobRunTextIsCapped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		huge := strings.Repeat("条目", 1<<20) // 6 MB, multi-byte runes
		if err := s.StartJobRun(ctx, paygw.JobRun{ID: "run_1", Job: "reconcile", BusinessKey: "k", Host: "h", Trigger: "cli",
			Status: paygw.JobRunning, StartedAt: now, Error: huge}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishJobRun(ctx, "run_1", paygw.JobFailed, huge, huge, now); err != nil {
			t.Fatal(err)
		}
		runs, err := s.ListJobRuns(ctx, "reconcile", 1)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs %v %v", runs, err)
		}
		for _, v := range []string{runs[0].Error, runs[0].Summary} {
			if len(v) > store.MaxJobText+64 || !utf8.ValidString(v) || !strings.HasPrefix(v, "条目") {
				t.Errorf("stored text of %d bytes (valid UTF-8 %v)", len(v), utf8.ValidString(v))
			}
		}
	})
}
