package statement

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, FormatSandbox, data, WriteSandbox)
	})
}

func FuzzWeChatPay(f *testing.F) {
	seed(f, "wechatpay")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, FormatWeChatPay, data, func(w io.Writer, rows []Row) error {
			return WriteWeChatPay(w, rows, WeChatAll)
		})
	})
}

func FuzzAlipay(f *testing.F) {
	seed(f, "alipay")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, FormatAlipay, data, func(w io.Writer, rows []Row) error {
			return WriteAlipayZip(w, rows, time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), "2088012345678901")
		})
	})
}

func FuzzMapped(f *testing.F) {
	seed(f, "mapped")
	mappings := []*Mapping{bankMapping, stripeMapping, xlsxMapping}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, m := range mappings {
			opts := Options{Mapping: m}
			rows, _, err := ReadAll(FormatMapped, fmt.Sprintf("fuzz-%d", i), bytes.NewReader(data), opts)
			if err != nil {
				continue
			}
			for _, r := range rows {
				if r.Amount < 0 || r.Fee < 0 || (r.Kind != KindPayment && r.Kind != KindRefund) || r.ChannelTradeNo == "" {
					t.Fatalf("accepted an impossible row %+v", r)
				}
			}
		}
	})
}
