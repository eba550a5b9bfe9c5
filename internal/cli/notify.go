package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/notify"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

func init() { register(newReplayNotifyCmd) }

// replayNotifyOpts are replay-notify's flags (API.md).
type replayNotifyOpts struct {
	Merchant, Payment, Event, Status string
	Since, Until                     string
	DryRun, Now, All, JSON           bool
	Rate                             float64
	rateSet                          bool
}

// Validate checks the flags and builds the selection; now and loc resolve --since/--until.
func (o *replayNotifyOpts) Validate(now time.Time, loc *time.Location) (store.NotificationFilter, error) {
	f := store.NotificationFilter{MerchantID: o.Merchant, PaymentID: o.Payment, Type: o.Event}
	if o.Event != "" && !contains(paygw.EventTypes, o.Event) {
		return f, Usagef("--event %q: want one of %s", o.Event, strings.Join(paygw.EventTypes, ", "))
	}
	switch st := paygw.NotificationStatus(o.Status); st {
	case "", paygw.NotificationDead, paygw.NotificationFailed, paygw.NotificationPending, paygw.NotificationDelivered:
		f.Status = st
	default:
		return f, Usagef("--status %q: want dead, failed, pending or delivered", o.Status)
	}
	var err error
	if f.Since, err = parseReplayTime(o.Since, now, loc); err != nil {
		return f, Usagef("--since %q: %v", o.Since, err)
	}
	if f.Until, err = parseReplayTime(o.Until, now, loc); err != nil {
		return f, Usagef("--until %q: %v", o.Until, err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, Usagef("--since %s is not before --until %s", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if o.Rate < 0 || (o.rateSet && o.Rate == 0) {
		return f, Usagef("--rate %v: want a positive number of notifications per second", o.Rate)
	}
	if o.rateSet && !o.Now {
		return f, Usagef("--rate limits --now deliveries; without --now the workers deliver")
	}
	if o.DryRun && o.Now {
		return f, Usagef("--dry-run and --now exclude each other")
	}
	if f.Empty() && !o.All {
		return f, Usagef("no filter: give --merchant, --payment, --event, --status, --since or --until, or --all to replay every notification")
	}
	if o.All && !f.Empty() {
		return f, Usagef("--all selects every notification: drop it or the filters")
	}
	return f, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// parseReplayTime reads a --since/--until value: RFC 3339, "YYYY-MM-DD" or
// "YYYY-MM-DD HH:MM[:SS]" in the settlement timezone, or an age back from now ("72h", "30m",
// "7d"). Empty is the zero time (no bound).
func parseReplayTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 36600 {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, errors.New("want RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (settlement timezone) or an age such as 72h or 7d")
}

// replayJSON is cliout.Replay (the shape is declared once, in cliout).
type replayJSON = cliout.Replay

// notificationJSON is cliout.Notification (the shape is declared once, in cliout).
type notificationJSON = cliout.Notification

func newReplayNotifyCmd(app *App) *cobra.Command {
	var o replayNotifyOpts
	cmd := &cobra.Command{
		Use:   "replay-notify",
		Short: "Re-deliver merchant notifications: re-queue them, deliver them now, or list them",
		Long: `Select merchant notifications by merchant, payment, event type, status and creation time, and
re-deliver them with their original event id and body. By default they are re-queued for the
delivery workers (status pending, the retry schedule restarted, the attempt count continuing).
--now delivers them from this process (progress bar on a terminal, --rate N per second);
--dry-run lists them and sends nothing. Every replayed attempt is recorded as manual.
With no filter at all the command refuses to run unless --all is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.rateSet = cmd.Flags().Changed("rate")
			return runReplayNotify(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Merchant, "merchant", "", "only this merchant's notifications")
	f.StringVar(&o.Payment, "payment", "", "only this payment's notifications (and its refunds')")
	f.StringVar(&o.Event, "event", "", "only this event type: "+strings.Join(paygw.EventTypes, ", "))
	f.StringVar(&o.Status, "status", "", "only this status: dead, failed, pending or delivered")
	f.StringVar(&o.Since, "since", "", "created at or after: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (settlement timezone), or an age like 72h, 7d")
	f.StringVar(&o.Until, "until", "", "created before (same forms as --since)")
	f.BoolVar(&o.DryRun, "dry-run", false, "list what would be sent; send nothing")
	f.BoolVar(&o.Now, "now", false, "deliver from this process instead of re-queueing for the workers")
	f.Float64Var(&o.Rate, "rate", 0, "with --now: at most N deliveries per second")
	f.BoolVar(&o.All, "all", false, "allow selecting every notification (no filter)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object")
	return cmd
}

func runReplayNotify(ctx context.Context, app *App, o replayNotifyOpts) error {
	cfg, err := app.Cfg()
	if err != nil {
		return err
	}
	filter, err := o.Validate(app.Now(), cfg.Location())
	if err != nil {
		return err
	}
	if err := app.CheckDSN(); err != nil {
		return err
	}
	s, err := app.Store(ctx)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	w := notify.NewWorker(s, cfg.Notify, app.Log, nil, notify.WithClock(app.Now),
		notify.WithID(fmt.Sprintf("replay/%s/%d", host, os.Getpid())), notify.WithStatsInterval(0))
	ro := notify.ReplayOptions{Filter: filter, All: o.All, DryRun: o.DryRun, Now: o.Now, Rate: o.Rate}
	var res notify.ReplayResult
	run := func(ctx context.Context) (string, error) {
		var prog *mpb.Progress
		var bar *mpb.Bar
		if o.Now {
			var done atomic.Int64
			if app.stderrIsTerminal() {
				prog = mpb.NewWithContext(ctx, mpb.WithOutput(app.Stderr))
			}
			ro.OnStart = func(total int) {
				if prog != nil {
					bar = prog.AddBar(int64(total), mpb.PrependDecorators(decor.Name("replay "), decor.CountersNoUnit("%d/%d")),
						mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.AverageSpeed(nil, "%.1f/s")))
				}
			}
			ro.OnDone = func(paygw.Notification, bool) {
				n := done.Add(1) // OnDone runs on the replay's delivery goroutines
				if bar != nil {
					bar.Increment()
				} else if n%1000 == 0 {
					app.Log.Info().Int64("done", n).Msg("replay progress")
				}
			}
		}
		var err error
		res, err = w.Replay(ctx, ro)
		if prog != nil {
			if bar != nil {
				bar.Abort(false)
			}
			prog.Wait()
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("selected %d, delivered %d, failed %d, requeued %d, skipped %d",
			res.Selected, res.Delivered, res.Failed, res.Requeued, res.Skipped), nil
	}
	if o.DryRun {
		if _, err := run(ctx); err != nil {
			return err
		}
	} else {
		ran, err := app.RunJob(ctx, s, JobSpec{Job: "replay-notify", BusinessKey: filterKey(filter, o.Now)}, run)
		if err != nil {
			return err
		}
		if !ran {
			res = notify.ReplayResult{}
		}
	}
	out := replayJSON{Selected: res.Selected, Delivered: res.Delivered, Failed: res.Failed, Requeued: res.Requeued,
		Skipped: res.Skipped, DryRun: res.DryRun}
	if o.JSON {
		for _, n := range res.Items {
			out.Notifications = append(out.Notifications, toNotificationJSON(n))
		}
		return writeJSON(app.Stdout, out)
	}
	if o.DryRun {
		return printNotifications(app.Stdout, res.Items)
	}
	fmt.Fprintf(app.Stdout, "selected %d, delivered %d, failed %d, requeued %d, skipped %d\n",
		out.Selected, out.Delivered, out.Failed, out.Requeued, out.Skipped)
	return nil
}

// filterKey names a replay's selection for its job lease: the same selection never runs twice
// at once; different selections do not wait for each other.
func filterKey(f store.NotificationFilter, now bool) string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	mode := "requeue"
	if now {
		mode = "now"
	}
	return strings.Join([]string{mode, f.MerchantID, f.PaymentID, f.Type, string(f.Status), ts(f.Since), ts(f.Until)}, "/")
}

func toNotificationJSON(n paygw.Notification) notificationJSON {
	return notificationJSON{ID: n.ID, Type: n.Type, MerchantID: n.MerchantID, PaymentID: n.PaymentID, RefundID: n.RefundID,
		URL: n.URL, Status: string(n.Status), Attempts: n.Attempts, LastStatus: n.LastStatus, LastError: n.LastError,
		CreatedAt: n.CreatedAt.UTC(), NextAttemptAt: n.NextAttemptAt.UTC()}
}

func printNotifications(w io.Writer, ns []paygw.Notification) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tTYPE\tMERCHANT\tOBJECT\tSTATUS\tATTEMPTS\tLAST\tCREATED")
	for _, n := range ns {
		obj := n.PaymentID
		if n.RefundID != "" {
			obj = n.RefundID
		}
		last := "-"
		if n.LastStatus != 0 {
			last = strconv.Itoa(n.LastStatus)
		} else if n.LastError != "" {
			last = "error"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.ID, n.Type, n.MerchantID, obj, n.Status, n.Attempts, last,
			n.CreatedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "%d notifications would be sent (dry run)\n", len(ns))
	return tw.Flush()
}
