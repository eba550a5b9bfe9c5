package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func TestReplayNotifyUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no filter", nil, "--all"},
		{"bad status", []string{"--status", "lost"}, "--status"},
		{"bad event", []string{"--event", "payment.done"}, "--event"},
		{"bad since", []string{"--since", "yesterday"}, "--since"},
		{"bad until", []string{"--merchant", "m", "--until", "2026-13-01"}, "--until"},
		{"since after until", []string{"--since", "2026-11-22", "--until", "2026-11-21"}, "--since"},
		{"rate without now", []string{"--merchant", "m", "--rate", "5"}, "--rate"},
		{"zero rate", []string{"--merchant", "m", "--now", "--rate", "0"}, "--rate"},
		{"dry run and now", []string{"--merchant", "m", "--now", "--dry-run"}, "--dry-run"},
		{"all with filters", []string{"--merchant", "m", "--all"}, "--all"},
		{"not a number", []string{"--merchant", "m", "--now", "--rate", "fast"}, "rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "x.db"), "replay-notify"}, tt.args...)
			code := Main(context.Background(), args, nil, &stdout, &stderr, func(string) string { return "" })
			if code != ExitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 naming %s", code, stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q on a usage error", stdout.String())
			}
		})
	}
}

func TestParseReplayTime(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2026-11-22T10:00:00Z", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)},
		{"2026-11-22T10:00:00+08:00", time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)},
		{"2026-11-22", time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)},
		{"2026-11-22 08:30", time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC)},
		{"72h", now.Add(-72 * time.Hour)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
	}
	for _, tt := range tests {
		got, err := parseReplayTime(tt.in, now, sh)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseReplayTime(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"-3h", "0d", "99999999999d", "soon", "2026-11-31"} {
		if _, err := parseReplayTime(bad, now, sh); err == nil {
			t.Errorf("parseReplayTime(%q) accepted", bad)
		}
	}
}

func TestReplayNotifyCommand(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			m, _ := storetest.Merchant(t, s, "m", 60)
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
			defer srv.Close()
			cfgPath := filepath.Join(t.TempDir(), "paygw.yaml")
			if err := os.WriteFile(cfgPath, []byte("notify:\n  allow_private_addresses: true\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			created := time.Now().UTC().Add(-time.Hour)
			var ids []string
			for i := 0; i < 3; i++ {
				n := paygw.Notification{ID: paygw.NewID("evt"), MerchantID: m.ID, PaymentID: paygw.NewID("pay"),
					Type: paygw.EventPaymentSucceeded, URL: srv.URL, Body: []byte(`{}`), CreatedAt: created,
					NextAttemptAt: created.Add(24 * time.Hour)} // not due: only a replay sends it
				if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertNotification(ctx, n) }); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, n.ID)
			}
			run := func(args ...string) replayJSON {
				t.Helper()
				var stdout, stderr bytes.Buffer
				all := append([]string{"--db", dsn, "--config", cfgPath, "replay-notify", "--json"}, args...)
				getenv := func(k string) string { // the key set above, nothing else from the environment
					if k == "PAYGW_SECRET_KEY" {
						return os.Getenv(k)
					}
					return ""
				}
				if code := Main(ctx, all, nil, &stdout, &stderr, getenv); code != 0 {
					t.Fatalf("replay-notify %v: exit %d: %s", args, code, stderr.String())
				}
				var out replayJSON
				if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
					t.Fatalf("stdout %q: %v", stdout.String(), err)
				}
				return out
			}
			out := run("--merchant", m.ID, "--dry-run")
			if out.Selected != 3 || !out.DryRun || len(out.Notifications) != 3 || hits.Load() != 0 {
				t.Errorf("dry run: %+v, %d sent", out, hits.Load())
			}
			out = run("--merchant", m.ID, "--since", "2h", "--now", "--rate", "1000")
			if out.Selected != 3 || out.Delivered != 3 || out.Failed != 0 || hits.Load() != 3 {
				t.Errorf("--now: %+v, %d sent", out, hits.Load())
			}
			out = run("--status", "delivered", "--payment", mustPayment(t, s, ids[0]))
			if out.Selected != 1 || out.Requeued != 1 || out.DryRun {
				t.Errorf("requeue: %+v", out)
			}
			n, err := s.GetNotification(ctx, ids[0])
			if err != nil || n.Status != paygw.NotificationPending {
				t.Errorf("after requeue: %+v, %v", n, err)
			}
			as, _ := s.NotificationAttempts(ctx, ids[1])
			if len(as) != 1 || !as[0].Manual {
				t.Errorf("--now attempts: %+v, want one manual", as)
			}
			runs, err := s.ListJobRuns(ctx, "replay-notify", 10)
			if err != nil || len(runs) != 2 {
				t.Errorf("job runs: %d, %v; want 2 (dry runs are not recorded)", len(runs), err)
			}
		})
	}
}

func mustPayment(t *testing.T, s *store.Store, id string) string {
	t.Helper()
	n, err := s.GetNotification(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n.PaymentID
}

// FuzzParseReplayTime: operator input never panics, and an accepted time is in UTC.
func FuzzParseReplayTime(f *testing.F) {
	for _, s := range []string{"2026-11-22", "2026-11-22 08:30", "2026-11-22T10:00:00+08:00", "72h", "7d", "-1h", "0d", "d", "9999999999d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseReplayTime(s, now, time.UTC)
		if err == nil && !got.IsZero() && got.Location() != time.UTC {
			t.Fatalf("parseReplayTime(%q) = %s, not UTC", s, got)
		}
	})
}
