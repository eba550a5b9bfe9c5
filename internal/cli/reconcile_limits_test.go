package cli

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestReconcileRefusesOversizedStatements is issue 14 item 5 as seen at the command: a mapped CSV
// with a 4 MB line and a 300-byte trade number, an Alipay zip of 10,000 entries (a 2.7 MB error,
// stored in job_runs). Each exits 2 with a short message, stores no run, and job_runs keeps a
// bounded text.
func TestReconcileRefusesOversizedStatements(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "time,type,trade,amount\n"
	longLine := write("long_line.csv", []byte(head+"2026-12-01 10:00:00,payment,C"+strings.Repeat("9", 4<<20)+",1.00\n"))
	longID := write("long_id.csv", []byte(head+"2026-12-01 10:00:00,payment,"+strings.Repeat("T", 300)+",1.00\n"))
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for i := range 10000 {
		w, _ := zw.Create(fmt.Sprintf("%s_%05d.csv", strings.Repeat("x", 200), i))
		w.Write([]byte("x"))
	}
	zw.Close()
	manyEntries := write("many.zip", zb.Bytes())
	xlsxBomb := write("bomb.xlsx", paddedXLSX(t, 300<<20))
	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	gw.Write([]byte("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注\n"))
	gw.Write(bytes.Repeat([]byte("\n"), 64<<20))
	gw.Close()
	gzBomb := write("bomb.csv.gz", gz.Bytes())
	cfg := writeConfig(t, fmt.Sprintf(`timezone: Asia/Shanghai
channels:
  bank:
    kind: statement
    format: mapped
    mapping:
      columns: {trade_time: time, type: type, channel_trade_no: trade, amount: amount}
  alipay:
    kind: statement
    format: alipay
  wechat:
    kind: statement
    format: wechatpay
reconcile:
  out_dir: %s
`, filepath.Join(dir, "reports")))
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			for _, c := range []struct{ channel, file, want string }{
				{"bank", longLine, "longer than"},
				{"bank", longID, "longer than 128"},
				{"alipay", manyEntries, "10000 entries"},
				{"bank", xlsxBomb, "XLSX expands to more than"}, // issue 14 item 4
				{"wechat", gzBomb, "decompression bomb"},        // issue 14 item 15

			} {
				code, out, errOut := reconCLI(t, dsn, cfg, "reconcile", "--channel", c.channel, "--date", "2026-12-01", "--file", c.file)
				if code != ExitUsage || out != "" || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, filepath.Base(c.file)) {
					t.Errorf("%s: exit %d, stdout %q, stderr %.400q; want 2 naming the file and %q", c.file, code, out, errOut, c.want)
				}
				if len(errOut) > 8<<10 {
					t.Errorf("%s: stderr is %d bytes", c.file, len(errOut))
				}
			}
			ctx := context.Background()
			if runs, _ := s.ListReconRuns(ctx, store.ReconRunFilter{}); len(runs) != 0 {
				t.Errorf("%d runs stored", len(runs))
			}
			jobs, err := s.ListJobRuns(ctx, "reconcile", 10)
			if err != nil || len(jobs) != 5 {
				t.Fatalf("job runs %d, %v", len(jobs), err)
			}
			for _, j := range jobs {
				if j.Status != paygw.JobFailed || j.Error == "" || len(j.Error) > store.MaxJobText+64 {
					t.Errorf("job run %s: status %s, error of %d bytes", j.ID, j.Status, len(j.Error))
				}
			}
		})
	}
}

// paddedXLSX is a one-row mapped XLSX whose sheet XML carries pad bytes of whitespace: it
// compresses ~1000:1 (the 2 MB -> 2 GiB sheet of issue 14, smaller).
func paddedXLSX(t *testing.T, pad int) []byte {
	t.Helper()
	f := excelize.NewFile()
	sheet := f.GetSheetName(0)
	_ = f.SetSheetRow(sheet, "A1", &[]any{"time", "type", "trade", "amount"})
	_ = f.SetSheetRow(sheet, "A2", &[]any{"2026-12-01 10:00:00", "payment", "C1", "1.00"})
	var small bytes.Buffer
	if err := f.Write(&small); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(small.Bytes()), int64(small.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var big bytes.Buffer
	zw := zip.NewWriter(&big)
	spaces := bytes.Repeat([]byte(" "), 1<<20)
	for _, e := range zr.File {
		rc, _ := e.Open()
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		w, _ := zw.Create(e.Name)
		body := b.Bytes()
		if i := bytes.Index(body, []byte("<sheetData>")); i >= 0 && strings.HasPrefix(e.Name, "xl/worksheets/sheet") {
			w.Write(body[:i])
			for range pad >> 20 {
				w.Write(spaces)
			}
			body = body[i:]
		}
		w.Write(body)
	}
	zw.Close()
	return big.Bytes()
}
