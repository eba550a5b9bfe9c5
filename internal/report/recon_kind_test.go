package report

import (
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"
)

// TestReconSummarySplitsPaymentsAndRefunds (issue 10): the summary added a matched refund to the
// matched payments as a positive amount (1,234.56 + 5.00 shown as 1,239.56 matched).
func TestReconSummarySplitsPaymentsAndRefunds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recon.xlsx")
	if err := WriteReconciliation(path, reconRun(), SliceSource(reconItems())); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Summary", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows {
		if len(r) >= 7 && r[0] == "Matched" {
			got[r[1]] = r[2:7]
		}
	}
	want := map[string][]string{
		"Payment": {"CNY", "1", "1234.56", "1234.56", "0"},
		"Refund":  {"CNY", "1", "5", "5", "0"},
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("Matched %s row: %v, want %v (summary rows %q)", k, g, w, rows)
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("Matched %s row: %v, want %v", k, g, w)
				break
			}
		}
	}
}
