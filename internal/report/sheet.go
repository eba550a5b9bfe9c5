package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// rowLimit is the number of rows a sheet may hold, header included. Tests lower it to exercise
// the roll-over onto further sheets without writing a million rows.
var rowLimit = excelize.TotalRows

// Number formats. Builtin ids are used where Excel has one, so every locale renders them.
const (
	fmtCount   = 3  // #,##0
	fmtPercent = 10 // 0.00%
)

var (
	fmtDate     = "yyyy-mm-dd"
	fmtDateTime = "yyyy-mm-dd hh:mm:ss"
)

// moneyFormat is the number format for amounts with exp decimals; negatives show red.
func moneyFormat(exp int32) string {
	if exp == 0 {
		return "#,##0;[Red]-#,##0"
	}
	frac := "." + strings.Repeat("0", int(exp))
	return "#,##0" + frac + ";[Red]-#,##0" + frac
}

// styles holds the style ids of one workbook. The bold variants are for totals rows.
type styles struct {
	f                    *excelize.File
	title, label, header int
	text, textBold       int
	count, countBold     int
	percent, percentBold int
	date, dateTime       int
	money, moneyBold     map[int32]int
}

func newStyles(f *excelize.File) (*styles, error) {
	s := &styles{f: f, money: map[int32]int{}, moneyBold: map[int32]int{}}
	bold := &excelize.Font{Bold: true}
	border := []excelize.Border{{Type: "bottom", Color: "7F7F7F", Style: 1}}
	defs := []struct {
		id    *int
		style excelize.Style
	}{
		{&s.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}}},
		{&s.label, excelize.Style{Font: bold}},
		{&s.header, excelize.Style{
			Font:      bold,
			Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}},
			Border:    border,
			Alignment: &excelize.Alignment{Vertical: "center", WrapText: true},
		}},
		{&s.text, excelize.Style{}},
		{&s.textBold, excelize.Style{Font: bold}},
		{&s.count, excelize.Style{NumFmt: fmtCount}},
		{&s.countBold, excelize.Style{NumFmt: fmtCount, Font: bold}},
		{&s.percent, excelize.Style{NumFmt: fmtPercent}},
		{&s.percentBold, excelize.Style{NumFmt: fmtPercent, Font: bold}},
		{&s.date, excelize.Style{CustomNumFmt: &fmtDate, Alignment: &excelize.Alignment{Horizontal: "left"}}},
		{&s.dateTime, excelize.Style{CustomNumFmt: &fmtDateTime, Alignment: &excelize.Alignment{Horizontal: "left"}}},
	}
	for _, d := range defs {
		id, err := f.NewStyle(&d.style)
		if err != nil {
			return nil, fmt.Errorf("new style: %w", err)
		}
		*d.id = id
	}
	return s, nil
}

// moneyStyle returns the money style for cur's exponent, creating it on first use.
func (s *styles) moneyStyle(cur money.Currency, bold bool) (int, error) {
	exp, err := cur.Exponent()
	if err != nil {
		return 0, err
	}
	m := s.money
	if bold {
		m = s.moneyBold
	}
	if id, ok := m[exp]; ok {
		return id, nil
	}
	nf := moneyFormat(exp)
	st := &excelize.Style{CustomNumFmt: &nf}
	if bold {
		st.Font = &excelize.Font{Bold: true}
	}
	id, err := s.f.NewStyle(st)
	if err != nil {
		return 0, fmt.Errorf("new money style: %w", err)
	}
	m[exp] = id
	return id, nil
}

// moneyCell is a numeric money cell; see moneyValue for exactness.
func (s *styles) moneyCell(minor int64, cur money.Currency, bold bool) (excelize.Cell, error) {
	v, err := moneyValue(minor, cur)
	if err != nil {
		return excelize.Cell{}, err
	}
	id, err := s.moneyStyle(cur, bold)
	if err != nil {
		return excelize.Cell{}, err
	}
	return excelize.Cell{StyleID: id, Value: v}, nil
}

// column is one column of a table: the header a finance person reads and a width in
// characters.
type column struct {
	title string
	width float64
}

// table streams rows under a header onto a sheet, continuing on "<base> (2)", "<base> (3)", ...
// whenever a sheet reaches rowLimit rows. Each sheet gets the same column widths (widened to fit
// the identifiers of its first fitRows data rows: see fitWidth), a frozen bold header repeated
// on every printed page, print setup (printSetup) and an autofilter over its data rows.
type table struct {
	f      *excelize.File
	st     *styles
	base   string
	cols   []column
	widths []float64 // the columns' widths, widened by the first data rows of each sheet
	sw     *excelize.StreamWriter
	begun  bool     // the current sheet's widths and header are written
	early  [][]any  // the current sheet's first data rows, held until its widths are known
	sheets []string // every sheet written so far, in order
	row    int      // last row written on the current sheet
	data   int      // last data row of the current sheet (the autofilter's end)
	rows   int64    // data rows written in total
	footer bool     // footer rows started: no more data rows, no roll-over
}

// newTable adds the first sheet of a table, named base, after the existing sheets.
func newTable(f *excelize.File, st *styles, base string, cols []column) (*table, error) {
	t := &table{f: f, st: st, base: base, cols: cols, widths: make([]float64, len(cols))}
	for i, c := range cols {
		t.widths[i] = c.width
	}
	if err := t.open(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *table) open() error {
	name := t.base
	if n := len(t.sheets); n > 0 {
		name = fmt.Sprintf("%s (%d)", t.base, n+1)
	}
	if _, err := t.f.NewSheet(name); err != nil {
		return fmt.Errorf("new sheet %q: %w", name, err)
	}
	if err := printSetup(t.f, name, true); err != nil { // before the stream writer takes the sheet
		return err
	}
	sw, err := t.f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("sheet %q: stream writer: %w", name, err)
	}
	t.sw, t.row, t.data, t.begun = sw, 1, 1, false
	t.sheets = append(t.sheets, name)
	return nil
}

// fitRows is how many data rows of a sheet are held back to fit its column widths.
const fitRows = 100

// begin writes the current sheet's column widths, frozen pane, header and the data rows held
// back. The stream writer takes widths only before the first row, so a sheet's first fitRows
// data rows are held until then; their identifiers widen their columns.
func (t *table) begin() error {
	name := t.sheet()
	for _, row := range t.early {
		for i, c := range row {
			if i < len(t.widths) {
				t.widths[i] = fitWidth(t.widths[i], c)
			}
		}
	}
	for i, w := range t.widths {
		if err := t.sw.SetColWidth(i+1, i+1, w); err != nil {
			return fmt.Errorf("sheet %q: column width: %w", name, err)
		}
	}
	if err := t.sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}); err != nil {
		return fmt.Errorf("sheet %q: freeze header: %w", name, err)
	}
	header := make([]any, len(t.cols))
	for i, c := range t.cols {
		header[i] = excelize.Cell{StyleID: t.st.header, Value: c.title}
	}
	if err := t.sw.SetRow("A1", header, excelize.RowOpts{Height: 30}); err != nil {
		return fmt.Errorf("sheet %q: header: %w", name, err)
	}
	t.begun = true
	for i, row := range t.early {
		if err := t.sw.SetRow("A"+strconv.Itoa(i+2), row); err != nil {
			return fmt.Errorf("sheet %q row %d: %w", name, i+2, err)
		}
	}
	t.early = t.early[:0]
	return nil
}

// add writes one data row, rolling over to a new sheet when the current one is full.
func (t *table) add(cells []any) error {
	if t.footer {
		return fmt.Errorf("sheet %q: data row after footer", t.sheet())
	}
	if t.row >= rowLimit {
		if err := t.close(); err != nil {
			return err
		}
		if err := t.open(); err != nil {
			return err
		}
	}
	t.row++
	t.data = t.row
	t.rows++
	if !t.begun {
		t.early = append(t.early, append([]any(nil), cells...)) // callers reuse their slice
		if len(t.early) < fitRows {
			return nil
		}
		return t.begin()
	}
	if err := t.sw.SetRow("A"+strconv.Itoa(t.row), cells); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", t.sheet(), t.row, err)
	}
	return nil
}

// addFooter writes a row below the data, outside the autofilter (totals). The first footer
// row is preceded by an empty row. Footers never roll over: the caller checks they fit.
func (t *table) addFooter(cells []any) error {
	if !t.begun {
		if err := t.begin(); err != nil {
			return err
		}
	}
	if !t.footer {
		t.footer = true
		t.row++
	}
	if t.row >= rowLimit {
		return fmt.Errorf("sheet %q: totals do not fit below %d rows", t.sheet(), t.data)
	}
	t.row++
	if err := t.sw.SetRow("A"+strconv.Itoa(t.row), cells); err != nil {
		return fmt.Errorf("sheet %q row %d: %w", t.sheet(), t.row, err)
	}
	return nil
}

func (t *table) sheet() string { return t.sheets[len(t.sheets)-1] }

// close sets the autofilter over header and data rows and flushes the current sheet.
func (t *table) close() error {
	name := t.sheet()
	if !t.begun {
		if err := t.begin(); err != nil {
			return err
		}
	}
	last, err := excelize.CoordinatesToCellName(len(t.cols), t.data)
	if err != nil {
		return err
	}
	// The stream writer emits <autoFilter> from the worksheet at Flush, so this must come
	// after the rows and before Flush.
	if err := t.f.AutoFilter(name, "A1:"+last, nil); err != nil {
		return fmt.Errorf("sheet %q: autofilter: %w", name, err)
	}
	if err := t.sw.Flush(); err != nil {
		return fmt.Errorf("sheet %q: flush: %w", name, err)
	}
	return nil
}

// grid writes small sheets (summaries) cell by cell in excelize's normal mode. It remembers
// the first error so layout code reads straight.
type grid struct {
	f     *excelize.File
	sheet string
	err   error
	fit   map[int]float64 // columns widened to fit identifiers; widths never narrows them
}

// set writes v (a plain value or an excelize.Cell carrying a style) at column col, row row
// (both 1-based). A nil value leaves the cell empty.
func (g *grid) set(col, row int, v any) {
	if g.err != nil || v == nil {
		return
	}
	ref, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		g.err = err
		return
	}
	style := 0
	if c, ok := v.(excelize.Cell); ok {
		style, v = c.StyleID, c.Value
	}
	g.widen(col, v)
	if v != nil {
		if err := g.f.SetCellValue(g.sheet, ref, v); err != nil {
			g.err = fmt.Errorf("sheet %q cell %s: %w", g.sheet, ref, err)
			return
		}
	}
	if style != 0 {
		if err := g.f.SetCellStyle(g.sheet, ref, ref, style); err != nil {
			g.err = fmt.Errorf("sheet %q cell %s: style: %w", g.sheet, ref, err)
		}
	}
}

// row writes cells from column 1 of row.
func (g *grid) row(row int, cells ...any) {
	for i, c := range cells {
		g.set(i+1, row, c)
	}
}

// widen makes column col wide enough for v when v is an identifier (fitWidth).
func (g *grid) widen(col int, v any) {
	if g.err != nil {
		return
	}
	name := colName(col)
	cur, err := g.f.GetColWidth(g.sheet, name)
	if err != nil {
		g.err = err
		return
	}
	cur = max(cur, g.fit[col])
	w := fitWidth(cur, v)
	if w == cur {
		return
	}
	if g.fit == nil {
		g.fit = map[int]float64{}
	}
	g.fit[col] = w
	if err := g.f.SetColWidth(g.sheet, name, name, w); err != nil {
		g.err = fmt.Errorf("sheet %q: column width: %w", g.sheet, err)
	}
}

// widths sets column widths from column 1; a column already widened to fit an identifier
// keeps that width when it is wider.
func (g *grid) widths(ws ...float64) {
	for i, w := range ws {
		if g.err != nil {
			return
		}
		w = max(w, g.fit[i+1])
		name, err := excelize.ColumnNumberToName(i + 1)
		if err != nil {
			g.err = err
			return
		}
		if err := g.f.SetColWidth(g.sheet, name, name, w); err != nil {
			g.err = fmt.Errorf("sheet %q: column width: %w", g.sheet, err)
		}
	}
}

// newWorkbook creates a workbook whose first sheet is the named summary sheet.
func newWorkbook(summary, title string) (*excelize.File, *styles, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName(f.GetSheetName(0), summary); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("rename first sheet: %w", err)
	}
	if err := f.SetDocProps(&excelize.DocProperties{Title: title, Creator: "paygw"}); err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("document properties: %w", err)
	}
	if err := printSetup(f, summary, false); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	st, err := newStyles(f)
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// maxFitWidth bounds how wide fitWidth makes a column (characters): paygw's ids are about 30
// characters; longer strings without spaces (file hashes) are left to overflow or be cut.
const maxFitWidth = 40

// fitWidth is width, widened to show v whole when v is an identifier: a string without spaces
// (payment, refund, batch and merchant ids, channel trade numbers, order numbers), which a reader
// needs whole to look it up; text with spaces may wrap or be cut.
func fitWidth(width float64, v any) float64 {
	if c, ok := v.(excelize.Cell); ok {
		v = c.Value
	}
	s, ok := v.(string)
	if !ok || s == "" || strings.ContainsAny(s, " \t\n") || len(s)+2 > maxFitWidth {
		return width
	}
	return max(width, float64(len(s))+2)
}

// printSetup makes a sheet print as finance prints reports: landscape, A4, scaled to the page
// width (as many pages down as it takes), and, for a table, its header row repeated at the top
// of every page. Every sheet of every workbook gets it: newWorkbook for the summary, table for
// the rest.
func printSetup(f *excelize.File, sheet string, headerRow bool) error {
	landscape, a4, wide, tall := "landscape", 9, 1, 0
	if err := f.SetPageLayout(sheet, &excelize.PageLayoutOptions{
		Orientation: &landscape, Size: &a4, FitToWidth: &wide, FitToHeight: &tall,
	}); err != nil {
		return fmt.Errorf("sheet %q: page layout: %w", sheet, err)
	}
	fit := true // without it Excel ignores FitToWidth
	if err := f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return fmt.Errorf("sheet %q: fit to page: %w", sheet, err)
	}
	if !headerRow {
		return nil
	}
	if err := f.SetDefinedName(&excelize.DefinedName{
		Name: "_xlnm.Print_Titles", RefersTo: fmt.Sprintf("'%s'!$1:$1", sheet), Scope: sheet,
	}); err != nil {
		return fmt.Errorf("sheet %q: print titles: %w", sheet, err)
	}
	return nil
}

// absRef is an absolute reference to a cell on sheet, quoted for chart ranges.
func absRef(sheet string, col, row int) string {
	name, _ := excelize.ColumnNumberToName(col)
	return fmt.Sprintf("'%s'!$%s$%d", sheet, name, row)
}

// absRange is an absolute column range on sheet, quoted for chart ranges.
func absRange(sheet string, col, from, to int) string {
	name, _ := excelize.ColumnNumberToName(col)
	return fmt.Sprintf("'%s'!$%s$%d:$%s$%d", sheet, name, from, name, to)
}

// colName is the letter name of 1-based column col.
func colName(col int) string {
	name, _ := excelize.ColumnNumberToName(col)
	return name
}
