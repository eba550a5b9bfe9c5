package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// Class is the outcome of matching one statement row or internal transaction; the values are
// DESIGN.md's reconciliation classes.
type Class string

// The reconciliation classes, in the order the report lists them.
const (
	ClassMatched         Class = "matched"
	ClassMissingInternal Class = "missing_internal"
	ClassMissingChannel  Class = "missing_channel"
	ClassAmountMismatch  Class = "amount_mismatch"
	ClassStatusMismatch  Class = "status_mismatch"
	ClassFeeMismatch     Class = "fee_mismatch"
	ClassDuplicate       Class = "duplicate"
	ClassPending         Class = "pending"
)

// classes is the report order of Class with the label and explanation a finance reader sees.
var classes = []struct {
	class          Class
	label, meaning string
}{
	{ClassMatched, "Matched", "Both sides agree"},
	{ClassMissingInternal, "Not in paygw (长款)", "On the statement, no such payment or refund in paygw"},
	{ClassMissingChannel, "Not on statement (短款)", "Succeeded in paygw, absent from the statement"},
	{ClassAmountMismatch, "Amount differs", "Both sides have it, amounts differ"},
	{ClassStatusMismatch, "Status differs", "Both sides have it, states differ"},
	{ClassFeeMismatch, "Fee differs", "Channel fee differs from the expected fee"},
	{ClassDuplicate, "Duplicate on statement", "The same channel trade number appears more than once"},
	{ClassPending, "Pending (cross-day)", "Near the cutoff; re-checked by the next run"},
}

func classIndex(c Class) int {
	return slices.IndexFunc(classes, func(x struct {
		class          Class
		label, meaning string
	}) bool {
		return x.class == c
	})
}

// Label is the heading a finance reader sees for the class, or the raw value if unknown.
func (c Class) Label() string {
	if i := classIndex(c); i >= 0 {
		return classes[i].label
	}
	return string(c)
}

// Kind says whether an item is a payment or a refund.
type Kind string

// The item kinds.
const (
	KindPayment Kind = "payment"
	KindRefund  Kind = "refund"
)

func (k Kind) label() (string, error) {
	switch k {
	case KindPayment:
		return "Payment", nil
	case KindRefund:
		return "Refund", nil
	}
	return "", fmt.Errorf("unknown kind %q", string(k))
}

// ReconRun describes one reconciliation run: the facts printed on the Summary sheet.
type ReconRun struct {
	RunID      string
	Channel    string
	Date       time.Time // the statement's business date; only the calendar date is used
	FileName   string
	FileSHA256 string    // hex digest of the statement file
	StartedAt  time.Time // printed in UTC
	// Totals, if not nil, are the counts and amounts stored with the run. The report
	// computes its own totals from the items and refuses (ErrTotalsMismatch) to write a
	// workbook whose sheets disagree with the stored run. Entries with zero count and zero
	// amounts are ignored; order does not matter.
	Totals []ReconTotal
}

// ReconTotal is the count and the summed amounts of one class in one currency. An amount of
// a side that does not have the item (see ReconItem) counts as zero.
type ReconTotal struct {
	Class          Class
	Currency       money.Currency
	Count          int64
	InternalAmount int64 // minor units
	ChannelAmount  int64 // minor units
}

// ReconItem is one row of a reconciliation result. Amounts and fees are minor units of
// Currency. A side that does not have the item leaves its cells empty: the internal side for
// missing_internal, the channel side for missing_channel, and for pending whichever side has
// an empty status.
type ReconItem struct {
	Class           Class
	ChannelTradeNo  string
	ChannelRefundNo string
	PaymentID       string
	RefundID        string
	MerchantID      string
	Kind            Kind
	Currency        money.Currency
	InternalAmount  int64
	ChannelAmount   int64
	InternalFee     int64 // the fee paygw expects the channel to charge
	ChannelFee      int64
	InternalStatus  string
	ChannelStatus   string
	Note            string
}

// sides reports which sides of the comparison hold the item.
func (it *ReconItem) sides() (internal, channel bool) {
	switch it.Class {
	case ClassMissingInternal:
		return false, true
	case ClassMissingChannel:
		return true, false
	case ClassPending:
		return it.InternalStatus != "", it.ChannelStatus != ""
	}
	return true, true
}

var reconColumns = []column{
	{"Class", 22}, {"Type", 9}, {"Merchant", 14}, {"Payment ID", 28}, {"Refund ID", 28},
	{"Channel trade no.", 30}, {"Channel refund no.", 30}, {"Currency", 9},
	{"paygw amount", 15}, {"Channel amount", 15}, {"Difference", 14},
	{"paygw fee", 12}, {"Channel fee", 12}, {"paygw status", 14}, {"Channel status", 14},
	{"Note", 40},
}

type classKey struct {
	class Class
	cur   money.Currency
}

// kindTotal is one line of the summary's amounts table: a class, a kind and a currency.
// Payments and refunds are summed apart: money in and money out are not one figure.
type kindTotal struct {
	ReconTotal
	Kind Kind
}

// WriteReconciliation writes the reconciliation report of run to path: a Summary sheet (run
// facts, items per class with a chart, amounts per class and currency), a Discrepancies sheet
// with every item that is not matched, and a Matched sheet, each continuing on further sheets
// beyond the row limit. items is iterated once; rows appear in its order.
func WriteReconciliation(path string, run ReconRun, items Source[ReconItem]) error {
	if err := writeReconciliation(path, run, items); err != nil {
		return fmt.Errorf("reconciliation report %s: %w", path, err)
	}
	return nil
}

func writeReconciliation(path string, run ReconRun, items Source[ReconItem]) error {
	f, st, err := newWorkbook("Summary", "Reconciliation report "+run.RunID)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
		}
	}()
	disc, err := newTable(f, st, "Discrepancies", reconColumns)
	if err != nil {
		return err
	}
	matched, err := newTable(f, st, "Matched", reconColumns)
	if err != nil {
		return err
	}
	totals := map[classKey]*ReconTotal{}
	byKind := map[kindKey]*kindTotal{}
	var n int64
	row := make([]any, len(reconColumns))
	err = items(func(it ReconItem) error {
		n++
		if err := reconRow(st, &it, row); err != nil {
			return fmt.Errorf("item %d (channel trade no. %q, payment %q): %w", n, it.ChannelTradeNo, it.PaymentID, err)
		}
		k := classKey{it.Class, it.Currency}
		t := totals[k]
		if t == nil {
			t = &ReconTotal{Class: it.Class, Currency: it.Currency}
			totals[k] = t
		}
		kk := kindKey{k, it.Kind}
		kt := byKind[kk]
		if kt == nil {
			kt = &kindTotal{ReconTotal: ReconTotal{Class: it.Class, Currency: it.Currency}, Kind: it.Kind}
			byKind[kk] = kt
		}
		in, ch := it.sides()
		for _, t := range []*ReconTotal{t, &kt.ReconTotal} {
			t.Count++
			if in {
				if err := sum64(&t.InternalAmount, it.InternalAmount); err != nil {
					return fmt.Errorf("item %d: total: %w", n, err)
				}
			}
			if ch {
				if err := sum64(&t.ChannelAmount, it.ChannelAmount); err != nil {
					return fmt.Errorf("item %d: total: %w", n, err)
				}
			}
		}
		if it.Class == ClassMatched {
			return matched.add(row)
		}
		return disc.add(row)
	})
	if err != nil {
		return err
	}
	if err := disc.close(); err != nil {
		return err
	}
	if err := matched.close(); err != nil {
		return err
	}
	list := make([]kindTotal, 0, len(byKind))
	for _, t := range byKind {
		list = append(list, *t)
	}
	slices.SortFunc(list, func(a, b kindTotal) int {
		return cmp.Or(cmp.Compare(classIndex(a.Class), classIndex(b.Class)), cmp.Compare(a.Currency, b.Currency),
			cmp.Compare(a.Kind, b.Kind))
	})
	if run.Totals != nil {
		if err := checkReconTotals(run.Totals, totals); err != nil {
			return err
		}
	}
	if err := reconSummary(f, st, run, list); err != nil {
		return err
	}
	ok = true
	return save(f, path)
}

// reconRow fills row (reused between items) with the cells of it.
func reconRow(st *styles, it *ReconItem, row []any) error {
	if classIndex(it.Class) < 0 {
		return fmt.Errorf("unknown class %q", string(it.Class))
	}
	kind, err := it.Kind.label()
	if err != nil {
		return err
	}
	in, ch := it.sides()
	money := func(v int64, present bool) (any, error) {
		if !present {
			return nil, nil
		}
		return st.moneyCell(v, it.Currency, false)
	}
	clear(row)
	row[0], row[1], row[2] = it.Class.Label(), kind, it.MerchantID
	row[3], row[4], row[5], row[6] = it.PaymentID, it.RefundID, it.ChannelTradeNo, it.ChannelRefundNo
	row[7] = string(it.Currency)
	for _, c := range []struct {
		idx     int
		v       int64
		present bool
	}{
		{8, it.InternalAmount, in}, {9, it.ChannelAmount, ch}, {10, it.ChannelAmount - it.InternalAmount, in && ch},
		{11, it.InternalFee, in}, {12, it.ChannelFee, ch},
	} {
		if row[c.idx], err = money(c.v, c.present); err != nil {
			return err
		}
	}
	row[13], row[14], row[15] = it.InternalStatus, it.ChannelStatus, it.Note
	for i, v := range row {
		if s, ok := v.(string); ok && s == "" {
			row[i] = nil // leave empty rather than write an empty string cell
		}
	}
	return nil
}

func checkReconTotals(given []ReconTotal, got map[classKey]*ReconTotal) error {
	want := map[classKey]ReconTotal{}
	for _, t := range given {
		if t.Count == 0 && t.InternalAmount == 0 && t.ChannelAmount == 0 {
			continue
		}
		k := classKey{t.Class, t.Currency}
		w := want[k]
		w.Class, w.Currency = t.Class, t.Currency
		w.Count += t.Count
		w.InternalAmount += t.InternalAmount
		w.ChannelAmount += t.ChannelAmount
		want[k] = w
	}
	var diffs []string
	for k, w := range want {
		g := ReconTotal{Class: k.class, Currency: k.cur}
		if p := got[k]; p != nil {
			g = *p
		}
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s %s: run has %d items %s/%s, detail has %d items %s/%s",
				k.class, k.cur, w.Count, money.Format(w.InternalAmount, k.cur), money.Format(w.ChannelAmount, k.cur),
				g.Count, money.Format(g.InternalAmount, k.cur), money.Format(g.ChannelAmount, k.cur)))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s %s: run has no items, detail has %d", k.class, k.cur, g.Count))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		return fmt.Errorf("%w: %s", ErrTotalsMismatch, strings.Join(diffs, "; "))
	}
	return nil
}

// Summary layout: facts from row 3, the per-class count table (the chart's data) and the
// per-class-and-currency amount table below it.
const (
	reconClassHeaderRow = 13
)

// kindKey keys the summary's amounts by class, currency and kind.
type kindKey struct {
	classKey
	kind Kind
}

func reconSummary(f *excelize.File, st *styles, run ReconRun, totals []kindTotal) error {
	const sheet = "Summary"
	g := &grid{f: f, sheet: sheet}
	g.widths(26, 22, 12, 16, 16, 16, 16)
	counts := make([]int64, len(classes))
	var all, discrepancies int64
	for _, t := range totals {
		counts[classIndex(t.Class)] += t.Count
		all += t.Count
		if t.Class != ClassMatched {
			discrepancies += t.Count
		}
	}
	g.set(1, 1, excelize.Cell{StyleID: st.title, Value: "Reconciliation report"})
	facts := []struct {
		label string
		value any
	}{
		{"Run", run.RunID},
		{"Channel", run.Channel},
		{"Business date", st.dateCell(run.Date)},
		{"Statement file", run.FileName},
		{"File SHA-256", run.FileSHA256},
		{"Started (UTC)", st.dateTimeCell(run.StartedAt)},
		{"Items", excelize.Cell{StyleID: st.count, Value: all}},
		{"Discrepancies", excelize.Cell{StyleID: st.count, Value: discrepancies}},
	}
	for i, fa := range facts {
		g.set(1, 3+i, excelize.Cell{StyleID: st.label, Value: fa.label})
		if s, ok := fa.value.(string); ok && s == "" {
			continue
		}
		g.set(2, 3+i, fa.value)
	}

	r := reconClassHeaderRow
	g.row(r, hdr(st, "Class", "Meaning", "Items")...)
	for i, c := range classes {
		g.row(r+1+i, c.label, c.meaning, excelize.Cell{StyleID: st.count, Value: counts[i]})
	}
	first, last := r+1, r+len(classes)
	r = last + 1
	g.row(r, excelize.Cell{StyleID: st.textBold, Value: "Total"}, nil, excelize.Cell{StyleID: st.countBold, Value: all})

	r += 3
	g.set(1, r-1, excelize.Cell{StyleID: st.label, Value: "Amounts by class, type and currency (refunds: money returned)"})
	g.row(r, hdr(st, "Class", "Type", "Currency", "Items", "paygw amount", "Channel amount", "Difference")...)
	for _, t := range totals {
		r++
		kind, err := t.Kind.label()
		if err != nil {
			return err
		}
		cells := []any{t.Class.Label(), kind, string(t.Currency), excelize.Cell{StyleID: st.count, Value: t.Count}}
		for _, v := range []int64{t.InternalAmount, t.ChannelAmount, t.ChannelAmount - t.InternalAmount} {
			c, err := st.moneyCell(v, t.Currency, false)
			if err != nil {
				return fmt.Errorf("summary %s %s: %w", t.Class, t.Currency, err)
			}
			cells = append(cells, c)
		}
		g.row(r, cells...)
	}
	if g.err != nil {
		return g.err
	}
	chart := &excelize.Chart{
		Type: excelize.Bar,
		Series: []excelize.ChartSeries{{
			Name:       absRef(sheet, 3, reconClassHeaderRow),
			Categories: absRange(sheet, 1, first, last),
			Values:     absRange(sheet, 3, first, last),
		}},
		Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: "Items by class"}}},
		Legend:    excelize.ChartLegend{Position: "none"},
		Dimension: excelize.ChartDimension{Width: 560, Height: 300},
		PlotArea:  excelize.ChartPlotArea{ShowVal: true},
	}
	if err := addChart(f, sheet, "H3", chart, "Class", "Items"); err != nil {
		return fmt.Errorf("summary chart: %w", err)
	}
	return nil
}

// hdr returns header-styled cells.
func hdr(st *styles, titles ...string) []any {
	cells := make([]any, len(titles))
	for i, t := range titles {
		cells[i] = excelize.Cell{StyleID: st.header, Value: t}
	}
	return cells
}

// dateCell is a date cell showing t's calendar date, or nil (empty) for the zero time.
func (s *styles) dateCell(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return excelize.Cell{StyleID: s.date, Value: excelDate(t)}
}

// dateTimeCell is a date-time cell showing t's UTC wall clock to the second, or nil for the
// zero time.
func (s *styles) dateTimeCell(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return excelize.Cell{StyleID: s.dateTime, Value: u}
}
