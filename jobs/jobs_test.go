package jobs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paygw/paygw/internal/config"
)

func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func TestDefinitions(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []Job
	}{
		{
			name: "defaults: one sandbox channel, bill at 09:00",
			yaml: "",
			want: []Job{
				{Name: "reconcile-sandbox", Schedule: "30 9 * * *", Args: []string{"reconcile", "--channel", "sandbox", "--fail-on-discrepancy"}},
				{Name: "settle", Schedule: "0 10 * * *", Args: []string{"settle"}, Shardable: true},
				{Name: "report-daily", Schedule: "30 10 * * *", Args: []string{"report", "daily"}},
			},
		},
		{
			name: "settle waits for the latest bill; statement channels are reconciled by hand",
			yaml: `
channels:
  sbx_b: {kind: sandbox, statement_published_at: "10:45"}
  sbx-a: {kind: sandbox, statement_published_at: "08:00"}
  wechatpay: {kind: statement, statement_published_at: "11:00"}
`,
			want: []Job{
				{Name: "reconcile-sbx-a", Schedule: "30 8 * * *", Args: []string{"reconcile", "--channel", "sbx-a", "--fail-on-discrepancy"}},
				{Name: "reconcile-sbx-b", Schedule: "15 11 * * *", Args: []string{"reconcile", "--channel", "sbx_b", "--fail-on-discrepancy"}},
				{Name: "settle", Schedule: "45 11 * * *", Args: []string{"settle"}, Shardable: true},
				{Name: "report-daily", Schedule: "15 12 * * *", Args: []string{"report", "daily"}},
			},
		},
		{
			name: "no channel to fetch: settle at 10:00",
			yaml: "channels:\n  alipay: {kind: statement}\n",
			want: []Job{
				{Name: "settle", Schedule: "0 10 * * *", Args: []string{"settle"}, Shardable: true},
				{Name: "report-daily", Schedule: "30 10 * * *", Args: []string{"report", "daily"}},
			},
		},
		{
			name: "late bill wraps past midnight",
			yaml: "channels:\n  sandbox: {statement_published_at: \"23:40\"}\n",
			want: []Job{
				{Name: "reconcile-sandbox", Schedule: "10 0 * * *", Args: []string{"reconcile", "--channel", "sandbox", "--fail-on-discrepancy"}},
				{Name: "settle", Schedule: "40 0 * * *", Args: []string{"settle"}, Shardable: true},
				{Name: "report-daily", Schedule: "10 1 * * *", Args: []string{"report", "daily"}},
			},
		},
		{
			name: "replay policy and schedule overrides",
			yaml: `
notify: {replay_dead_after: 72h}
cron:
  schedules:
    settle: " 5 11 * * 1-5 "
    replay-dead: "@every 30m"
`,
			want: []Job{
				{Name: "reconcile-sandbox", Schedule: "30 9 * * *", Args: []string{"reconcile", "--channel", "sandbox", "--fail-on-discrepancy"}},
				{Name: "settle", Schedule: "5 11 * * 1-5", Args: []string{"settle"}, Shardable: true},
				{Name: "report-daily", Schedule: "30 10 * * *", Args: []string{"report", "daily"}},
				{Name: "replay-dead", Schedule: "@every 30m", Args: []string{"replay-notify", "--status", "dead", "--since", "72h"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustConfig(t, tt.yaml)
			got := Definitions(cfg)
			for i := range got {
				if got[i].Description == "" {
					t.Errorf("%s: no description", got[i].Name)
				}
				got[i].Description = ""
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Definitions (-want +got):\n%s", d)
			}
			if err := Check(cfg); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name, yaml, key, msg string
	}{
		{"unknown job", "cron:\n  schedules: {setle: \"0 10 * * *\"}\n", "cron.schedules.setle", `no job named "setle"`},
		{"replay sweep without its policy", "cron:\n  schedules: {replay-dead: \"@hourly\"}\n", "cron.schedules.replay-dead", "no job named"},
		{"bad spec", "cron:\n  schedules: {settle: \"0 25 * * *\"}\n", "cron.schedules.settle", "end of range"},
		{"six fields", "cron:\n  schedules: {settle: \"0 0 10 * * *\"}\n", "cron.schedules.settle", "expected exactly 5 fields"},
		{"timezone prefix", "cron:\n  schedules: {settle: \"CRON_TZ=UTC 0 10 * * *\"}\n", "cron.schedules.settle", "no TZ= prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(mustConfig(t, tt.yaml))
			var ke *config.KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("Check = %v, want a *config.KeyError", err)
			}
			if ke.Key != tt.key || !strings.Contains(ke.Msg, tt.msg) {
				t.Errorf("Check = %q (key %q), want key %q and %q", err, ke.Key, tt.key, tt.msg)
			}
		})
	}
}

func TestNextInSettlementTimezone(t *testing.T) {
	s, err := Parse("30 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC) // 09:00 in Shanghai
	got := Next(s, now, sh, 2)
	want := []time.Time{
		time.Date(2026, 11, 22, 1, 30, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC),
	}
	if len(got) != 2 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) || got[0].Location() != sh {
		t.Errorf("Next = %v, want %v in Asia/Shanghai", got, want)
	}
	// Across a DST change the wall clock stays 09:30.
	ny, _ := time.LoadLocation("America/New_York")
	got = Next(s, time.Date(2026, 10, 30, 14, 0, 0, 0, time.UTC), ny, 2)
	for _, g := range got {
		if g.Hour() != 9 || g.Minute() != 30 {
			t.Errorf("Next in New York = %v, want 09:30 local", g)
		}
	}
	if got[1].Sub(got[0]) != 25*time.Hour {
		t.Errorf("DST day: %v then %v", got[0], got[1])
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"sandbox": "reconcile-sandbox", "WeChat_Pay": "reconcile-wechat-pay", "_x.y_": "reconcile-x-y",
	} {
		if got := ChannelJobName(in); got != want {
			t.Errorf("ChannelJobName(%q) = %q, want %q", in, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		72 * time.Hour: "72h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m", 45 * time.Second: "45s",
		time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	j := Job{Args: []string{"report", "daily"}}
	if got := j.CommandLine(); got != "paygw report daily" {
		t.Errorf("CommandLine = %q", got)
	}
	if _, ok := Find(Definitions(config.Default()), Settle); !ok {
		t.Error("Find settle: not found")
	}
}
