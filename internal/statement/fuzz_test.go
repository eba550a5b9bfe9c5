package statement

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paygw/paygw/internal/money"
)

const sandboxHead = "trade_time,type,channel_trade_no,channel_refund_no,out_trade_no,out_refund_no,amount,fee,currency,status\n"

// seed adds every file of testdata/<dir> to the fuzz corpus.
func seed(f *testing.F, dir string) {
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds in testdata/%s: %v", dir, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzRoundTrip reads data; if the whole file is accepted, writing the rows and reading them back
// must give the same rows and totals.
func fuzzRoundTrip(t *testing.T, format Format, data []byte, write func(io.Writer, []Row) error) {
	rows, totals, err := ReadAll(format, "fuzz", bytes.NewReader(data), Options{})
	if err != nil || write == nil {
		return
	}
	var buf bytes.Buffer
	if err := write(&buf, rows); err != nil {
		return // rows no writer of this format can express (checked by the writer)
	}
	got, gotTotals, err := ReadAll(format, "fuzz-rewritten", bytes.NewReader(buf.Bytes()), Options{})
	if err != nil {
		t.Fatalf("rewritten file rejected: %v\n%q", err, buf.Bytes())
	}
	noLine := cmp.Transformer("noLine", func(r Row) Row { r.Line = 0; return r })
	if diff := cmp.Diff(rows, got, noLine); diff != "" {
		t.Fatalf("round trip (-read +reread):\n%s", diff)
	}
	if totals != gotTotals {
		t.Fatalf("totals %+v, reread %+v", totals, gotTotals)
	}
}

func FuzzSandbox(f *testing.F) {
	seed(f, "sandbox")
	// issue 14: an amount above money.MaxAmount, a line longer than maxRecord
	f.Add([]byte(sandboxHead + "2026-11-22 10:01:02,payment,SBX1,,pay_1,,1000000000.01,0.07,CNY,SUCCESS\n"))
	f.Add([]byte(sandboxHead + "2026-11-22 10:01:02,payment,SBX" + strings.Repeat("1", maxRecord+1) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, FormatSandbox, data, WriteSandbox)
	})
}

func FuzzWeChatPay(f *testing.F) {
	seed(f, "wechatpay")
	// issue 14 item 15: gzip of blank lines past the expansion ratio (20 KB -> 20 MB)
	f.Add(gzipBytes(f, blankLines(strings.Join(wechatHeaders[WeChatAll], ",")+"\n", expandFloor+(4<<20))))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, FormatWeChatPay, data, func(w io.Writer, rows []Row) error {
			return WriteWeChatPay(w, rows, WeChatAll)
		})
	})
}

func FuzzAlipay(f *testing.F) {
	seed(f, "alipay")
	// issue 14 items 5 and 15: a zip bomb past the expansion ratio, a zip of too many entries
	head := apDetailTitle + "\n" + strings.Join(alipayHeader, ",") + "\n"
	f.Add(zipBytes(f, map[string][]byte{"d.csv": blankLines(head, expandFloor+(4<<20))}))
	many := map[string][]byte{}
	for i := range maxZipEntries + 1 {
		many[fmt.Sprintf("%03d.csv", i)] = []byte("x")
	}
	f.Add(zipBytes(f, many))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, FormatAlipay, data, func(w io.Writer, rows []Row) error {
			return WriteAlipayZip(w, rows, time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), "2088012345678901")
		})
	})
}

func FuzzMapped(f *testing.F) {
	seed(f, "mapped")
	// issue 14 item 5: a long line, a long id, a long time cell, too many cells
	const bankHead = "某银行收单对账单 2025-03-14\n交易时间,渠道流水号,商户订单号,商户退款单号,交易金额,手续费,币种,状态\n"
	f.Add([]byte(bankHead + "2025/03/14 09:05:00," + strings.Repeat("9", maxRecord+1) + "\n"))
	f.Add([]byte(bankHead + "2025/03/14 09:05:00," + strings.Repeat("B", 300) + ",P1,,128.00,0.38,CNY,成功\n"))
	f.Add([]byte(bankHead + strings.Repeat("2", 70000) + ",B1,P1,,128.00,0.38,CNY,成功\n"))
	f.Add([]byte(bankHead + "2025/03/14 09:05:00,B1,P1,,128.00,0.38,CNY,成功" + strings.Repeat(",x", maxCells) + "\n"))
	f.Add([]byte(bankHead + "2025/03/14 09:05:00,B1,P1,,1000000000.01,0.38,CNY,成功\n"))
	mappings := []*Mapping{bankMapping, stripeMapping, xlsxMapping}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, m := range mappings {
			opts := Options{Mapping: m}
			rows, _, err := ReadAll(FormatMapped, fmt.Sprintf("fuzz-%d", i), bytes.NewReader(data), opts)
			if err != nil {
				continue
			}
			for _, r := range rows {
				if r.Amount < 0 || r.Fee < 0 || r.Amount > money.MaxAmount || r.Fee > money.MaxAmount || (r.Kind != KindPayment && r.Kind != KindRefund) || r.ChannelTradeNo == "" {
					t.Fatalf("accepted an impossible row %+v", r)
				}
			}
		}
	})
}
