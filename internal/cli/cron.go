package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/paygw/paygw/jobs"
)

func init() { register(newCronCmd) }

// cronOpts are the options of `paygw cron`.
type cronOpts struct {
	// DrainTimeout is how long a stopping cron waits for running jobs before cancelling them.
	DrainTimeout time.Duration
}

// Validate checks the options.
func (o cronOpts) Validate() error {
	if o.DrainTimeout < 0 {
		return Usagef("--drain-timeout %s: must not be negative", o.DrainTimeout)
	}
	return nil
}

func newCronCmd(app *App) *cobra.Command {
	var o cronOpts
	cmd := &cobra.Command{
		Use:   "cron",
		Short: "Run the job schedule in-process (single machine)",
		Long: `Run every job of the schedule (paygw jobs show-schedule) in this process, in the settlement
timezone, with the same command lines the Kubernetes CronJobs run. A job still running from its
previous start is not started again; a job whose lease another process holds is skipped by the
job itself. On SIGTERM or Ctrl-C no new job starts and running jobs get --drain-timeout to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if err := app.CheckDSN(); err != nil {
				return err
			}
			cfg, err := app.Cfg()
			if err != nil {
				return err
			}
			if err := jobs.Check(cfg); err != nil {
				return &UsageError{Err: err}
			}
			// Schema and secret key are checked once at start, not by every job of the schedule.
			if _, err := app.Store(cmd.Context()); err != nil {
				return err
			}
			return runSchedule(cmd.Context(), app, cfg.Location(), jobs.Definitions(cfg), o)
		},
	}
	cmd.Flags().DurationVar(&o.DrainTimeout, "drain-timeout", 5*time.Minute,
		"on shutdown, how long running jobs may finish before they are cancelled")
	return cmd
}

// runSchedule runs defs on their schedules in loc until ctx is done, then stops starting jobs,
// waits up to o.DrainTimeout for running ones, cancels them and waits for them to return.
func runSchedule(ctx context.Context, app *App, loc *time.Location, defs []jobs.Job, o cronOpts) error {
	log := app.Log.With().Str("component", "cron").Logger()
	clog := cronLogger{log: log}
	// Jobs do not inherit ctx's cancellation: a signal stops the schedule, and running jobs are
	// cancelled only when the drain timeout runs out.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	c := cron.New(cron.WithLocation(loc), cron.WithLogger(clog),
		cron.WithChain(cron.Recover(clog), cron.SkipIfStillRunning(clog)))
	ids := make(map[string]cron.EntryID, len(defs))
	stdout := &lockedWriter{w: app.Stdout}
	stderr := &lockedWriter{w: app.Stderr}
	for _, def := range defs {
		sched, err := jobs.Parse(def.Schedule)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("job %s: %w", def.Name, err)}
		}
		def := def
		ids[def.Name] = c.Schedule(sched, cron.FuncJob(func() {
			start := time.Now()
			jl := log.With().Str("job", def.Name).Strs("args", def.Args).Logger()
			jl.Info().Msg("job starting")
			code := runInProcess(jobCtx, app, stdout, stderr, def.Args, "cron")
			ev := jl.Info()
			if code != ExitOK {
				ev = jl.Error()
			}
			ev.Int("exit_code", code).Dur("took", time.Since(start)).
				Time("next", c.Entry(ids[def.Name]).Next).Msg("job done")
		}))
	}
	c.Start()
	for _, def := range defs {
		log.Info().Str("job", def.Name).Str("schedule", def.Schedule).Str("timezone", loc.String()).
			Str("command", def.CommandLine()).Time("next", c.Entry(ids[def.Name]).Next).Msg("scheduled")
	}
	log.Info().Int("jobs", len(defs)).Msg("cron running")
	<-ctx.Done()
	log.Info().Dur("drain_timeout", o.DrainTimeout).Msg("stopping: no new jobs; waiting for running ones")
	stopped := c.Stop()
	timer := time.NewTimer(o.DrainTimeout)
	defer timer.Stop()
	select {
	case <-stopped.Done():
	case <-timer.C:
		log.Warn().Msg("drain timeout: cancelling running jobs")
		cancelJobs()
		<-stopped.Done()
	}
	log.Info().Msg("cron stopped")
	return nil
}

// runInProcess runs one paygw command line as its own App, exactly as `paygw ARGS` would run with
// PAYGW_TRIGGER=trigger, and returns its exit code. stdout and stderr must be safe for concurrent
// writes when jobs overlap. Global options (--db, --config, logging) come
// from app through their environment twins so that args stay the job definition's own.
func runInProcess(ctx context.Context, app *App, stdout, stderr io.Writer, args []string, trigger string) int {
	format := app.LogFormat
	if format == "" && app.stderrIsTerminal() {
		format = "console"
	}
	env := map[string]string{
		"PAYGW_TRIGGER":    trigger,
		"PAYGW_DB":         app.DB,
		"PAYGW_CONFIG":     app.Config,
		"PAYGW_LOG_LEVEL":  app.LogLevel,
		"PAYGW_LOG_FORMAT": format,
	}
	child := &App{
		Keys:   app.Keys,
		Stdin:  strings.NewReader(""),
		Stdout: stdout,
		Stderr: stderr,
		Now:    app.Now,
		Getenv: func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return app.getenv(k)
		},
	}
	if child.Now == nil {
		child.Now = time.Now
	}
	root := NewRoot(child)
	root.SetArgs(args)
	root.SetIn(child.Stdin)
	root.SetOut(child.Stdout)
	root.SetErr(child.Stderr)
	err := root.ExecuteContext(ctx)
	defer child.close()
	return child.exitCode(err)
}

// lockedWriter serialises writes of concurrently running jobs to one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cronLogger adapts zerolog to robfig/cron's logger: its routine messages are debug, a skipped
// start (the previous run still going) is info, errors (a recovered panic) are errors.
type cronLogger struct{ log zerolog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	ev := l.log.Debug()
	if msg == "skip" {
		ev = l.log.Info()
		msg = "skipped: the previous run of this job is still running"
	}
	ev.Fields(kv).Msg(msg)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error().Err(err).Fields(kv).Msg(msg)
}
