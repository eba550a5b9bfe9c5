package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/jobs"
)

func init() { register(newJobsCmd) }

func newJobsCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "jobs", Short: "Recent batch job runs and the job schedule"}
	cmd.AddCommand(newJobsListCmd(app), newJobsScheduleCmd(app))
	return cmd
}

// jobsListOpts are the options of `paygw jobs list`.
type jobsListOpts struct {
	Job   string
	Limit int
	JSON  bool
}

// Validate checks the options.
func (o jobsListOpts) Validate() error {
	if o.Limit < 1 || o.Limit > 10000 {
		return Usagef("--limit %d: want 1..10000", o.Limit)
	}
	return nil
}

// jobRunJSON is cliout.JobRun (the shape is declared once, in cliout).
type jobRunJSON = cliout.JobRun

func newJobsListCmd(app *App) *cobra.Command {
	o := jobsListOpts{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recent job runs (cron, CronJob or by hand) with their outcome, newest first",
		Long: `List recent runs of batch jobs from the job_runs table: when each started and ended, where,
what started it (manual, cron, cronjob), its outcome (running, succeeded, failed, skipped) and
its summary or error. --job takes the name a run is recorded under (reconcile, settle, …).`,
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
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			runs, err := s.ListJobRuns(cmd.Context(), o.Job, o.Limit)
			if err != nil {
				return err
			}
			if o.JSON {
				out := struct {
					Runs []jobRunJSON `json:"runs"`
				}{Runs: make([]jobRunJSON, 0, len(runs))}
				for _, r := range runs {
					out.Runs = append(out.Runs, toJobRunJSON(r))
				}
				return writeJSON(app.Stdout, out)
			}
			return printJobRuns(app, runs, cfg.Location())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Job, "job", "", "only runs of this job")
	f.IntVar(&o.Limit, "limit", 50, "at most this many runs")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object")
	return cmd
}

func toJobRunJSON(r paygw.JobRun) jobRunJSON {
	j := jobRunJSON{ID: r.ID, Job: r.Job, BusinessKey: r.BusinessKey, Host: r.Host, Trigger: r.Trigger,
		Status: string(r.Status), StartedAt: r.StartedAt.UTC(), Summary: r.Summary, Error: r.Error}
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC()
		j.FinishedAt = &t
	}
	return j
}

func printJobRuns(app *App, runs []paygw.JobRun, loc *time.Location) error {
	if len(runs) == 0 {
		fmt.Fprintln(app.Stdout, "no job runs")
		return nil
	}
	tw := tabwriter.NewWriter(app.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STARTED (%s)\tJOB\tKEY\tTRIGGER\tSTATUS\tTOOK\tHOST\tSUMMARY\n", loc)
	for _, r := range runs {
		took := "-"
		if r.FinishedAt != nil {
			took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		note := r.Summary
		if r.Error != "" {
			note = "error: " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.StartedAt.In(loc).Format("2006-01-02 15:04:05"),
			r.Job, r.BusinessKey, r.Trigger, r.Status, took, r.Host, oneLine(note, 120))
	}
	return tw.Flush()
}

// oneLine keeps a table cell on one line and at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// jobsScheduleOpts are the options of `paygw jobs show-schedule`.
type jobsScheduleOpts struct {
	Count int
	JSON  bool
}

// Validate checks the options.
func (o jobsScheduleOpts) Validate() error {
	if o.Count < 1 || o.Count > 100 {
		return Usagef("--count %d: want 1..100", o.Count)
	}
	return nil
}

// scheduledJobJSON is cliout.ScheduledJob (the shape is declared once, in cliout).
type scheduledJobJSON = cliout.ScheduledJob

func newJobsScheduleCmd(app *App) *cobra.Command {
	o := jobsScheduleOpts{}
	cmd := &cobra.Command{
		Use:   "show-schedule",
		Short: "Show each job's schedule, next run times (settlement timezone) and command line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			cfg, err := app.Cfg()
			if err != nil {
				return err
			}
			if err := jobs.Check(cfg); err != nil {
				return &UsageError{Err: err}
			}
			loc, now := cfg.Location(), app.Now()
			out := struct {
				Timezone string             `json:"timezone"`
				Jobs     []scheduledJobJSON `json:"jobs"`
			}{Timezone: loc.String()}
			for _, j := range jobs.Definitions(cfg) {
				sched, _ := jobs.Parse(j.Schedule) // Check parsed it
				out.Jobs = append(out.Jobs, scheduledJobJSON{Name: j.Name, Schedule: j.Schedule, Args: j.Args,
					Description: j.Description, Shardable: j.Shardable, Next: jobs.Next(sched, now, loc, o.Count)})
			}
			if o.JSON {
				return writeJSON(app.Stdout, out)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "JOB\tSCHEDULE\tNEXT (%s)\tCOMMAND\n", loc)
			for _, j := range out.Jobs {
				next := make([]string, len(j.Next))
				for i, t := range j.Next {
					next[i] = t.Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.Name, j.Schedule, strings.Join(next, ", "),
					jobs.Job{Args: j.Args}.CommandLine())
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&o.Count, "count", 3, "next run times to show per job")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object")
	return cmd
}
