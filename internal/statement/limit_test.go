package statement

// Regressions (issue 14 items 3, 4, 5, 15): what a bad file could make the readers do.

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paygw/paygw/internal/money"
)

// wantRefused reads data and wants an *Error whose text contains want and stays short.
func wantRefused(t *testing.T, format Format, name string, data []byte, opts Options, want string) error {
	t.Helper()
	_, _, err := ReadAll(format, name, bytes.NewReader(data), opts)
	var se *Error
	if err == nil || !errors.As(err, &se) {
		t.Fatalf("%s: err %v, want a *statement.Error", name, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %.300q does not contain %q", name, err, want)
	}
	if n := len(err.Error()); n > maxErrorText+64 {
		t.Errorf("%s: error text is %d bytes", name, n)
	}
	return err
}

// TestAmountLimit: every reader takes a row of money.MaxAmount and refuses one minor unit more,
// naming the line.
func TestAmountLimit(t *testing.T) {
	day := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	row := func(amount int64) []Row {
		return []Row{{Kind: KindPayment, TradeTime: cst("2025-03-14 10:00:00"), ChannelTradeNo: "C1", OutTradeNo: "pay_1",
			Amount: amount, Fee: 0, Currency: "CNY", Status: StatusSucceeded}}
	}
	mapping := &Mapping{Columns: MappingColumns{TradeTime: "time", Type: "type", ChannelTradeNo: "trade", Amount: "amount"}}
	formats := []struct {
		format Format
		opts   Options
		write  func(io.Writer, []Row) error
		line   int
	}{
		{FormatSandbox, Options{}, WriteSandbox, 2},
		{FormatWeChatPay, Options{}, func(w io.Writer, r []Row) error { return WriteWeChatPay(w, r, WeChatAll) }, 2},
		{FormatAlipay, Options{}, func(w io.Writer, r []Row) error { return WriteAlipayZip(w, r, day, "2088012345678901") }, 6},
		{FormatMapped, Options{Mapping: mapping}, func(w io.Writer, r []Row) error {
			_, err := fmt.Fprintf(w, "time,type,trade,amount\n2025-03-14 10:00:00,payment,C1,%s\n", money.Format(r[0].Amount, "CNY"))
			return err
		}, 2},
	}
	for _, f := range formats {
		t.Run(string(f.format), func(t *testing.T) {
			for _, c := range []struct {
				amount int64
				ok     bool
			}{{money.MaxAmount, true}, {money.MaxAmount + 1, false}} {
				var b bytes.Buffer
				if err := f.write(&b, row(c.amount)); err != nil {
					t.Fatal(err)
				}
				rows, _, err := ReadAll(f.format, "big", bytes.NewReader(b.Bytes()), f.opts)
				if c.ok {
					if err != nil || len(rows) != 1 || rows[0].Amount != c.amount {
						t.Fatalf("amount %d: rows %v, err %v", c.amount, rows, err)
					}
					continue
				}
				var se *Error
				if !errors.As(err, &se) || se.Line != f.line || !strings.Contains(err.Error(), "maximum") {
					t.Fatalf("amount %d: err %v, want a refusal naming line %d", c.amount, err, f.line)
				}
			}
		})
	}
}

// blankLines is a statement head followed by n bytes of empty lines: it compresses ~1000:1.
func blankLines(head string, n int) []byte {
	return append([]byte(head), bytes.Repeat([]byte("\n"), n)...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func zipBytes(t testing.TB, entries map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	return buf.Bytes()
}

const bombSize = 64 << 20

// TestDecompressionBombs: a gzip WeChat Pay bill or an Alipay zip that expands far beyond its
// size is refused once past the ratio, without reading it all.
func TestDecompressionBombs(t *testing.T) {
	wx := strings.Join(wechatHeaders[WeChatAll], ",") + "\n"
	gz := gzipBytes(t, blankLines(wx, bombSize))
	wantRefused(t, FormatWeChatPay, "bomb.csv.gz", gz, Options{}, "decompression bomb")

	ap := apDetailTitle + "\n" + strings.Join(alipayHeader, ",") + "\n"
	z := zipBytes(t, map[string][]byte{"detail.csv": blankLines(ap, bombSize)})
	wantRefused(t, FormatAlipay, "bomb.zip", z, Options{}, "decompression bomb")
}

// TestAlipayZipManyEntries: a zip of 10,000 entries produced a 2.7 MB error.
func TestAlipayZipManyEntries(t *testing.T) {
	entries := map[string][]byte{}
	for i := range 10000 {
		entries[fmt.Sprintf("%s_%05d.csv", strings.Repeat("x", 200), i)] = []byte("x")
	}
	wantRefused(t, FormatAlipay, "many.zip", zipBytes(t, entries), Options{}, "entries")
}

// TestMappedCSVLimits: a 4 MB line, a 300-byte trade number, a huge time cell and too many cells
// are refused, each error quoting a short prefix only.
func TestMappedCSVLimits(t *testing.T) {
	m := &Mapping{Columns: MappingColumns{TradeTime: "time", Type: "type", ChannelTradeNo: "trade", Amount: "amount"}}
	head := "time,type,trade,amount\n"
	ok := "2025-03-14 10:00:00,payment,C1,1.00\n"
	long := strings.Repeat("9", 4<<20)
	cases := []struct{ name, body, want string }{
		{"long line", head + ok + "2025-03-14 10:00:00,payment,C" + long + ",1.00\n", "longer than"},
		{"long quoted field", head + ok + "2025-03-14 10:00:00,payment,\"" + long + "\n", "longer than"},
		{"long trade number", head + "2025-03-14 10:00:00,payment," + strings.Repeat("T", 300) + ",1.00\n", "longer than 128"},
		{"long time", head + strings.Repeat("2", 60000) + ",payment,C1,1.00\n", "time"},
		{"long amount", head + "2025-03-14 10:00:00,payment,C1," + strings.Repeat("1", 60000) + "\n", "amount"},
		{"long type", head + "2025-03-14 10:00:00," + strings.Repeat("p", 60000) + ",C1,1.00\n", "type"},
		{"too many cells", head + ok[:len(ok)-1] + strings.Repeat(",x", maxCells) + "\n", "cells"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantRefused(t, FormatMapped, "m.csv", []byte(c.body), Options{Mapping: m}, c.want)
		})
	}
}

// TestXLSXBomb: a mapped XLSX whose sheet expands to 300 MB is refused before it is expanded,
// and a row of too many cells is refused.
func TestXLSXBomb(t *testing.T) {
	f := excelize.NewFile()
	sheet := f.GetSheetName(0)
	_ = f.SetSheetRow(sheet, "A1", &[]any{"time", "type", "trade", "amount"})
	_ = f.SetSheetRow(sheet, "A2", &[]any{"2025-03-14 10:00:00", "payment", "C1", "1.00"})
	var small bytes.Buffer
	if err := f.Write(&small); err != nil {
		t.Fatal(err)
	}
	m := &Mapping{Columns: MappingColumns{TradeTime: "time", Type: "type", ChannelTradeNo: "trade", Amount: "amount"}}
	if rows, _, err := ReadAll(FormatMapped, "ok.xlsx", bytes.NewReader(small.Bytes()), Options{Mapping: m}); err != nil || len(rows) != 1 {
		t.Fatalf("small xlsx: %v %v", rows, err)
	}
	// Rewrite the zip with the sheet padded by 300 MB of whitespace (valid XML, ~1000:1).
	zr, err := zip.NewReader(bytes.NewReader(small.Bytes()), int64(small.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var big bytes.Buffer
	zw := zip.NewWriter(&big)
	for _, e := range zr.File {
		rc, _ := e.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		w, _ := zw.Create(e.Name)
		if strings.HasPrefix(e.Name, "xl/worksheets/sheet") {
			i := bytes.Index(b, []byte("<sheetData>"))
			pad := bytes.Repeat([]byte(" "), 1<<20)
			w.Write(b[:i])
			for range 300 {
				w.Write(pad)
			}
			w.Write(b[i:])
			continue
		}
		w.Write(b)
	}
	zw.Close()
	wantRefused(t, FormatMapped, "bomb.xlsx", big.Bytes(), Options{Mapping: m}, "XLSX")

	wide := excelize.NewFile()
	cells := make([]any, maxCells+1)
	for i := range cells {
		cells[i] = "x"
	}
	_ = wide.SetSheetRow(sheet, "A1", &[]any{"time", "type", "trade", "amount"})
	_ = wide.SetSheetRow(sheet, "A2", &cells)
	var wb bytes.Buffer
	if err := wide.Write(&wb); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, FormatMapped, "wide.xlsx", wb.Bytes(), Options{Mapping: m}, "cells")
}

func TestErrorTextIsCapped(t *testing.T) {
	e := &Error{File: "f", Line: 1, Msg: strings.Repeat("x", 1<<20), Err: errors.New(strings.Repeat("y", 1<<20))}
	if n := len(e.Error()); n > maxErrorText+64 {
		t.Errorf("error text %d bytes", n)
	}
}
