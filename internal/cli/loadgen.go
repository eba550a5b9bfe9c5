package cli

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/loadgen"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

func init() { register(newLoadgenCmd) }

func newLoadgenCmd(app *App) *cobra.Command {
	var o loadgen.Options
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Drive a running paygw with signed create-payment requests and report throughput and latency",
		Long: `Creates payments as one merchant from --concurrency clients in a closed loop for --duration
(or --requests). For withhold and quick_pay it signs an agreement first. Reports successful
payments per second and p50/p95/p99 latency. Point it only at your own loopback servers.

--rate N runs open loop instead: N payments/s started on a fixed schedule by up to --concurrency
clients (a start that finds every client busy is not sent and counts as an error; latency is
measured from the scheduled start). --notify-url sets every payment's notify_url, so each one
produces a merchant notification. --report-every D prints one line per interval (throughput,
p50/p95/p99, errors, error rate) and, at the end, the first and last full interval side by side.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.MerchantID == "" || o.Secret == "" {
				return Usagef("--merchant and --secret are required")
			}
			if _, err := paygw.ParsePayMethod(o.PayMethod); err != nil {
				return Usagef("--pay-method %q: unsupported", o.PayMethod)
			}
			if !money.Currency(o.Currency).Valid() {
				return Usagef("--currency %q: unsupported", o.Currency)
			}
			if o.Amount <= 0 || o.Concurrency <= 0 || (o.Duration <= 0 && o.Requests <= 0) {
				return Usagef("--amount, --concurrency and --duration (or --requests) must be positive")
			}
			if o.Rate < 0 || o.ReportEvery < 0 {
				return Usagef("--rate and --report-every must not be negative")
			}
			if o.NotifyURL != "" {
				if u, err := url.Parse(o.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return Usagef("--notify-url %q: must be an http(s) URL", o.NotifyURL)
				}
			}
			progress := app.Stdout
			if jsonOut {
				progress = app.Stderr
			}
			o.OnInterval = func(iv loadgen.Interval) { fmt.Fprintln(progress, loadgen.FormatInterval(iv)) }
			res, err := loadgen.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			app.Log.Info().Int64("requests", res.Requests).Int64("succeeded", res.Succeeded).
				Float64("per_second", res.Throughput).Float64("p99_ms", res.P99).Msg("loadgen done")
			if jsonOut {
				return writeJSON(app.Stdout, res)
			}
			fmt.Fprintf(app.Stdout, "requests %d  succeeded %d  in %.1fs  →  %.0f payments/s\nlatency ms  p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n",
				res.Requests, res.Succeeded, res.Seconds, res.Throughput, res.P50, res.P95, res.P99, res.Max)
			for k, v := range res.Errors {
				fmt.Fprintf(app.Stdout, "errors %s: %d\n", k, v)
			}
			if s := loadgen.FormatSummary(res); s != "" {
				fmt.Fprint(app.Stdout, s)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "paygw base URL")
	f.StringVar(&o.MerchantID, "merchant", "", "merchant id")
	f.StringVar(&o.Secret, "secret", "", "merchant secret")
	f.IntVar(&o.Concurrency, "concurrency", 64, "concurrent clients")
	f.DurationVar(&o.Duration, "duration", 20*time.Second, "how long to run")
	f.IntVar(&o.Requests, "requests", 0, "stop after this many requests (instead of --duration)")
	f.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured warm-up")
	f.StringVar(&o.PayMethod, "pay-method", "withhold", "pay method")
	f.Int64Var(&o.Amount, "amount", 1234, "amount in minor units")
	f.StringVar(&o.Currency, "currency", "CNY", "currency")
	f.BoolVar(&jsonOut, "json", false, "print one JSON object")
	f.Float64Var(&o.Rate, "rate", 0, "open loop: start this many payments per second (0: closed loop)")
	f.StringVar(&o.NotifyURL, "notify-url", "", "notify_url sent with every payment (each then produces a notification)")
	f.DurationVar(&o.ReportEvery, "report-every", 0, "print one line per interval of this length, and first vs last at the end")
	return cmd
}
