package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
)

func init() { register(newReconcileCmd) }

// reconcileOptions are the flags of `paygw reconcile`.
type reconcileOptions struct {
	Channel           string
	Date              string
	File              string
	Format            string
	Out               string
	FailOnDiscrepancy bool
	JSON              bool
}

// Validate checks the flags that need no config.
func (o *reconcileOptions) Validate() error {
	if o.Channel == "" {
		return Usagef("--channel is required")
	}
	if o.Format != "" {
		if _, err := statement.ParseFormat(o.Format); err != nil {
			return Usagef("--format: %v", err)
		}
	}
	return nil
}

// reconcileJSON is cliout.Reconcile (the shape is declared once, in cliout).
type reconcileJSON = cliout.Reconcile

// reconItemJSON is cliout.ReconItem (the shape is declared once, in cliout).
type reconItemJSON = cliout.ReconItem

// adjustmentJSON is cliout.Adjustment (the shape is declared once, in cliout).
type adjustmentJSON = cliout.Adjustment

// describeAdjustment says in one line what an adjustment posted and where its money goes.
func describeAdjustment(a paygw.ReconAdjustment) string {
	amt := money.Format(a.Amount, money.Currency(a.Currency))
	if a.Amount > 0 {
		amt = "+" + amt
	}
	if a.Kind == paygw.AdjustAmount {
		return fmt.Sprintf("posted amount adjustment %s of %s %s for %s %s: merchant %s's next settlement includes it",
			a.ID, amt, a.Currency, a.ObjectKind, a.ObjectID, a.MerchantID)
	}
	return fmt.Sprintf("posted fee adjustment %s of %s %s for %s %s to channel %s's fee cost; what the merchant is paid does not change",
		a.ID, amt, a.Currency, a.ObjectKind, a.ObjectID, a.Channel)
}

func itemJSON(it paygw.ReconItem) reconItemJSON {
	return reconItemJSON{ID: it.ID, Class: string(it.Class), Kind: string(it.Kind), State: string(it.State), ChannelTradeNo: it.ChannelTradeNo,
		ChannelRefundNo: it.ChannelRefundNo, PaymentID: it.PaymentID, RefundID: it.RefundID, Currency: it.Currency,
		InternalAmount: it.InternalAmount, ChannelAmount: it.ChannelAmount, InternalFee: it.InternalFee,
		ChannelFee: it.ChannelFee, Line: it.Line, Note: it.Note, BusinessDate: it.BusinessDate,
		Resolution: string(it.Resolution), ResolvedBy: it.ResolvedBy, ResolutionNote: it.ResolutionNote}
}

func newReconcileCmd(app *App) *cobra.Command {
	var o reconcileOptions
	cmd := &cobra.Command{
		Use:   "reconcile --channel NAME --date YYYY-MM-DD [--file PATH] [--format NAME] [--out DIR] [--fail-on-discrepancy]",
		Short: "Reconcile a channel's statement for a business date; list runs; resolve discrepancies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return app.runReconcile(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Channel, "channel", "", "channel name as in the config")
	f.StringVar(&o.Date, "date", "", "business date YYYY-MM-DD (default yesterday in the settlement timezone)")
	f.StringVar(&o.File, "file", "", "statement file (default: fetched from the channel; channels of kind statement need it)")
	f.StringVar(&o.Format, "format", "", "statement format: sandbox, wechatpay, alipay, mapped (default the channel's)")
	f.StringVar(&o.Out, "out", "", "directory of the Excel report (default config reconcile.out_dir)")
	f.BoolVar(&o.FailOnDiscrepancy, "fail-on-discrepancy", false, "exit 3 when discrepancies remain open")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	cmd.AddCommand(newReconcileListCmd(app), newReconcileResolveCmd(app))
	return cmd
}

func (a *App) runReconcile(ctx context.Context, o reconcileOptions) error {
	cfg, err := a.Cfg()
	if err != nil {
		return err
	}
	ch, ok := cfg.Channels[o.Channel]
	if !ok {
		return Usagef("--channel %q: not in the config (have %v)", o.Channel, cfg.ChannelNames())
	}
	date, err := a.Date(o.Date, cfg)
	if err != nil {
		return err
	}
	format := statement.Format(ch.Format)
	if o.Format != "" {
		format = statement.Format(o.Format)
	}
	if format == statement.FormatMapped && ch.Mapping == nil {
		return Usagef("--format mapped: channels.%s.mapping is not configured", o.Channel)
	}
	var fetcher channel.StatementFetcher
	if o.File == "" {
		c, err := channel.Build(ch.Section())
		if err != nil {
			return err
		}
		f, ok := c.(channel.StatementFetcher)
		if !ok {
			return Usagef("--file is required for channel %q of kind %s (it serves no statements)", o.Channel, ch.Kind)
		}
		fetcher = f
	}
	if o.File != "" {
		if _, err := os.Stat(o.File); err != nil {
			return Usagef("--file: %v", err)
		}
	}
	out := o.Out
	if out == "" {
		out = cfg.Reconcile.OutDir
	}
	if a.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(reconcile.MemoryLimit)
	}
	s, err := a.StoreWith(ctx, store.Options{StatementTimeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	var res *reconcile.Result
	ran, err := a.RunJob(ctx, s, JobSpec{Job: "reconcile", BusinessKey: o.Channel + "/" + date, TTL: 5 * time.Minute},
		func(ctx context.Context) (string, error) {
			file, name, cleanup, err := a.statementFile(ctx, o.Channel, fetcher, date, o.File)
			if err != nil {
				return "", err
			}
			defer cleanup()
			prog := a.newProgress()
			res, err = reconcile.Run(ctx, s, reconcile.Options{
				Channel: o.Channel, Date: date, Format: format,
				Statement: statement.Options{Location: cfg.Location(), Mapping: ch.Mapping},
				File:      file, FileName: name, FeeRateBps: ch.FeeRateBps, PendingWindow: cfg.Reconcile.PendingWindow.D(),
				Location: cfg.Location(), OutDir: out, Now: a.Now, Progress: prog.update, NoItems: true,
			})
			prog.done()
			var ie *reconcile.InputError
			if errors.As(err, &ie) {
				return "", &UsageError{Err: fmt.Errorf("nothing stored: %w", ie.Err)}
			}
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("run %s: %d statement rows, %d matched, %d open discrepancies, %d pending",
				res.Run.ID, res.Run.StatementRows, res.Counts[reconcile.Matched], res.Open, res.Counts[reconcile.Pending]), nil
		})
	if err != nil {
		return err
	}
	if !ran {
		if o.JSON {
			return writeJSON(a.Stdout, reconcileJSON{Channel: o.Channel, Date: date, Skipped: true, Counts: map[string]int64{}, Items: []reconItemJSON{}})
		}
		return nil
	}
	counts := map[string]int64{}
	for c, n := range res.Counts {
		counts[string(c)] = n
	}
	a.Log.Info().Str("run_id", res.Run.ID).Str("channel", o.Channel).Str("date", date).Int64("rows", res.Run.StatementRows).
		Interface("counts", counts).Int64("open", res.Open).Str("report", res.ReportPath).Msg("reconciled")
	if o.JSON {
		head := reconcileJSON{RunID: res.Run.ID, Channel: o.Channel, Date: date, File: res.Run.FileName,
			FileSHA256: res.Run.FileSHA256, Report: res.ReportPath, Counts: counts, Discrepancies: res.Open}
		if err := writeReconcileJSON(a.Stdout, head, func(fn func(paygw.ReconItem) error) error {
			return s.EachReconItem(ctx, store.ReconItemFilter{RunID: res.Run.ID}, fn)
		}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "run\t%s\nchannel\t%s\ndate\t%s\nfile\t%s\nrows\t%d\n", res.Run.ID, o.Channel, date, res.Run.FileName, res.Run.StatementRows)
		for _, c := range reconcile.Classes {
			fmt.Fprintf(tw, "%s\t%d\n", c, res.Counts[c])
		}
		if res.ReportPath != "" {
			fmt.Fprintf(tw, "report\t%s\n", res.ReportPath)
		}
		tw.Flush()
	}
	if o.FailOnDiscrepancy && res.Open > 0 {
		return &ExitError{Code: ExitDiscrepancy, Err: fmt.Errorf("%d discrepancies open for %s %s", res.Open, o.Channel, date)}
	}
	return nil
}

// writeReconcileJSON writes the `reconcile --json` object with its items streamed from each, a
// page at a time: a run of a million discrepancies is never held in memory to be printed.
func writeReconcileJSON(w io.Writer, head reconcileJSON, each func(func(paygw.ReconItem) error) error) error {
	head.Items = nil
	var hb bytes.Buffer
	if err := writeJSON(&hb, head); err != nil {
		return err
	}
	const tail = `"items":null}` + "\n"
	if !bytes.HasSuffix(hb.Bytes(), []byte(tail)) {
		return fmt.Errorf("reconcile --json: unexpected encoding of the result head")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(hb.Bytes()[:hb.Len()-len(tail)])
	bw.WriteString(`"items":[`)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	err := each(func(it paygw.ReconItem) error {
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		return enc.Encode(itemJSON(it)) // its newline is JSON whitespace
	})
	if err != nil {
		return err
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// statementFile returns the statement on disk: --file as given, or the channel's bill fetched
// into a temporary file (so it can be hashed and read as a stream).
func (a *App) statementFile(ctx context.Context, name string, c channel.StatementFetcher, date, file string) (string, string, func(), error) {
	if file != "" {
		return file, filepath.Base(file), func() {}, nil
	}
	fname, body, err := c.Statement(ctx, date)
	if errors.Is(err, channel.ErrNoStatement) {
		return "", "", nil, &UsageError{Err: fmt.Errorf("channel %s has no statement for %s (yet): %w", name, date, err)}
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("fetch statement: %w", err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp("", "paygw-statement-*")
	if err != nil {
		return "", "", nil, fmt.Errorf("fetch statement: %w", err)
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, body); err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("fetch statement %s: %w", fname, err)
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("fetch statement %s: %w", fname, err)
	}
	a.Log.Info().Str("file", fname).Msg("fetched statement")
	return tmp.Name(), fname, cleanup, nil
}

// progress shows a bar on a terminal and logs a line per update otherwise.
type progress struct {
	app   *App
	mu    sync.Mutex
	p     *mpb.Progress
	bar   *mpb.Bar
	stage string
	last  time.Time
}

// progressStyle is how a command shows its progress on stderr.
type progressStyle int

const (
	// progressLog: a log line when the stage changes and every 2 s (stderr is not a terminal).
	progressLog progressStyle = iota
	// progressBar: a bar sized by the terminal.
	progressBar
	// progressBarFixed: a bar of fixedBarWidth columns, for a terminal that reports no size
	// (script(1), `docker exec -t`, some CI and ssh ptys report 0×0). mpb sizes its output by the
	// terminal and, given 0 columns, drew nothing at all: 30 s of silence on a 600k-row run.
	progressBarFixed
)

// fixedBarWidth is the line width of progressBarFixed.
const fixedBarWidth = 80

// progressStyleFor decides the progress style from what stderr is: a terminal or not, and the
// terminal's width in columns (0 when it reports none).
func progressStyleFor(terminal bool, width int) progressStyle {
	switch {
	case !terminal:
		return progressLog
	case width <= 0:
		return progressBarFixed
	}
	return progressBar
}

// stderrWidth is the width of the terminal on stderr, 0 when unknown.
func (a *App) stderrWidth() int {
	f, ok := a.Stderr.(*os.File)
	if !ok {
		return 0
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return w
}

func (a *App) newProgress() *progress {
	return a.newProgressStyle(progressStyleFor(a.stderrIsTerminal(), a.stderrWidth()))
}

func (a *App) newProgressStyle(style progressStyle) *progress {
	pr := &progress{app: a}
	var opts []mpb.ContainerOption
	switch style {
	case progressLog:
		return pr
	case progressBar:
		opts = []mpb.ContainerOption{mpb.WithOutput(a.Stderr), mpb.WithWidth(40)}
	case progressBarFixed:
		// Hide the *os.File so mpb does not ask it for a size; ForceTTY keeps redrawing in place.
		opts = []mpb.ContainerOption{mpb.WithOutput(struct{ io.Writer }{a.Stderr}), mpb.ForceTTY(), mpb.WithAutoRefresh(),
			mpb.WithWidth(fixedBarWidth)}
	}
	pr.p = mpb.New(opts...)
	pr.bar = pr.p.New(0, mpb.SpinnerStyle(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { pr.mu.Lock(); defer pr.mu.Unlock(); return pr.stage }, decor.WCSyncSpaceR),
			decor.CurrentNoUnit("%d")),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)))
	return pr
}

func (pr *progress) update(stage string, n int64) {
	pr.mu.Lock()
	changed := stage != pr.stage
	pr.stage = stage
	pr.mu.Unlock()
	if pr.bar != nil {
		pr.bar.SetCurrent(n)
		return
	}
	if changed || time.Since(pr.last) >= 2*time.Second {
		pr.last = time.Now()
		pr.app.Log.Info().Str("stage", stage).Int64("n", n).Msg("progress")
	}
}

func (pr *progress) done() {
	if pr.bar != nil {
		pr.bar.SetTotal(-1, true)
		pr.p.Wait()
	}
}

// reconcileListOptions are the flags of `paygw reconcile list`.
type reconcileListOptions struct {
	Channel, Date string
	Limit         int
	JSON          bool
}

// Validate checks the flags.
func (o *reconcileListOptions) Validate() error {
	if o.Limit < 0 {
		return Usagef("--limit must not be negative")
	}
	return nil
}

func newReconcileListCmd(app *App) *cobra.Command {
	var o reconcileListOptions
	cmd := &cobra.Command{
		Use:   "list [--channel NAME] [--date YYYY-MM-DD]",
		Short: "List reconciliation runs and open items",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := app.Store(ctx)
			if err != nil {
				return err
			}
			runs, err := s.ListReconRuns(ctx, store.ReconRunFilter{Channel: o.Channel, BusinessDate: o.Date, Limit: o.Limit})
			if err != nil {
				return err
			}
			items, err := s.ListReconItems(ctx, store.ReconItemFilter{Channel: o.Channel, BusinessDate: o.Date, OpenOnly: true, Limit: 10000})
			if err != nil {
				return err
			}
			if o.JSON {
				out := struct {
					Runs  []map[string]any `json:"runs"`
					Items []reconItemJSON  `json:"open_items"`
				}{Runs: []map[string]any{}, Items: []reconItemJSON{}}
				for _, r := range runs {
					out.Runs = append(out.Runs, map[string]any{"run_id": r.ID, "channel": r.Channel, "date": r.BusinessDate,
						"status": r.Status, "file": r.FileName, "file_sha256": r.FileSHA256, "rows": r.StatementRows,
						"counts": runCounts(r), "started_at": r.StartedAt, "finished_at": r.FinishedAt})
				}
				for _, it := range items {
					out.Items = append(out.Items, itemJSON(it))
				}
				return writeJSON(app.Stdout, out)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tCHANNEL\tDATE\tSTATUS\tROWS\tMATCHED\tDISCREPANCIES\tPENDING\tFILE")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Channel, r.BusinessDate, r.Status, r.StatementRows,
					r.Count(paygw.ReconMatched), r.Discrepancies(), r.Count(paygw.ReconPending), r.FileName)
			}
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "ITEM\tDATE\tCLASS\tKIND\tPAYMENT\tREFUND\tCHANNEL NO.\tCURRENCY\tOURS\tCHANNEL\tNOTE")
			for _, it := range items {
				// Amounts in the currency's major units, as everywhere else in the output.
				cur := money.Currency(it.Currency)
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.BusinessDate, it.Class, it.Kind, it.PaymentID,
					it.RefundID, it.ChannelTradeNo, it.Currency, money.Format(it.InternalAmount, cur), money.Format(it.ChannelAmount, cur), it.Note)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Channel, "channel", "", "only this channel")
	f.StringVar(&o.Date, "date", "", "only this business date")
	f.IntVar(&o.Limit, "limit", 50, "at most this many runs")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	return cmd
}

// runCounts is a run's `counts` object: every class, zero included.
func runCounts(r paygw.ReconRun) map[string]int64 {
	out := make(map[string]int64, len(paygw.ReconClasses))
	for _, c := range paygw.ReconClasses {
		out[string(c)] = r.Count(c)
	}
	return out
}

// reconcileResolveOptions are the arguments of `paygw reconcile resolve`.
type reconcileResolveOptions struct {
	Item   int64
	Accept string
	Note   string
	By     string
	JSON   bool
}

// Validate checks the arguments.
func (o *reconcileResolveOptions) Validate() error {
	if o.Accept != string(reconcile.AcceptChannel) && o.Accept != string(reconcile.AcceptOurs) {
		return Usagef("--accept %q: want channel or ours", o.Accept)
	}
	if o.Note == "" {
		return Usagef("--note is required: say why")
	}
	if o.By == "" {
		return Usagef("--by is required ($USER is not set)")
	}
	return nil
}

func newReconcileResolveCmd(app *App) *cobra.Command {
	var o reconcileResolveOptions
	cmd := &cobra.Command{
		Use:   "resolve ITEM --accept channel|ours --note TEXT [--by NAME]",
		Short: "Resolve an open reconciliation item, recording who, when and why",
		Long: `resolve records an operator's decision on an open item and marks its transaction reconciled.

--accept channel on an amount_mismatch posts the difference (a ledger adjustment the merchant's next
settlement pays once); on a fee_mismatch it posts the fee difference to the channel's fee cost (the
merchant's payout does not change); on a status_mismatch where the channel collected it moves the
payment or refund to succeeded. It is refused (exit 2) on missing_channel and where the channel did
not collect: paygw does not un-collect a payment. --accept ours moves no money: the difference is a
claim against the channel. Details: docs/reconciliation.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return Usagef("ITEM %q: want an item id from `paygw reconcile list`", args[0])
			}
			o.Item = id
			if o.By == "" {
				o.By = app.getenv("USER")
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			cfg, err := app.Cfg()
			if err != nil {
				return err
			}
			s, err := app.Store(ctx)
			if err != nil {
				return err
			}
			it, err := reconcile.Resolve(ctx, s, o.Item, reconcile.Accept(o.Accept), o.Note, o.By, app.Now(), cfg.Location())
			switch {
			case errors.Is(err, store.ErrNotFound):
				return Usagef("item %d: no such item", o.Item)
			case errors.Is(err, store.ErrConflict):
				return Usagef("item %d is already resolved (%s by %s)", o.Item, it.Resolution, it.ResolvedBy)
			case errors.Is(err, reconcile.ErrCannotApply), errors.Is(err, store.ErrAlreadyAdjusted):
				return &UsageError{Err: err}
			case err != nil:
				return err
			}
			adjs, err := s.ReconAdjustmentsOfItem(ctx, it.ID)
			if err != nil {
				return err
			}
			app.Log.Info().Int64("item", it.ID).Str("class", string(it.Class)).Str("resolution", string(it.Resolution)).Str("by", it.ResolvedBy).Msg("resolved")
			out := itemJSON(it)
			for _, a := range adjs {
				app.Log.Info().Int64("item", it.ID).Str("adjustment_id", a.ID).Str("kind", string(a.Kind)).Str("object_id", a.ObjectID).
					Int64("amount", a.Amount).Str("currency", a.Currency).Msg("adjustment posted")
				out.Adjustment = &adjustmentJSON{ID: a.ID, Kind: string(a.Kind), ObjectID: a.ObjectID, Currency: a.Currency, Amount: a.Amount}
			}
			if o.JSON {
				return writeJSON(app.Stdout, out)
			}
			fmt.Fprintf(app.Stdout, "item %d (%s) resolved: %s by %s\n", it.ID, it.Class, it.Resolution, it.ResolvedBy)
			for _, a := range adjs {
				fmt.Fprintln(app.Stdout, describeAdjustment(a))
			}
			if len(adjs) == 0 && it.Resolution == paygw.ReconAcceptChannel && (it.Class == paygw.ReconAmountMismatch || it.Class == paygw.ReconFeeMismatch) {
				fmt.Fprintln(app.Stdout, "the difference was already posted by an earlier resolution of the same transaction; nothing more posted")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Accept, "accept", "", "the side that is right: channel or ours")
	f.StringVar(&o.Note, "note", "", "why (stored with the resolution)")
	f.StringVar(&o.By, "by", "", "who resolves (default $USER)")
	f.BoolVar(&o.JSON, "json", false, "print the resolved item as JSON")
	return cmd
}
