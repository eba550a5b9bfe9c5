// Package jobs defines paygw's scheduled batch jobs once: a name, a default schedule in the
// settlement timezone and the paygw command line. `paygw cron` runs these definitions in-process
// and the Kubernetes CronJobs under deploy/cronjobs carry the same schedules and arguments (a test
// in deploy/ keeps them equal), so a single machine and a cluster run identical command lines.
//
// Every job's command takes a database lease and records a job_runs row, so a second start of
// the same job and business date anywhere is a logged no-op.
package jobs

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/paygw/paygw/internal/config"
)

// Job names that do not depend on configured channels.
const (
	Settle      = "settle"
	ReportDaily = "report-daily"
	ReplayDead  = "replay-dead"
	// ReconcilePrefix starts the name of each channel's reconcile job: "reconcile-sandbox".
	ReconcilePrefix = "reconcile-"
)

// Delays between the steps of the daily cycle: reconcile runs after a channel publishes its bill,
// settle after the last reconcile, the daily report after settle.
const (
	ReconcileDelay = 30 * time.Minute
	SettleDelay    = 30 * time.Minute
	ReportDelay    = 30 * time.Minute
)

// ReplaySchedule is how often the dead-notification replay sweep runs when its policy is set.
const ReplaySchedule = "0 * * * *"

// Job is one scheduled batch job.
type Job struct {
	// Name identifies the job in `cron.schedules`, `paygw jobs list` and the CronJob's
	// paygw.dev/job label; it is a DNS-1123 label so that it can name Kubernetes objects.
	Name string
	// Schedule is a five-field cron expression (or a robfig/cron descriptor such as @hourly)
	// in the settlement timezone (config timezone).
	Schedule string
	// Args is the paygw command line after the program name, without global flags: those come
	// from the environment (PAYGW_DB, PAYGW_CONFIG) in both cron and CronJobs.
	Args []string
	// Description says what the job does, for `paygw jobs show-schedule` and the docs.
	Description string
	// Shardable jobs may run as a Kubernetes Indexed Job: each pod adds `--shards N` and takes
	// its shard from JOB_COMPLETION_INDEX.
	Shardable bool
}

// CommandLine is the job's command line as an operator would type it.
func (j Job) CommandLine() string { return "paygw " + strings.Join(j.Args, " ") }

// ChannelJobName is the name of the reconcile job of a channel: lower case, and characters a
// Kubernetes name cannot hold replaced by '-' ("wechat_pay" → "reconcile-wechat-pay").
func ChannelJobName(channel string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(channel) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return ReconcilePrefix + strings.Trim(b.String(), "-")
}

// Fetches reports whether paygw can fetch a channel's statement by itself (so a scheduled
// reconcile needs no --file). Channels of kind statement (WeChat Pay, Alipay bills downloaded by
// an operator or a pipeline) are reconciled with `paygw reconcile --file`.
func Fetches(ch *config.Channel) bool { return ch != nil && ch.Kind == "sandbox" }

// Definitions returns the jobs for cfg, in a stable order (reconcile jobs by channel, then
// settle, the daily report and, when notify.replay_dead_after is set, the replay sweep), with the
// overrides of cron.schedules applied. Check reports overrides that name no job.
func Definitions(cfg *config.Config) []Job {
	var out []Job
	last := -1 // latest reconcile, minutes after local midnight
	for _, name := range cfg.ChannelNames() {
		ch := cfg.Channels[name]
		if !Fetches(ch) {
			continue
		}
		at := publishedMinutes(ch.PublishedAt) + int(ReconcileDelay/time.Minute)
		if at > last {
			last = at
		}
		out = append(out, Job{
			Name:        ChannelJobName(name),
			Schedule:    daily(at),
			Args:        []string{"reconcile", "--channel", name, "--fail-on-discrepancy"},
			Description: fmt.Sprintf("reconcile channel %s against yesterday's statement (published %s)", name, ch.PublishedAt),
		})
	}
	if last < 0 {
		last = 9*60 + int(ReconcileDelay/time.Minute)
	}
	settleAt := last + int(SettleDelay/time.Minute)
	out = append(out,
		Job{
			Name:        Settle,
			Schedule:    daily(settleAt),
			Args:        []string{"settle"},
			Description: "settle yesterday: one batch per merchant and currency, payout file and settlement report",
			Shardable:   true,
		},
		Job{
			Name:        ReportDaily,
			Schedule:    daily(settleAt + int(ReportDelay/time.Minute)),
			Args:        []string{"report", "daily"},
			Description: "write yesterday's daily transaction report",
		})
	if d := cfg.Notify.ReplayDeadAfter.D(); d > 0 {
		out = append(out, Job{
			Name:     ReplayDead,
			Schedule: ReplaySchedule,
			Args:     []string{"replay-notify", "--status", "dead", "--since", FormatDuration(d)},
			Description: fmt.Sprintf("re-queue dead merchant notifications of the last %s for the delivery workers",
				FormatDuration(d)),
		})
	}
	for i := range out {
		if s, ok := cfg.Cron.Schedules[out[i].Name]; ok {
			out[i].Schedule = strings.TrimSpace(s)
		}
	}
	return out
}

// Check validates the job schedules of cfg: every cron.schedules key names a job of
// Definitions(cfg) and every schedule parses. Errors name the config key.
func Check(cfg *config.Config) error {
	defs := Definitions(cfg)
	known := map[string]bool{}
	for _, j := range defs {
		known[j.Name] = true
	}
	keys := make([]string, 0, len(cfg.Cron.Schedules))
	for k := range cfg.Cron.Schedules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return &config.KeyError{Key: "cron.schedules." + k, Msg: fmt.Sprintf("no job named %q (jobs: %s)", k, names(defs))}
		}
	}
	for _, j := range defs {
		if _, err := Parse(j.Schedule); err != nil {
			return &config.KeyError{Key: "cron.schedules." + j.Name, Msg: err.Error()}
		}
	}
	return nil
}

// Parse parses a schedule: five fields or a descriptor (@hourly, @daily, @every 10m). A
// timezone prefix is refused: jobs run in the settlement timezone (config timezone), which
// Kubernetes takes from the CronJob's timeZone and `paygw cron` from its location.
func Parse(spec string) (cron.Schedule, error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule %q: no TZ= prefix; jobs run in the config timezone", spec)
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// Next returns the next n run times of a schedule after now, in loc.
func Next(s cron.Schedule, now time.Time, loc *time.Location, n int) []time.Time {
	out := make([]time.Time, 0, n)
	t := now.In(loc)
	for len(out) < n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Find returns the job named name.
func Find(defs []Job, name string) (Job, bool) {
	for _, j := range defs {
		if j.Name == name {
			return j, true
		}
	}
	return Job{}, false
}

// FormatDuration writes d without zero units: 72h, 90m, 1h30m, 45s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func names(defs []Job) string {
	ns := make([]string, len(defs))
	for i, j := range defs {
		ns[i] = j.Name
	}
	return strings.Join(ns, ", ")
}

// publishedMinutes converts a validated HH:MM (config checks it) to minutes after midnight.
func publishedMinutes(hhmm string) int {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return 9 * 60 // config's default; config.Parse has refused anything else already
	}
	return t.Hour()*60 + t.Minute()
}

// daily is the cron expression for every day at min minutes after midnight. A time past midnight
// wraps to the next day's clock, where "yesterday" is already one day later: keep a late
// channel's reconcile before midnight with cron.schedules.
func daily(min int) string {
	min %= 24 * 60
	return fmt.Sprintf("%d %d * * *", min%60, min/60)
}
