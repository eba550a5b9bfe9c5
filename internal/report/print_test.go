package report

import (
	"archive/zip"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// realIDs gives the fixtures' ids the shape of paygw's (prefix + 26-character ULID), so the
// column widths are checked against what a finance reader really gets.
type realIDs map[string]string

func (r realIDs) id(short string) string {
	if short == "" {
		return ""
	}
	if v, ok := r[short]; ok {
		return v
	}
	prefix, _, _ := strings.Cut(short, "_")
	v := fmt.Sprintf("%s_01HYJ8K6W0Q5N9T3R7V2X4Z%03d", prefix, len(r))
	r[short] = v
	return v
}

// Issue 10 "Reports a finance team accepts": every sheet of every workbook prints landscape,
// fitted to the page width, tables with their header row repeated on each page; identifier
// columns are wide enough for the ids; every chart's value axis starts at zero, with thousands
// separators and axis titles. Read back from the files.
func TestWorkbooksPrintAndChartReadably(t *testing.T) {
	ids := realIDs{}
	dir := t.TempDir()
	d := daily()
	for i := range d.Rows {
		d.Rows[i].MerchantID = ids.id(d.Rows[i].MerchantID)
	}
	s, items := settlement()
	for i := range s.Batches {
		s.Batches[i].MerchantID, s.Batches[i].BatchID = ids.id(s.Batches[i].MerchantID), ids.id(s.Batches[i].BatchID)
	}
	for i := range items {
		items[i].MerchantID, items[i].BatchID, items[i].ID = ids.id(items[i].MerchantID), ids.id(items[i].BatchID), ids.id(items[i].ID)
	}
	rs := reconItems()
	for i := range rs {
		rs[i].MerchantID, rs[i].PaymentID, rs[i].RefundID = ids.id(rs[i].MerchantID), ids.id(rs[i].PaymentID), ids.id(rs[i].RefundID)
	}
	run := reconRun()
	run.RunID = ids.id(run.RunID)
	paths := map[string]error{}
	p := filepath.Join(dir, "daily.xlsx")
	paths[p] = WriteDaily(p, d)
	p = filepath.Join(dir, "settlement.xlsx")
	paths[p] = WriteSettlement(p, s, SliceSource(items))
	p = filepath.Join(dir, "recon.xlsx")
	paths[p] = WriteReconciliation(p, run, SliceSource(rs))
	long := map[string]bool{}
	for _, v := range ids {
		long[v] = true
	}
	for path, err := range paths {
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		checkPrintAndWidths(t, path, long)
		checkCharts(t, path)
	}
}

func checkPrintAndWidths(t *testing.T, path string, ids map[string]bool) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	titles := map[string]string{}
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm.Print_Titles" {
			titles[dn.Scope] = dn.RefersTo
		}
	}
	base := filepath.Base(path)
	for _, sheet := range f.GetSheetList() {
		pl, err := f.GetPageLayout(sheet)
		if err != nil {
			t.Fatal(err)
		}
		if pl.Orientation == nil || *pl.Orientation != "landscape" || pl.FitToWidth == nil || *pl.FitToWidth != 1 ||
			pl.FitToHeight == nil || *pl.FitToHeight != 0 {
			t.Errorf("%s %s: page layout %+v, want landscape, 1 page wide, any number tall", base, sheet, pl)
		}
		if p, err := f.GetPanes(sheet); err == nil && p.Freeze { // a table: its header repeats
			if want := fmt.Sprintf("'%s'!$1:$1", sheet); titles[sheet] != want {
				t.Errorf("%s %s: print titles %q, want %q", base, sheet, titles[sheet], want)
			}
		}
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		for r, row := range rows {
			for c, v := range row {
				if !ids[v] {
					continue
				}
				w, _ := f.GetColWidth(sheet, colName(c+1))
				if w < float64(len(v)) {
					t.Errorf("%s %s row %d: column %s is %.0f wide, id %s needs %d", base, sheet, r+1, colName(c+1), w, v, len(v))
				}
			}
		}
	}
	// Excel scales to the page only when the sheet says so (sheetPr/pageSetUpPr fitToPage).
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for _, zf := range z.File {
		if !strings.HasPrefix(zf.Name, "xl/worksheets/sheet") {
			continue
		}
		if x := readZip(t, zf); !strings.Contains(x, `fitToPage="1"`) && !strings.Contains(x, `fitToPage="true"`) {
			t.Errorf("%s %s: no fitToPage", base, zf.Name)
		}
	}
}

func checkCharts(t *testing.T, path string) {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	base := filepath.Base(path)
	n := 0
	valAx := regexp.MustCompile(`(?s)<valAx>.*?</valAx>`)
	catAx := regexp.MustCompile(`(?s)<catAx>.*?</catAx>`)
	for _, zf := range z.File {
		if !strings.HasPrefix(zf.Name, "xl/charts/chart") {
			continue
		}
		n++
		x := readZip(t, zf)
		v, c := valAx.FindString(x), catAx.FindString(x)
		if !strings.Contains(v, `<min val="0"`) {
			t.Errorf("%s %s: value axis does not start at zero:\n%s", base, zf.Name, v)
		}
		if !strings.Contains(v, `formatCode="#,##0"`) || strings.Contains(v, `sourceLinked="1"`) || strings.Contains(v, `sourceLinked="true"`) {
			t.Errorf("%s %s: value axis labels without thousands separators:\n%s", base, zf.Name, v)
		}
		if !strings.Contains(v, "<title>") || !strings.Contains(c, "<title>") {
			t.Errorf("%s %s: an axis has no title", base, zf.Name)
		}
	}
	if n == 0 {
		t.Errorf("%s: no chart", base)
	}
}

func readZip(t *testing.T, zf *zip.File) string {
	t.Helper()
	rc, err := zf.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
