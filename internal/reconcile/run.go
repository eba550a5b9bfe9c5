package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/report"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
)

// Options describe one reconciliation run.
type Options struct {
	Channel string
	Date    string // business date YYYY-MM-DD
	Format  statement.Format
	// Statement tunes the reader (zone, default currency, column mapping).
	Statement statement.Options
	// File is the statement on disk; FileName is the name used in messages and the run record
	// (default: File's base name).
	File, FileName string
	// FeeRateBps is the channel's fee rate (config channels.NAME.fee_rate_bps).
	FeeRateBps int64
	// PendingWindow is config reconcile.pending_window.
	PendingWindow time.Duration
	// Location is the settlement timezone that cuts business dates.
	Location *time.Location
	// OutDir receives the Excel report; empty writes none.
	OutDir string
	// TempDir holds the run's spill file (default os.TempDir()).
	TempDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// NoItems leaves Result.Items empty: a run of a million discrepancies would hold them all in
	// memory (the command streams them from the store with store.EachReconItem instead).
	NoItems bool
	// Progress, if set, is called at the start of a stage and every 64Ki rows, records or items
	// of it, with the stage ("statement", "payments", "refunds", "lookup", "report", "store")
	// and the count so far.
	Progress func(stage string, n int64)
}

// Totals is the count and summed amounts of one class in one currency.
type Totals struct {
	Class          Class          `json:"class"`
	Currency       money.Currency `json:"currency"`
	Count          int64          `json:"count"`
	InternalAmount int64          `json:"internal_amount"`
	ChannelAmount  int64          `json:"channel_amount"`
}

// Result is what a run stored.
type Result struct {
	Run    paygw.ReconRun
	Counts map[Class]int64
	Totals []Totals
	// Items are the run's stored discrepancies, with their ids, in id order (none with
	// Options.NoItems).
	Items []paygw.ReconItem
	// Open counts the items still open, pending excluded: what --fail-on-discrepancy looks at.
	Open int64
	// ReportPath is the Excel report, when one was written.
	ReportPath string
}

// InputError is a statement that cannot be used (unreadable, bad line, totals that do not add
// up): exit 2, nothing stored. It wraps the *statement.Error naming file and line.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

const progressEvery = 1 << 16

// MemoryLimit is the soft Go memory limit `paygw reconcile` runs under unless GOMEMLIMIT is set
// (runtime/debug.SetMemoryLimit). Without it the collector lets garbage grow to the size of the
// live heap, and at a million rows the live heap is the statement index (~180 MB); near the
// limit it collects more often instead, which costs little because the index holds no pointers.
// With it a 1,000,000-row run peaks well under 512 MiB (BENCHMARKS.md).
const MemoryLimit = 320 << 20

// Run reconciles one statement file against the store and stores the result in one
// transaction; a statement that fails to read or verify stores nothing (an *InputError).
// Memory holds the statement's compact index only: paygw's side streams from the database and
// the items spill to a temporary file on their way to the database and the report.
func Run(ctx context.Context, s *store.Store, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		return nil, errors.New("reconcile: no settlement timezone")
	}
	if o.FileName == "" {
		o.FileName = filepath.Base(o.File)
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, int64) {}
	}
	started := o.Now()
	start, end, err := paygw.DayBounds(o.Date, o.Location)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	sum, size, err := fileSHA256(o.File)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	prevDate, _ := paygw.AddDays(o.Date, -1)
	nextDate, _ := paygw.AddDays(o.Date, 1)
	p := Params{Start: start, End: end, PendingWindow: o.PendingWindow, FeeRateBps: o.FeeRateBps, OpenPending: map[string]bool{}}
	if p.PrevDone, err = s.ReconRunExists(ctx, o.Channel, prevDate); err != nil {
		return nil, err
	}
	if p.NextDone, err = s.ReconRunExists(ctx, o.Channel, nextDate); err != nil {
		return nil, err
	}
	pend, err := s.OpenReconPending(ctx, o.Channel, o.Date)
	if err != nil {
		return nil, err
	}
	for _, it := range pend {
		p.OpenPending[ItemKey(Kind(it.Kind), it.PaymentID, it.RefundID)] = true
	}

	sp, err := newSpill(o.TempDir)
	if err != nil {
		return nil, err
	}
	defer sp.close()
	acc := newAccumulator()
	emit := func(it Item) error {
		acc.add(&it)
		return sp.put(&it)
	}

	// 1. The statement side, into the matcher's index. ~100 bytes a row on the wire is a fair guess.
	m := NewMatcher(p, int(min(size/100, 4<<20)))
	if err := readStatement(o, dateWindow{start: start, end: end, w: o.PendingWindow}, m, emit, progress); err != nil {
		return nil, err
	}
	rows := int64(m.Len())

	// 2. paygw's side of the window streams through the index.
	w := o.PendingWindow
	if w < time.Hour {
		w = time.Hour // the window must at least reach the neighbouring dates' pending items
	}
	var n int64
	each := func(stage string) func(store.ReconTxn) error {
		return func(t store.ReconTxn) error {
			it, ok, err := m.Match(ours(t))
			if err != nil {
				return err
			}
			if n++; n%progressEvery == 0 {
				progress(stage, n)
			}
			if !ok {
				return nil
			}
			return emit(it)
		}
	}
	// Reconciled (by an earlier run) matters only near the cutoffs (Matcher.Match).
	win := store.ReconWindow{From: start.Add(-w), To: end.Add(w), CoreFrom: start.Add(o.PendingWindow), CoreTo: end.Add(-o.PendingWindow)}
	if err := s.StreamReconPayments(ctx, o.Channel, win, each("payments")); err != nil {
		return nil, err
	}
	if err := s.StreamReconRefunds(ctx, o.Channel, win, each("refunds")); err != nil {
		return nil, err
	}

	// 3. Rows left over: look them up beyond the window, a batch at a time.
	progress("lookup", 0)
	if err := lookupRest(ctx, s, o.Channel, m, emit); err != nil {
		return nil, err
	}
	if err := m.Finish(emit); err != nil {
		return nil, err
	}

	// 4. Report to a temporary name, store, then publish the report.
	runID := paygw.NewID("rcn")
	totals := acc.list()
	run := paygw.ReconRun{ID: runID, Channel: o.Channel, BusinessDate: o.Date, Format: string(o.Format), FileName: o.FileName,
		FileSHA256: sum, StatementRows: rows, StartedAt: started}
	counts := acc.counts()
	run.Counts = maps.Clone(counts)
	tj, err := json.Marshal(totals)
	if err != nil {
		return nil, fmt.Errorf("reconcile: totals: %w", err)
	}
	run.Totals = string(tj)

	res := &Result{Counts: counts, Totals: totals}
	var tmpReport string
	if o.OutDir != "" {
		progress("report", 0)
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("reconcile: report dir: %w", err)
		}
		res.ReportPath = filepath.Join(o.OutDir, fmt.Sprintf("reconciliation_%s_%s_%s.xlsx", o.Channel, o.Date, runID))
		tmpReport = res.ReportPath + ".tmp.xlsx"
		defer os.Remove(tmpReport)
		if err := writeReport(tmpReport, run, totals, sp, counter("report", progress)); err != nil {
			return nil, err
		}
	}

	progress("store", 0)
	stored := counter("store", progress)
	var turned []store.ReconRef
	run.FinishedAt = o.Now()
	err = Save(ctx, s, Stored{
		Run: run,
		Each: func(item func(paygw.ReconItem) error, matched func(store.ReconRef) error) error {
			turned = turned[:0] // a retried transaction iterates again
			return sp.each(func(it *Item) error {
				stored()
				if it.ResolvesPending {
					turned = append(turned, store.ReconRef{Refund: it.Kind == KindRefund, ID: internalID(it)})
				}
				if it.Reconcile {
					if err := matched(store.ReconRef{Refund: it.Kind == KindRefund, ID: internalID(it)}); err != nil {
						return err
					}
				}
				if it.Class == Matched {
					return nil
				}
				return item(storeItem(it))
			})
		},
		Turned: func() []store.ReconRef { return turned },
	}, o.Now())
	if err != nil {
		return nil, err
	}
	if tmpReport != "" {
		if err := os.Rename(tmpReport, res.ReportPath); err != nil {
			return nil, fmt.Errorf("reconcile: publish report: %w", err)
		}
	}
	res.Run = run
	res.Run.Status = paygw.ReconRunCurrent
	if res.Open, err = s.CountOpenReconDiscrepancies(ctx, runID); err != nil {
		return nil, err
	}
	if !o.NoItems {
		if res.Items, err = s.ListReconItems(ctx, store.ReconItemFilter{RunID: runID}); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func internalID(it *Item) string {
	if it.Kind == KindRefund {
		return it.RefundID
	}
	return it.PaymentID
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("statement: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("statement %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// dateWindow is what a statement for one business date may hold: rows of the date itself, and
// rows within the pending window of either cutoff (a payment at 23:59:50 the channel books the
// next day). A row outside it means the file is for another date, or carries another date's rows.
type dateWindow struct {
	start, end time.Time
	w          time.Duration
}

// check refuses a row dated outside the window with an error naming the file and line.
func (d dateWindow) check(o Options, row statement.Row) error {
	from, to := d.start.Add(-d.w), d.end.Add(d.w)
	if !row.TradeTime.Before(from) && row.TradeTime.Before(to) {
		return nil
	}
	const layout = "2006-01-02 15:04:05"
	return &statement.Error{File: o.FileName, Line: row.Line, Field: "trade time", Msg: fmt.Sprintf(
		"%s is outside business date %s (rows from %s to before %s, pending window %s): a statement for another date?",
		row.TradeTime.In(o.Location).Format(layout), o.Date, from.In(o.Location).Format(layout),
		to.In(o.Location).Format(layout), d.w)}
}

func readStatement(o Options, win dateWindow, m *Matcher, emit func(Item) error, progress func(string, int64)) error {
	f, err := os.Open(o.File)
	if err != nil {
		return &InputError{Err: fmt.Errorf("statement: %w", err)}
	}
	defer f.Close()
	rd, err := statement.Open(o.Format, o.FileName, f, o.Statement)
	if err != nil {
		return &InputError{Err: err}
	}
	var n int64
	for {
		row, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &InputError{Err: err}
		}
		if err := win.check(o, row); err != nil {
			return &InputError{Err: err}
		}
		it, dup, err := m.Add(row)
		if err != nil {
			return &InputError{Err: fmt.Errorf("%s: %w", o.FileName, err)}
		}
		if dup {
			if err := emit(it); err != nil {
				return err
			}
		}
		if n++; n%progressEvery == 0 {
			progress("statement", n)
		}
	}
}

// ours converts a store record for the matcher.
func ours(t store.ReconTxn) Ours {
	o := Ours{Kind: KindPayment, PaymentID: t.PaymentID, RefundID: t.RefundID, MerchantID: t.MerchantID,
		ChannelTradeNo: t.ChannelTradeNo, ChannelRefundNo: t.ChannelRefundNo, Amount: t.Amount,
		Currency: money.Currency(t.Currency), Status: t.Status, Reconciled: t.Reconciled,
		PaymentAmount: t.PaymentAmount, EarlierRefunds: t.EarlierRefunds}
	if t.Refund {
		o.Kind = KindRefund
		o.Collected = t.Status == string(paygw.RefundSucceeded)
	} else {
		o.Collected = paygw.PaymentStatus(t.Status).Paid()
	}
	if o.Collected {
		o.At = t.At
	}
	return o
}

// lookupRest offers the matcher what the store has for the statement rows nobody claimed.
func lookupRest(ctx context.Context, s *store.Store, channel string, m *Matcher, emit func(Item) error) error {
	const batch = 200
	var pIDs, pCTNs, rIDs, rCRNs []string
	flush := func() error {
		pays, err := s.FindReconPayments(ctx, channel, pIDs, pCTNs)
		if err != nil {
			return err
		}
		refs, err := s.FindReconRefunds(ctx, channel, rIDs, rCRNs)
		if err != nil {
			return err
		}
		for _, t := range append(pays, refs...) {
			it, ok, err := m.MatchFound(ours(t))
			if err != nil {
				return err
			}
			if ok {
				if err := emit(it); err != nil {
					return err
				}
			}
		}
		pIDs, pCTNs, rIDs, rCRNs = pIDs[:0], pCTNs[:0], rIDs[:0], rCRNs[:0]
		return nil
	}
	// Collect first: the matcher must not change while Unseen walks it.
	var pending [][4][]string
	err := m.Unseen(func(r statement.Row) error {
		add := func(list *[]string, v string) {
			if v != "" {
				*list = append(*list, v)
			}
		}
		if r.Kind == statement.KindRefund {
			add(&rIDs, r.OutRefundNo)
			add(&rCRNs, r.ChannelRefundNo)
		} else {
			add(&pIDs, r.OutTradeNo)
			add(&pCTNs, r.ChannelTradeNo)
		}
		if len(pIDs)+len(rIDs)+len(pCTNs)+len(rCRNs) >= batch {
			pending = append(pending, [4][]string{pIDs, pCTNs, rIDs, rCRNs})
			pIDs, pCTNs, rIDs, rCRNs = nil, nil, nil, nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	pending = append(pending, [4][]string{pIDs, pCTNs, rIDs, rCRNs})
	for _, b := range pending {
		pIDs, pCTNs, rIDs, rCRNs = b[0], b[1], b[2], b[3]
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}

// accumulator sums counts and amounts per class and currency.
type accumulator struct {
	m     map[[2]string]*Totals
	order [][2]string
}

func newAccumulator() *accumulator { return &accumulator{m: map[[2]string]*Totals{}} }

func (a *accumulator) add(it *Item) {
	k := [2]string{string(it.Class), string(it.Currency)}
	t := a.m[k]
	if t == nil {
		t = &Totals{Class: it.Class, Currency: it.Currency}
		a.m[k] = t
		a.order = append(a.order, k)
	}
	t.Count++
	in, ch := sides(it)
	if in {
		t.InternalAmount += it.InternalAmount
	}
	if ch {
		t.ChannelAmount += it.ChannelAmount
	}
}

// sides mirrors the report: which sides hold the item's amounts.
func sides(it *Item) (internal, channel bool) {
	switch it.Class {
	case MissingInternal, Duplicate:
		return false, true
	case MissingChannel:
		return true, false
	case Pending:
		return it.InternalStatus != "", it.ChannelStatus != ""
	}
	return true, true
}

func (a *accumulator) list() []Totals {
	out := make([]Totals, 0, len(a.order))
	for _, c := range Classes {
		for _, k := range a.order {
			if k[0] == string(c) {
				out = append(out, *a.m[k])
			}
		}
	}
	return out
}

func (a *accumulator) counts() map[Class]int64 {
	out := make(map[Class]int64, len(Classes))
	for _, c := range Classes {
		out[c] = 0
	}
	for _, t := range a.m {
		out[t.Class] += t.Count
	}
	return out
}

func storeItem(it *Item) paygw.ReconItem {
	r := paygw.ReconItem{Class: it.Class, Kind: it.Kind, PaymentID: it.PaymentID, RefundID: it.RefundID,
		MerchantID: it.MerchantID, ChannelTradeNo: it.ChannelTradeNo, ChannelRefundNo: it.ChannelRefundNo,
		Currency: string(it.Currency), InternalAmount: it.InternalAmount, ChannelAmount: it.ChannelAmount,
		InternalFee: it.InternalFee, ChannelFee: it.ChannelFee, InternalStatus: it.InternalStatus,
		ChannelStatus: it.ChannelStatus, Line: int64(it.Line), Note: it.Note}
	if !it.TradeTime.IsZero() {
		t := it.TradeTime
		r.TradeTime = &t
	}
	return r
}

// counter returns a function to call once per item of a stage: it reports the count every
// progressEvery items, so that a stage of a million items does not look stuck at 0.
func counter(stage string, progress func(string, int64)) func() {
	var n int64
	return func() {
		if n++; n%progressEvery == 0 {
			progress(stage, n)
		}
	}
}

func writeReport(path string, run paygw.ReconRun, totals []Totals, sp *spill, tick func()) error {
	date, _ := paygw.ParseDate(run.BusinessDate)
	rt := make([]report.ReconTotal, 0, len(totals))
	for _, t := range totals {
		rt = append(rt, report.ReconTotal{Class: report.Class(t.Class), Currency: t.Currency, Count: t.Count,
			InternalAmount: t.InternalAmount, ChannelAmount: t.ChannelAmount})
	}
	rr := report.ReconRun{RunID: run.ID, Channel: run.Channel, Date: date, FileName: run.FileName, FileSHA256: run.FileSHA256,
		StartedAt: run.StartedAt, Totals: rt}
	return report.WriteReconciliation(path, rr, func(yield func(report.ReconItem) error) error {
		return sp.each(func(it *Item) error {
			tick()
			ri := report.ReconItem{Class: report.Class(it.Class), ChannelTradeNo: it.ChannelTradeNo, ChannelRefundNo: it.ChannelRefundNo,
				PaymentID: it.PaymentID, RefundID: it.RefundID, MerchantID: it.MerchantID, Kind: report.Kind(it.Kind),
				Currency: it.Currency, InternalAmount: it.InternalAmount, ChannelAmount: it.ChannelAmount,
				InternalFee: it.InternalFee, ChannelFee: it.ChannelFee, InternalStatus: it.InternalStatus,
				ChannelStatus: it.ChannelStatus, Note: it.Note}
			if it.Class == Duplicate {
				// The report's sides() counts both sides of a duplicate; there is no internal amount.
				ri.InternalAmount = 0
			}
			return yield(ri)
		})
	})
}
