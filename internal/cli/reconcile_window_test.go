package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestReconcileWrongDateStatement is issue 10's reproduction: `--date 2026-11-29` with the 12-01
// statement reconciled 7 matched and exited 0. It must exit 2 naming the file and line and store nothing.
func TestReconcileWrongDateStatement(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	sh := time.FixedZone("Asia/Shanghai", 8*3600)
	at := func(h, m int) time.Time { return time.Date(2026, 12, 1, h, m, 0, 0, sh) }
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			mch, _ := storetest.Merchant(t, s, "Shop", 0)
			var ps []storetest.Payment
			var rows []statement.Row
			for i := range 7 {
				id := fmt.Sprintf("pay_%d", i)
				ps = append(ps, storetest.Payment{ID: id, MerchantID: mch.ID, OutTradeNo: id, ChannelTradeNo: "C" + id,
					Amount: 10000, CreatedAt: at(10, i), PaidAt: at(10, i)})
				rows = append(rows, statement.Row{Kind: statement.KindPayment, TradeTime: at(10, i), ChannelTradeNo: "C" + id,
					OutTradeNo: id, Amount: 10000 + int64(i/6), Fee: 30, Currency: "CNY", Status: statement.StatusSucceeded})
			}
			storetest.NewFixture(t, s, sh).Payments(ps...)
			var b bytes.Buffer
			if err := statement.WriteSandbox(&b, rows); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "sandbox_2026-12-01.csv")
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, fmt.Sprintf("timezone: Asia/Shanghai\nchannels:\n  sandbox:\n    kind: sandbox\n    url: http://127.0.0.1:1\n"+
				"    secret: x\n    fee_rate_bps: 30\nreconcile:\n  out_dir: %s\n", filepath.Join(dir, "reports")))
			code, out, errOut := reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", "2026-11-29", "--file", file, "--json")
			if code != ExitUsage || out != "" || !strings.Contains(errOut, "sandbox_2026-12-01.csv:2") || !strings.Contains(errOut, "2026-11-29") {
				t.Errorf("wrong date: exit %d, stdout %q, stderr %q; want 2 naming the file, its line 2 and the date", code, out, errOut)
			}
			if runs, _ := s.ListReconRuns(ctx, store.ReconRunFilter{}); len(runs) != 0 {
				t.Errorf("a wrong statement stored %d runs", len(runs))
			}
			// The right date reconciles: 6 matched, the last row's amount differs.
			code, out, errOut = reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", "2026-12-01", "--file", file, "--json")
			if res := decodeJSON[reconcileJSON](t, out); code != 0 || res.Counts["matched"] != 6 || res.Counts["amount_mismatch"] != 1 {
				t.Errorf("right date: exit %d, counts %v, stderr %q", code, res.Counts, errOut)
			}
			// `reconcile list` shows amounts in major units, like the rest of the output (issue 10).
			code, out, errOut = reconCLI(t, dsn, cfg, "reconcile", "list", "--date", "2026-12-01")
			if code != 0 || !strings.Contains(out, "100.00") || !strings.Contains(out, "100.01") || strings.Contains(out, "10001") {
				t.Errorf("reconcile list: exit %d, stderr %q, want amounts 100.00 and 100.01 in major units:\n%s", code, errOut, out)
			}
		})
	}
}
