package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/report"
	"github.com/paygw/paygw/internal/store"
)

func init() { register(newReportCmd) }

type reportDailyOpts struct {
	Date string
	Out  string
}

// Validate checks the flags; the date default needs the config, so it is resolved in run.
func (o *reportDailyOpts) Validate() error {
	if o.Date != "" {
		if _, err := paygw.ParseDate(o.Date); err != nil {
			return Usagef("--date: %v", err)
		}
	}
	return nil
}

func newReportCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Excel reports for finance"}
	var o reportDailyOpts
	daily := &cobra.Command{
		Use:   "daily",
		Short: "The day's payments and refunds by merchant, channel and pay method (Excel)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return runReportDaily(cmd.Context(), app, o)
		},
	}
	daily.Flags().StringVar(&o.Date, "date", "", "business date, YYYY-MM-DD (default: yesterday in the settlement timezone)")
	daily.Flags().StringVar(&o.Out, "out", "", "output directory (default: settle.out_dir of the config)")
	cmd.AddCommand(daily)
	return cmd
}

func runReportDaily(ctx context.Context, app *App, o reportDailyOpts) error {
	cfg, err := app.Cfg()
	if err != nil {
		return err
	}
	date, err := app.Date(o.Date, cfg)
	if err != nil {
		return err
	}
	s, out, err := app.openForReports(ctx, cfg, o.Out, store.Options{}, true)
	if err != nil {
		return err
	}
	path := filepath.Join(out, "daily_"+date+".xlsx")
	_, err = app.RunJob(ctx, s, JobSpec{Job: "report-daily", BusinessKey: date}, func(ctx context.Context) (string, error) {
		n, err := writeDailyReport(ctx, s, path, date, cfg.Location(), app.Now())
		if err != nil {
			return "", err
		}
		app.Log.Info().Str("date", date).Int("rows", n).Str("report", path).Msg("daily report written")
		fmt.Fprintf(app.Stdout, "daily report %s: %d rows: %s\n", date, n, path)
		return fmt.Sprintf("%d rows: %s", n, path), nil
	})
	return err
}

// writeDailyReport writes the daily transaction report of business date date to path and
// returns its number of rows.
func writeDailyReport(ctx context.Context, s *store.Store, path, date string, loc *time.Location, now time.Time) (int, error) {
	d, err := paygw.ParseDate(date)
	if err != nil {
		return 0, err
	}
	start, end, err := paygw.DayBounds(date, loc)
	if err != nil {
		return 0, err
	}
	acts, err := s.DailyActivities(ctx, date, start, end)
	if err != nil {
		return 0, err
	}
	rep := report.Daily{Date: d, GeneratedAt: now.UTC(), Rows: make([]report.DailyRow, 0, len(acts))}
	for _, a := range acts {
		rep.Rows = append(rep.Rows, report.DailyRow{
			MerchantID: a.MerchantID, MerchantName: a.MerchantName, Channel: a.Channel, PayMethod: a.PayMethod,
			Currency: money.Currency(a.Currency), Created: a.Created, Succeeded: a.Succeeded,
			SucceededAmount: a.SucceededAmount, Refunds: a.Refunds, RefundedAmount: a.RefundedAmount,
		})
	}
	if err := report.WriteDaily(path, rep); err != nil {
		return 0, err
	}
	return len(rep.Rows), nil
}
