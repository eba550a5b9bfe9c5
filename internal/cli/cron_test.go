package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
	"github.com/paygw/paygw/jobs"
)

// cronProbe is a hidden command that exists only in this test binary: a batch job that goes
// through RunJob like reconcile and settle do, and blocks while the test holds it.
var cronProbe struct {
	mu      sync.Mutex
	starts  int
	trigger []string
	hold    chan struct{} // when non-nil, a run waits for it to close (or for its context)
	started chan struct{} // receives once per start
	ctxErr  []error
}

func init() {
	register(func(app *App) *cobra.Command {
		var key string
		cmd := &cobra.Command{
			Use: "zz-cron-probe", Hidden: true, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				s, err := app.Store(cmd.Context())
				if err != nil {
					return err
				}
				_, err = app.RunJob(cmd.Context(), s, JobSpec{Job: "probe", BusinessKey: key}, func(ctx context.Context) (string, error) {
					cronProbe.mu.Lock()
					cronProbe.starts++
					cronProbe.trigger = append(cronProbe.trigger, app.getenv("PAYGW_TRIGGER"))
					hold, started := cronProbe.hold, cronProbe.started
					cronProbe.mu.Unlock()
					if started != nil {
						started <- struct{}{}
					}
					if hold != nil {
						select {
						case <-hold:
						case <-ctx.Done():
							cronProbe.mu.Lock()
							cronProbe.ctxErr = append(cronProbe.ctxErr, ctx.Err())
							cronProbe.mu.Unlock()
							return "", ctx.Err()
						}
					}
					return "probed " + key, nil
				})
				return err
			},
		}
		cmd.Flags().StringVar(&key, "key", "k", "business key")
		return cmd
	})
}

func resetProbe(hold bool) {
	cronProbe.mu.Lock()
	defer cronProbe.mu.Unlock()
	cronProbe.starts, cronProbe.trigger, cronProbe.ctxErr = 0, nil, nil
	cronProbe.hold, cronProbe.started = nil, make(chan struct{}, 16)
	if hold {
		cronProbe.hold = make(chan struct{})
	}
}

// syncBuffer is a bytes.Buffer safe for the test's reads while cron writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testApp(t *testing.T, dsn string, out, errw *syncBuffer) *App {
	t.Helper()
	app := &App{DB: dsn, LogLevel: "debug", LogFormat: "json", Stdout: out, Stderr: errw, Now: time.Now,
		Getenv: func(string) string { return "" }, Keys: storetest.TestKeys()}
	root := NewRoot(app)
	root.SetArgs([]string{"--db", dsn, "--log-level", "debug", "--log-format", "json", "jobs", "list", "--limit", "1"})
	root.SetOut(out)
	root.SetErr(errw)
	if err := root.Execute(); err != nil { // sets up the logger; also proves jobs list on an empty table
		t.Fatalf("jobs list: %v", err)
	}
	return app
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func listRuns(t *testing.T, dsn, job string) []paygw.JobRun {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.ListJobRuns(context.Background(), job, 100)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestCronRunsJobsInProcessAndDrains(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			storetest.OpenDSN(t, dsn)
			var out, errw syncBuffer
			app := testApp(t, dsn, &out, &errw)
			resetProbe(true)
			defs := []jobs.Job{{Name: "probe", Schedule: "@every 1s", Args: []string{"zz-cron-probe", "--key", "2026-11-22"}}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- runSchedule(ctx, app, time.UTC, defs, cronOpts{DrainTimeout: time.Hour}) }()

			<-cronProbe.started // first run is holding
			// The next tick finds the previous run still going: cron skips it.
			waitFor(t, "a skipped tick", func() bool { return strings.Contains(errw.String(), "previous run of this job is still running") })
			cancel()
			select {
			case err := <-done:
				t.Fatalf("cron returned %v while a job was still running", err)
			case <-time.After(50 * time.Millisecond):
			}
			close(cronProbe.hold) // the running job finishes; cron then returns
			if err := <-done; err != nil {
				t.Fatalf("runSchedule: %v", err)
			}
			cronProbe.mu.Lock()
			starts, triggers := cronProbe.starts, cronProbe.trigger
			cronProbe.mu.Unlock()
			if starts != 1 {
				t.Errorf("job started %d times, want 1 (ticks while running are skipped)", starts)
			}
			if len(triggers) != 1 || triggers[0] != "cron" {
				t.Errorf("PAYGW_TRIGGER = %q, want cron", triggers)
			}
			runs := listRuns(t, dsn, "probe")
			if len(runs) != 1 || runs[0].Status != paygw.JobSucceeded || runs[0].Trigger != "cron" ||
				runs[0].Summary != "probed 2026-11-22" || runs[0].FinishedAt == nil {
				t.Errorf("job_runs = %+v, want one succeeded cron run", runs)
			}
			logs := errw.String()
			for _, want := range []string{`"message":"scheduled"`, `"next":"`, `"message":"job done"`, `"message":"cron stopped"`} {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %s:\n%s", want, logs)
				}
			}
		})
	}
}

func TestCronCancelsJobsAfterDrainTimeout(t *testing.T) {
	dsn := storetest.DSN(t, store.SQLite)
	storetest.OpenDSN(t, dsn)
	var out, errw syncBuffer
	app := testApp(t, dsn, &out, &errw)
	resetProbe(true)
	defs := []jobs.Job{{Name: "probe", Schedule: "@every 1s", Args: []string{"zz-cron-probe"}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runSchedule(ctx, app, time.UTC, defs, cronOpts{DrainTimeout: time.Millisecond}) }()
	<-cronProbe.started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runSchedule: %v", err)
	}
	cronProbe.mu.Lock()
	ctxErr := cronProbe.ctxErr
	cronProbe.mu.Unlock()
	if len(ctxErr) != 1 {
		t.Errorf("running job saw %v, want its context cancelled once", ctxErr)
	}
	runs := listRuns(t, dsn, "probe")
	if len(runs) != 1 || runs[0].Status != paygw.JobFailed || runs[0].Error == "" {
		t.Errorf("job_runs = %+v, want one failed run with its error", runs)
	}
	if !strings.Contains(errw.String(), "drain timeout: cancelling running jobs") {
		t.Errorf("no drain timeout log:\n%s", errw.String())
	}
}

func TestRunInProcessUsesTheCommandTree(t *testing.T) {
	dsn := storetest.DSN(t, store.SQLite)
	storetest.OpenDSN(t, dsn)
	var out, errw syncBuffer
	app := testApp(t, dsn, &out, &errw)
	resetProbe(false)
	if code := runInProcess(context.Background(), app, &out, &errw, []string{"zz-cron-probe", "--key", "x"}, "cron"); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errw.String())
	}
	if code := runInProcess(context.Background(), app, &out, &errw, []string{"zz-cron-probe", "--no-such-flag"}, "cron"); code != ExitUsage {
		t.Errorf("unknown flag: exit %d, want %d", code, ExitUsage)
	}
	// jobs list shows the run, in JSON too.
	var jout, jerr syncBuffer
	if code := runInProcess(context.Background(), app, &jout, &jerr, []string{"jobs", "list", "--job", "probe", "--json"}, "manual"); code != ExitOK {
		t.Fatalf("jobs list: exit %d\n%s", code, jerr.String())
	}
	var got struct {
		Runs []jobRunJSON `json:"runs"`
	}
	if err := json.Unmarshal([]byte(jout.String()), &got); err != nil {
		t.Fatalf("jobs list --json: %v\n%s", err, jout.String())
	}
	if len(got.Runs) != 1 || got.Runs[0].Job != "probe" || got.Runs[0].BusinessKey != "x" ||
		got.Runs[0].Trigger != "cron" || got.Runs[0].Status != "succeeded" || got.Runs[0].FinishedAt == nil {
		t.Errorf("jobs list --json = %+v", got)
	}
}

func TestScheduleCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "timezone: Asia/Shanghai\nnotify: {replay_dead_after: 72h}\ncron:\n  schedules: {settle: \"15 10 * * *\"}\n")
	bad := write("bad.yaml", "cron:\n  schedules: {setle: \"15 10 * * *\"}\n")
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := Main(context.Background(), args, strings.NewReader(""), &out, &errw, func(string) string { return "" })
		return code, out.String(), errw.String()
	}
	code, out, errs := run("--config", good, "jobs", "show-schedule", "--count", "2", "--json")
	if code != ExitOK {
		t.Fatalf("show-schedule: exit %d\n%s", code, errs)
	}
	var got struct {
		Timezone string             `json:"timezone"`
		Jobs     []scheduledJobJSON `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{"reconcile-sandbox": "30 9 * * *", "settle": "15 10 * * *", "report-daily": "30 10 * * *", "replay-dead": "0 * * * *"}
	if got.Timezone != "Asia/Shanghai" || len(got.Jobs) != len(want) {
		t.Fatalf("show-schedule = %+v", got)
	}
	for _, j := range got.Jobs {
		if want[j.Name] != j.Schedule || len(j.Next) != 2 || !j.Next[0].Before(j.Next[1]) {
			t.Errorf("job %s: schedule %q next %v, want %q and two run times", j.Name, j.Schedule, j.Next, want[j.Name])
		}
	}
	code, out, _ = run("--config", good, "jobs", "show-schedule")
	if code != ExitOK || !strings.Contains(out, "paygw replay-notify --status dead --since 72h") {
		t.Errorf("show-schedule table: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--config", bad, "cron"},
		{"--config", bad, "jobs", "show-schedule"},
		{"cron", "--drain-timeout", "-1s"},
		{"jobs", "list", "--limit", "0"},
	} {
		if code, _, errs := run(args...); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, ExitUsage, errs)
		}
	}
	if _, _, errs := run("--config", bad, "cron"); !strings.Contains(errs, "cron.schedules.setle") {
		t.Errorf("error does not name the key:\n%s", errs)
	}
}
