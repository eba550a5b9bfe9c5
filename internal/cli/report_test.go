package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/report"
)

func TestReportDailyWritesWorkbook(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		db.seedDay()
		out := db.must(ExitOK, nil, "report", "daily", "--date", settleDay, "--out", db.out)
		path := filepath.Join(db.out, "daily_"+settleDay+".xlsx")
		if want := "daily report " + settleDay + ": 2 rows: " + path; strings.TrimSpace(out) != want {
			t.Errorf("stdout %q, want %q", out, want)
		}
		dump, err := report.Dump(path)
		if err != nil {
			t.Fatal(err)
		}
		// Amounts are in major units: mch_a succeeded 125.50; 25.00 + 3.00 refunded in all.
		for _, want := range []string{"mch_a", "Shop mch_a", "mch_b", "sandbox", "wallet_qr", `"125.5"`, `"28"`} {
			if !strings.Contains(dump, want) {
				t.Errorf("daily workbook lacks %q:\n%s", want, dump)
			}
		}
		// mch_c's payment belongs to the next business date.
		if strings.Contains(dump, "mch_c") {
			t.Errorf("daily workbook of %s lists mch_c:\n%s", settleDay, dump)
		}
		runs, err := db.s.ListJobRuns(db.ctx, "report-daily", 5)
		if err != nil || len(runs) != 1 || runs[0].BusinessKey != settleDay || runs[0].Status != "succeeded" {
			t.Errorf("job runs %+v (%v)", runs, err)
		}

		// A day without activity still writes a workbook (0 rows); the env twin sets --out.
		other := t.TempDir()
		out = db.must(ExitOK, map[string]string{"PAYGW_OUT": other}, "report", "daily", "--date", "2026-11-01")
		if !strings.Contains(out, ": 0 rows: ") {
			t.Errorf("empty day: %s", out)
		}
		if _, err := os.Stat(filepath.Join(other, "daily_2026-11-01.xlsx")); err != nil {
			t.Error(err)
		}
		// The default date is yesterday in the settlement timezone.
		out = db.must(ExitOK, nil, "report", "daily", "--out", other)
		sh, _ := time.LoadLocation("Asia/Shanghai")
		y := time.Now().In(sh).AddDate(0, 0, -1).Format("2006-01-02")
		if !strings.Contains(out, "daily report "+y) && !strings.Contains(out, "daily report "+time.Now().In(sh).AddDate(0, 0, -2).Format("2006-01-02")) {
			t.Errorf("default date: %s (want %s)", out, y)
		}
		if code, _, errOut := db.run(nil, "report", "daily", "--date", "2026-02-30", "--out", other); code != ExitUsage || !strings.Contains(errOut, "--date") {
			t.Errorf("bad date: exit %d, %s", code, errOut)
		}
	})
}
