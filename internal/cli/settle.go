package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
)

func init() { register(newSettleCmd) }

type settleOpts struct {
	Date         string
	Merchant     string
	Shard        int
	Shards       int
	DryRun       bool
	AllowOpenDay bool
	Out          string
	JSON         bool
}

// Validate checks flags that need no database; the date default and the open-day rule need
// the config and the clock, so resolve does them.
func (o *settleOpts) Validate() error {
	if o.Shards < 0 {
		return Usagef("--shards %d: must be positive", o.Shards)
	}
	if o.Shards <= 1 && o.Shard > 0 {
		return Usagef("--shard %d needs --shards N greater than it", o.Shard)
	}
	if o.Shards > 1 && (o.Shard < 0 || o.Shard >= o.Shards) {
		return Usagef("--shard %d: want 0 <= shard < --shards %d", o.Shard, o.Shards)
	}
	if o.Merchant != "" && o.Shards > 1 {
		return Usagef("--merchant and --shards exclude each other")
	}
	return nil
}

// settleJSON is cliout.Settle (the shape is declared once, in cliout).
type settleJSON = cliout.Settle

// onHoldJSON is cliout.OnHold (the shape is declared once, in cliout).
type onHoldJSON = cliout.OnHold

// heldBackJSON is cliout.HeldBack (the shape is declared once, in cliout).
type heldBackJSON = cliout.HeldBack

func newSettleJSON(date string) settleJSON {
	return settleJSON{Date: date, Batches: []settleBatchJSON{}, OnHold: []onHoldJSON{}, Released: []string{}, HeldBack: []heldBackJSON{}}
}

// settleBatchJSON is cliout.SettleBatch (the shape is declared once, in cliout).
type settleBatchJSON = cliout.SettleBatch

func newSettleCmd(app *App) *cobra.Command {
	var o settleOpts
	cmd := &cobra.Command{
		Use:   "settle",
		Short: "Close a business date: one settlement batch per merchant and currency, payout file and report",
		Long: `settle closes business date --date (default: yesterday in the settlement timezone).
Per merchant and currency it settles every succeeded payment and refund with a business date up
to the date that no batch holds yet (only reconciled ones when settle.require_reconciled), writes
one batch with its items and ledger journal atomically, then a payout file (0600) and an Excel
settlement report under --out. Re-running a settled date prints its batches and changes nothing.
A merchant without a bank account, or suspended, never fails the run: its batches are kept on
hold (left out of the payout file, listed with the reason, exit 0 with a warning) until
merchant update/resume releases them into the next payout file (or settle payout --date D).
The output also lists what was held back from settlement and why (not reconciled, open
discrepancy, refund waiting for its payment), with counts and amounts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Shard = shardDefault(cmd, app, o.Shard, o.Shards)
			if err := o.Validate(); err != nil {
				return err
			}
			return runSettle(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Date, "date", "", "business date to close, YYYY-MM-DD (default: yesterday in the settlement timezone)")
	f.StringVar(&o.Merchant, "merchant", "", "settle only this merchant")
	f.IntVar(&o.Shard, "shard", 0, "this run's shard, 0-based (default: env JOB_COMPLETION_INDEX when --shards is set)")
	f.IntVar(&o.Shards, "shards", 0, "split merchants into N shards by a stable hash of their id")
	f.BoolVar(&o.DryRun, "dry-run", false, "compute and print the batches without writing anything")
	f.BoolVar(&o.AllowOpenDay, "allow-open-day", false, "settle a date that has not ended yet (demos, tests)")
	f.StringVar(&o.Out, "out", "", "directory for the payout file and report (default: settle.out_dir of the config)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	cmd.AddCommand(newMarkPaidCmd(app), newPayoutCmd(app))
	return cmd
}

// shardDefault applies Kubernetes Indexed Jobs' JOB_COMPLETION_INDEX as --shard when --shards
// is given and neither --shard nor PAYGW_SHARD was.
func shardDefault(cmd *cobra.Command, app *App, shard, shards int) int {
	if shards <= 1 || cmd.Flags().Changed("shard") || app.getenv(EnvName("shard")) != "" {
		return shard
	}
	if v := app.getenv("JOB_COMPLETION_INDEX"); v != "" {
		if i, err := strconv.Atoi(v); err == nil {
			return i
		}
		return -1 // reported by Validate as a bad shard
	}
	return shard
}

func runSettle(ctx context.Context, app *App, o settleOpts) error {
	cfg, err := app.Cfg()
	if err != nil {
		return err
	}
	date, err := app.Date(o.Date, cfg)
	if err != nil {
		return err
	}
	ended, err := paygw.DayEnded(date, app.Now(), cfg.Location())
	if err != nil {
		return Usagef("--date: %v", err)
	}
	if !ended && !o.AllowOpenDay {
		return Usagef("--date %s has not ended in %s; pass --allow-open-day to settle it anyway", date, cfg.Location())
	}
	s, out, err := app.openForReports(ctx, cfg, o.Out, store.Options{StatementTimeout: 30 * time.Minute}, !o.DryRun)
	if err != nil {
		return err
	}
	opts := settle.Options{
		Date: date, Merchant: o.Merchant, Shard: o.Shard, Shards: o.Shards, DryRun: o.DryRun,
		RequireReconciled: cfg.Settle.Reconciled(), OutDir: out, Now: app.Now,
		Log: app.Log.With().Str("component", "settle").Logger(),
	}
	var res settle.Outcome
	work := func(ctx context.Context) (string, error) {
		var bar *mpb.Bar
		var prog *mpb.Progress
		if app.stderrIsTerminal() {
			prog = mpb.NewWithContext(ctx, mpb.WithOutput(app.Stderr))
			opts.Progress = func(done, total int) {
				if bar == nil {
					bar = prog.AddBar(int64(total), mpb.PrependDecorators(decor.Name("settle "+date+" "), decor.CountersNoUnit("%d/%d merchants")),
						mpb.AppendDecorators(decor.Percentage()))
				}
				bar.SetCurrent(int64(done))
			}
		}
		res, err = settle.Run(ctx, s, opts)
		if prog != nil {
			if bar != nil {
				bar.Abort(false)
			}
			prog.Wait()
		}
		if errors.Is(err, settle.ErrUnknownMerchant) {
			return "", Usagef("--merchant: %v", err)
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d batches (%d new), %d refunds deferred", len(res.Batches), res.Created, res.Deferred), nil
	}
	if o.DryRun {
		if _, err := work(ctx); err != nil {
			return err
		}
	} else {
		key := date
		switch {
		case o.Merchant != "":
			key += "/merchant-" + o.Merchant
		case o.Shards > 1:
			key += fmt.Sprintf("/shard-%d-of-%d", o.Shard, o.Shards)
		}
		ran, err := app.RunJob(ctx, s, JobSpec{Job: "settle", BusinessKey: key}, work)
		if err != nil {
			return err
		}
		if !ran {
			if o.JSON {
				return writeJSON(app.Stdout, newSettleJSON(date))
			}
			fmt.Fprintf(app.Stdout, "settle %s: another run holds the lease; nothing done: %s\n", key, skippedBecause(ctx, s, "settle", key))
			return nil
		}
	}
	held := map[string]bool{}
	for _, h := range res.OnHold {
		held[h.MerchantID] = true
	}
	var heldBack int64
	for _, h := range res.HeldBack {
		heldBack += h.Count
	}
	ev := app.Log.Info()
	if len(res.OnHold) > 0 {
		ev = app.Log.Warn()
	}
	ev.Str("date", date).Int("batches", len(res.Batches)).Int("new", res.Created).Int("deferred_refunds", res.Deferred).
		Int("skipped_merchants", res.Skipped).Int("on_hold", len(res.OnHold)).Strs("on_hold_merchants", slices.Sorted(maps.Keys(held))).
		Int("released", len(res.Released)).Int64("held_back_items", heldBack).Bool("dry_run", o.DryRun).
		Str("payout_file", res.PayoutFile).Str("report", res.ReportFile).Msg("settle done")
	if o.JSON {
		return writeJSON(app.Stdout, toSettleJSON(res))
	}
	printSettle(app.Stdout, res, o.DryRun)
	return nil
}

// skippedBecause returns the summary RunJob recorded for this process's skipped run of job and
// key: "lease NAME held by HOLDER until T", naming who holds the work.
func skippedBecause(ctx context.Context, s *store.Store, job, key string) string {
	runs, err := s.ListJobRuns(ctx, job, 20)
	if err == nil {
		for _, r := range runs {
			if r.BusinessKey == key && r.Status == paygw.JobSkipped {
				return r.Summary
			}
		}
	}
	return "see the log for the holder"
}

func toSettleJSON(res settle.Outcome) settleJSON {
	j := newSettleJSON(res.Date)
	for _, b := range res.Batches {
		j.Batches = append(j.Batches, settleBatchJSON{MerchantID: b.MerchantID, MerchantName: b.MerchantName, Currency: b.Currency,
			Payments: b.Payments, Refunds: b.Refunds, Gross: b.Gross, Refunded: b.Refunded, Fee: b.Fee, CarriedIn: b.CarriedIn,
			Net: b.Net, Status: b.Shown(), HoldReason: b.HoldReason})
	}
	for _, h := range res.OnHold {
		j.OnHold = append(j.OnHold, onHoldJSON{BatchID: h.ID, MerchantID: h.MerchantID, MerchantName: h.MerchantName,
			Currency: h.Currency, Date: h.Date, Net: h.Net, Reason: h.Reason, HeldAt: h.HeldAt.UTC()})
	}
	for _, b := range res.Released {
		j.Released = append(j.Released, b.ID)
	}
	for _, h := range res.HeldBack {
		j.HeldBack = append(j.HeldBack, heldBackJSON{MerchantID: h.MerchantID, MerchantName: h.MerchantName, Currency: h.Currency,
			Kind: h.Kind, Reason: h.Reason, Count: h.Count, Amount: h.Amount})
	}
	return j
}

func printSettle(w io.Writer, res settle.Outcome, dry bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MERCHANT\tNAME\tCURRENCY\tPAYMENTS\tREFUNDS\tGROSS\tREFUNDED\tFEE\tCARRIED IN\tNET\tSTATUS\tBATCH\t")
	for _, b := range res.Batches {
		c := money.Currency(b.Currency)
		id := b.ID
		if dry && b.New {
			id = "(dry run)"
		}
		status := b.Shown()
		if b.HoldReason != "" {
			status = "on hold"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", b.MerchantID, b.MerchantName, b.Currency, b.Payments, b.Refunds,
			money.Format(b.Gross, c), money.Format(b.Refunded, c), money.Format(b.Fee, c), money.Format(b.CarriedIn, c),
			money.Format(b.Net, c), status, id)
	}
	tw.Flush()
	fmt.Fprintf(w, "%s: %d batches, %d new", res.Date, len(res.Batches), res.Created)
	if dry {
		fmt.Fprint(w, " (dry run: nothing written)")
	}
	if res.Deferred > 0 {
		fmt.Fprintf(w, ", %d refunds wait for their payment", res.Deferred)
	}
	fmt.Fprintln(w)
	printHolds(w, res)
	if len(res.HeldBack) > 0 {
		fmt.Fprintln(w, "held back from settlement (up to "+res.Date+"):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MERCHANT\tNAME\tCURRENCY\tKIND\tREASON\tCOUNT\tAMOUNT")
		for _, h := range res.HeldBack {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\n", h.MerchantID, h.MerchantName, h.Currency, h.Kind,
				settle.HeldBackText(h.Reason), h.Count, money.Format(h.Amount, money.Currency(h.Currency)))
		}
		tw.Flush()
	}
	if res.PayoutFile != "" {
		fmt.Fprintf(w, "payout file: %s\n", res.PayoutFile)
	}
	if res.ReportFile != "" {
		fmt.Fprintf(w, "report:      %s\n", res.ReportFile)
	}
}

// printHolds lists the batches on hold and those released into this payout file.
func printHolds(w io.Writer, res settle.Outcome) {
	if len(res.OnHold) > 0 {
		fmt.Fprintf(w, "on hold, left out of the payout file (%d):\n", len(res.OnHold))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, h := range res.OnHold {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s %s\t%s\n", h.ID, h.MerchantID, h.MerchantName, h.Date,
				money.Format(h.Net, money.Currency(h.Currency)), h.Currency, settle.ReasonText(h.Reason))
		}
		tw.Flush()
	}
	if len(res.Released) > 0 {
		fmt.Fprintf(w, "released from hold, in this payout file (%d):\n", len(res.Released))
		for _, b := range res.Released {
			fmt.Fprintf(w, "  %s %s %s %s %s %s\n", b.ID, b.MerchantID, b.MerchantName, b.Date,
				money.Format(b.Net, money.Currency(b.Currency)), b.Currency)
		}
	}
}

type markPaidOpts struct {
	Batch, BankRef, File string
	JSON                 bool
}

func (o *markPaidOpts) Validate() error {
	switch {
	case o.File != "" && (o.Batch != "" || o.BankRef != ""):
		return Usagef("--file excludes --batch and --bank-ref")
	case o.File == "" && (o.Batch == "" || o.BankRef == ""):
		return Usagef("give --batch ID --bank-ref REF, or --file returns.csv")
	}
	return nil
}

// markPaidJSON is cliout.MarkPaid (the shape is declared once, in cliout).
type markPaidJSON = cliout.MarkPaid

func newMarkPaidCmd(app *App) *cobra.Command {
	var o markPaidOpts
	cmd := &cobra.Command{
		Use:   "mark-paid",
		Short: "Record the bank's payout confirmation (posts the payout journal; a batch is paid once)",
		Long: `mark-paid records that the bank paid a batch out: the batch becomes paid with the bank's
reference and the payout journal is posted, atomically. Marking a paid batch again with the same
reference changes nothing; another reference is refused. --file reads the bank's return file
(CSV with columns batch_id,bank_ref,status; status paid/success/ok or failed/returned/rejected).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return runMarkPaid(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Batch, "batch", "", "batch id (the payout file's idempotency key)")
	f.StringVar(&o.BankRef, "bank-ref", "", "the bank's reference for the transfer")
	f.StringVar(&o.File, "file", "", "the bank's return file (CSV: batch_id,bank_ref,status)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	return cmd
}

func runMarkPaid(ctx context.Context, app *App, o markPaidOpts) error {
	rets := []settle.Return{{BatchID: o.Batch, BankRef: o.BankRef, Paid: true, Status: "paid"}}
	if o.File != "" {
		fh, err := os.Open(o.File)
		if err != nil {
			return Usagef("--file: %v", err)
		}
		rets, err = settle.ParseReturns(fh, filepath.Base(o.File))
		fh.Close()
		if err != nil {
			return &UsageError{Err: err}
		}
	}
	s, err := app.Store(ctx)
	if err != nil {
		return err
	}
	res := markPaidJSON{Paid: []string{}, Unchanged: []string{}, Failed: []string{}}
	var errs []error
	for _, r := range rets {
		if !r.Paid {
			res.Failed = append(res.Failed, r.BatchID)
			app.Log.Warn().Str("batch_id", r.BatchID).Str("status", r.Status).Msg("bank reports the payout failed; batch stays awaiting payout")
			continue
		}
		b, changed, err := settle.MarkPaid(ctx, s, r.BatchID, r.BankRef, app.Now())
		if err != nil {
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, settle.ErrNothingToPay) || errors.Is(err, settle.ErrPaidOther) ||
				errors.Is(err, settle.ErrOnHold) {
				err = fmt.Errorf("batch %s: %w", r.BatchID, err)
				if o.File != "" {
					err = fmt.Errorf("%s:%d: %w", o.File, r.Line, err)
				}
				errs = append(errs, err)
				continue
			}
			return err
		}
		if changed {
			res.Paid = append(res.Paid, b.ID)
			app.Log.Info().Str("batch_id", b.ID).Str("merchant_id", b.MerchantID).Int64("net", b.Net).Str("bank_ref", r.BankRef).Msg("batch paid")
		} else {
			res.Unchanged = append(res.Unchanged, b.ID)
		}
	}
	app.Log.Info().Int("paid", len(res.Paid)).Int("unchanged", len(res.Unchanged)).Int("failed", len(res.Failed)).
		Int("refused", len(errs)).Msg("mark-paid done")
	if o.JSON {
		if err := writeJSON(app.Stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(app.Stdout, "paid %d, already paid %d, failed at the bank %d, refused %d\n",
			len(res.Paid), len(res.Unchanged), len(res.Failed), len(errs))
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	return nil
}

type payoutOpts struct {
	Date, Merchant, Out string
	JSON                bool
}

func newPayoutCmd(app *App) *cobra.Command {
	var o payoutOpts
	cmd := &cobra.Command{
		Use:   "payout",
		Short: "Regenerate a date's payout file, with the batches released from hold since",
		Long: `payout writes the payout file of --date again from the database: the date's batches awaiting
payout that are not on hold, plus batches of earlier dates whose hold was lifted (bank account
added, merchant resumed) and that no other date's payout file carries yet; those are claimed
for this date, so a released batch is in exactly one payout file. Paid batches are left out.
Batches whose merchant cannot be paid are put on hold and listed. A batch is paid once
whatever files list it: mark-paid is idempotent per batch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPayout(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Date, "date", "", "business date of the payout file, YYYY-MM-DD (default: yesterday in the settlement timezone)")
	f.StringVar(&o.Merchant, "merchant", "", "only this merchant's batches (file payout_D_merchant-ID.csv)")
	f.StringVar(&o.Out, "out", "", "directory for the payout file (default: settle.out_dir of the config)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	return cmd
}

func runPayout(ctx context.Context, app *App, o payoutOpts) error {
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
	res, err := settle.Payout(ctx, s, settle.Options{Date: date, Merchant: o.Merchant, OutDir: out, Now: app.Now,
		Log: app.Log.With().Str("component", "settle").Logger()})
	if errors.Is(err, settle.ErrUnknownMerchant) {
		return Usagef("--merchant: %v", err)
	}
	if err != nil {
		return err
	}
	app.Log.Info().Str("date", date).Int("on_hold", len(res.OnHold)).Int("released", len(res.Released)).
		Str("payout_file", res.PayoutFile).Msg("payout file written")
	if o.JSON {
		return writeJSON(app.Stdout, toSettleJSON(res))
	}
	printHolds(app.Stdout, res)
	fmt.Fprintf(app.Stdout, "payout file: %s\n", res.PayoutFile)
	return nil
}

// openForReports opens the store with opts, then creates the output directory (the --out flag,
// default settle.out_dir) unless mkdir is false (a dry run). In that order: a command that cannot
// run leaves no directory behind.
func (a *App) openForReports(ctx context.Context, cfg *config.Config, outFlag string, opts store.Options, mkdir bool) (*store.Store, string, error) {
	out := outFlag
	if out == "" {
		out = cfg.Settle.OutDir
	}
	s, err := a.StoreWith(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	if mkdir {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, "", Usagef("--out %s: %v", out, err)
		}
	}
	return s, out, nil
}
