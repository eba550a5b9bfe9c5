package statement

import (
	"io"
	"strconv"
	"testing"
)

// sandboxGen produces a sandbox statement of n rows lazily, so the benchmark measures the reader
// and not a 100 MB buffer.
type sandboxGen struct {
	n, i int
	buf  []byte
	off  int
}

func newSandboxGen(n int) *sandboxGen {
	g := &sandboxGen{n: n}
	g.buf = append(g.buf, "trade_time,type,channel_trade_no,channel_refund_no,out_trade_no,out_refund_no,amount,fee,currency,status\n"...)
	return g
}

func (g *sandboxGen) Read(p []byte) (int, error) {
	for g.off == len(g.buf) {
		if g.i == g.n {
			return 0, io.EOF
		}
		g.buf, g.off = g.buf[:0], 0
		for k := 0; k < 256 && g.i < g.n; k++ {
			g.i++
			id := strconv.Itoa(1000000 + g.i)
			if g.i%10 == 0 {
				g.buf = append(g.buf, "2026-11-22 11:30:00,refund,SBX2026112200"+id+",SBXR2026112200"+id+",pay_01JD"+id+",ref_01JD"+id+",5.00,0.02,CNY,SUCCESS\n"...)
			} else {
				g.buf = append(g.buf, "2026-11-22 10:01:02,payment,SBX2026112200"+id+",,pay_01JD"+id+",,12.34,0.04,CNY,SUCCESS\n"...)
			}
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

// BenchmarkSandbox1M reads a generated 1,000,000-row sandbox statement per op and reports rows/s.
func BenchmarkSandbox1M(b *testing.B) {
	const rows = 1_000_000
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r, err := Open(FormatSandbox, "bench.csv", newSandboxGen(rows), Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows*b.N), "ns/row")
}
