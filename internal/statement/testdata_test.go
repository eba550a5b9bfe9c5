package statement

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"gopkg.in/yaml.v3"
)

// update regenerates testdata/ (the real-shaped files built from the readable UTF-8 sources in
// testdata/src) and golden files.
var update = flag.Bool("update", false, "regenerate testdata files from testdata/src")

// fixture is one real-shaped test file made from a UTF-8, LF source in testdata/src.
type fixture struct {
	src, dst string
	bom      bool // prefix a UTF-8 BOM
	crlf     bool // LF -> CRLF
	gbk      bool // encode as GBK (GB18030)
}

var fixtures = []fixture{
	{"sandbox_ok.txt", "sandbox/ok.csv", false, false, false},
	{"sandbox_ok.txt", "sandbox/ok_bom_crlf.csv", true, true, false},
	{"wechatpay_all.txt", "wechatpay/all.csv", true, true, false},
	{"wechatpay_all.txt", "wechatpay/all_lf.csv", false, false, false},
	{"wechatpay_success.txt", "wechatpay/success.csv", true, true, false},
	{"wechatpay_refund.txt", "wechatpay/refund.csv", true, true, false},
	{"wechatpay_legacy.txt", "wechatpay/legacy.csv", true, true, false},
	{"wechatpay_comma.txt", "wechatpay/comma.csv", true, true, false},
	{"wechatpay_empty.txt", "wechatpay/empty.csv", true, true, false},
	{"wechatpay_truncated.txt", "wechatpay/truncated.csv", true, true, false},
	{"wechatpay_count_mismatch.txt", "wechatpay/count_mismatch.csv", true, true, false},
	{"wechatpay_fee_mismatch.txt", "wechatpay/fee_mismatch.csv", true, true, false},
	{"alipay_detail.txt", "alipay/detail.csv", false, true, true},
	{"alipay_detail.txt", "alipay/detail_utf8.csv", true, true, false},
	{"alipay_halfwidth.txt", "alipay/halfwidth.csv", false, true, true},
	{"alipay_empty.txt", "alipay/empty.csv", false, true, true},
	{"alipay_bad_totals.txt", "alipay/bad_totals.csv", false, true, true},
	{"alipay_truncated.txt", "alipay/truncated.csv", false, true, true},
	{"alipay_comma.txt", "alipay/comma.csv", false, true, true},
	{"alipay_comma_amount.txt", "alipay/comma_amount.csv", false, true, true},
	{"alipay_summary.txt", "alipay/summary.csv", false, true, true},
	{"mapped_bank.txt", "mapped/bank_gbk.csv", false, true, true},
	{"mapped_stripe.txt", "mapped/stripe.csv", false, false, false},
}

func (f fixture) build(t testing.TB) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "src", f.src))
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	if f.crlf {
		s = strings.ReplaceAll(s, "\n", "\r\n")
	}
	if f.gbk {
		s = gbk(t, s)
	}
	if f.bom {
		s = "\uFEFF" + s
	}
	return []byte(s)
}

func gbk(t testing.TB, s string) string {
	t.Helper()
	out, err := simplifiedchinese.GB18030.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("encode GBK: %v", err)
	}
	return out
}

// TestTestdata keeps the committed binary fixtures equal to what their sources make; run with
// -update to rewrite them (and the zip, gzip and xlsx fixtures, which are not compared byte for
// byte because their compressors may change between Go versions).
func TestTestdata(t *testing.T) {
	for _, f := range fixtures {
		want := f.build(t)
		path := filepath.Join("testdata", f.dst)
		if *update {
			writeFile(t, path, want)
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestTestdata -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what testdata/src/%s makes (run go test -run TestTestdata -update)", path, f.src)
		}
	}
	if !*update {
		for _, p := range []string{"wechatpay/all.csv.gz", "alipay/bill.zip", "alipay/no_detail.zip", "mapped/bill.xlsx"} {
			if _, err := os.Stat(filepath.Join("testdata", p)); err != nil {
				t.Errorf("%v (run go test -run TestTestdata -update)", err)
			}
		}
		return
	}
	// WeChat Pay with tar_type=GZIP.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(fixtureByDst(t, "wechatpay/all.csv"))
	zw.Close()
	writeFile(t, "testdata/wechatpay/all.csv.gz", gz.Bytes())

	// The Alipay download: summary entry first, so the reader must pick the detail by content.
	detail, summary := fixtureByDst(t, "alipay/detail.csv"), fixtureByDst(t, "alipay/summary.csv")
	writeFile(t, "testdata/alipay/bill.zip", zipOf(t, []zipEntry{
		{"2088012345678901_20250314_业务明细(汇总).csv", summary},
		{"2088012345678901_20250314_业务明细.csv", detail},
	}))
	writeFile(t, "testdata/alipay/no_detail.zip", zipOf(t, []zipEntry{
		{"2088012345678901_20250314_业务明细(汇总).csv", summary},
	}))
	writeFile(t, "testdata/mapped/bill.xlsx", mappedXLSX(t))
}

func fixtureByDst(t *testing.T, dst string) []byte {
	for _, f := range fixtures {
		if f.dst == dst {
			return f.build(t)
		}
	}
	t.Fatalf("no fixture %s", dst)
	return nil
}

type zipEntry struct {
	name string
	body []byte
}

// zipOf builds a zip whose entry names are GBK bytes, as Alipay's are.
func zipOf(t *testing.T, entries []zipEntry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: gbk(t, e.name), NonUTF8: true, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mappedXLSX is an acquirer's export: a title row, the header on row 2, amounts in fen, Chinese
// type words, and one time stored as an Excel date serial.
func mappedXLSX(t *testing.T) []byte {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "账单"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{"收单机构对账单 2025-03-14"},
		{"时间", "类型", "渠道单号", "渠道退款单号", "商户单号", "商户退款单号", "金额(分)", "手续费(分)", "状态", "备注"},
		{"2025-03-14 09:00:00", "收款", "XL0001", "", "PGW20250314090000X1", "", "12800", "77", "SUCCESS", "a,b"},
		{"2025-03-14 10:00:00", "退款", "XL0001", "XLR0001", "PGW20250314090000X1", "PGWR20250314100000X1", "2800", "17", "PROCESSING", ""},
		{45730.5, "收款", "XL0002", "", "PGW20250314120000X2", "", "1", "0", "SUCCESS", "serial date"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func zipReader(b []byte) (*zip.Reader, error) {
	return zip.NewReader(bytes.NewReader(b), int64(len(b)))
}

// decodeMappingYAML decodes a mapping the way the config file does (strict keys).
func decodeMappingYAML(b []byte) (*Mapping, error) {
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}
