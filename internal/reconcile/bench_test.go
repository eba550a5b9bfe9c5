package reconcile_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/storetest"
)

// BenchmarkRun reconciles a statement of N rows (env PAYGW_BENCH_ROWS, default 100,000) against N
// payments seeded through the store, on SQLite and (with PAYGW_TEST_POSTGRES) PostgreSQL. Every
// 1000th row carries an amount mismatch. Peak RSS: run with /usr/bin/time -v. It runs under
// reconcile.MemoryLimit as the command does (PAYGW_BENCH_NOLIMIT=1: without).
func BenchmarkRun(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("PAYGW_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	if os.Getenv("PAYGW_BENCH_NOLIMIT") == "" {
		debug.SetMemoryLimit(reconcile.MemoryLimit) // as `paygw reconcile` runs
	}
	for _, d := range storetest.Dialects() {
		b.Run(fmt.Sprintf("%s/%d", d, n), func(b *testing.B) {
			s := storetest.Open(b, d)
			mch, _ := storetest.Merchant(b, s, "Bench", 0)
			file := filepath.Join(b.TempDir(), "bench.csv")
			f, err := os.Create(file)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriterSize(f, 1<<20)
			fmt.Fprintln(w, "trade_time,type,channel_trade_no,channel_refund_no,out_trade_no,out_refund_no,amount,fee,currency,status")
			fx := storetest.NewFixture(b, s, sh)
			ps := make([]storetest.Payment, 0, 10000)
			flush := func() {
				fx.Payments(ps...)
				ps = ps[:0]
			}
			for i := range n {
				paid := at(0, 40).Add(time.Duration(i) * (22 * time.Hour / time.Duration(n)))
				id := fmt.Sprintf("pay_%026d", i)
				ctn := fmt.Sprintf("SBX%017d", i)
				amount := int64(100 + i%100000)
				ps = append(ps, storetest.Payment{ID: id, MerchantID: mch.ID, OutTradeNo: id, ChannelTradeNo: ctn,
					Amount: amount, CreatedAt: paid, PaidAt: paid})
				ch := amount
				if i%1000 == 0 {
					ch++
				}
				fee := (amount*30 + 5000) / 10000
				fmt.Fprintf(w, "%s,payment,%s,,%s,,%d.%02d,%d.%02d,CNY,SUCCESS\n", paid.In(sh).Format("2006-01-02 15:04:05"),
					ctn, id, ch/100, ch%100, fee/100, fee%100)
				if len(ps) == cap(ps) {
					flush()
				}
			}
			flush()
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				res, err := reconcile.Run(context.Background(), s, reconcile.Options{Channel: "sandbox", Date: date,
					Format: statement.FormatSandbox, File: file, FeeRateBps: 30, PendingWindow: 30 * time.Minute, Location: sh,
					OutDir: os.Getenv("PAYGW_BENCH_OUT"), Progress: func(st string, k int64) {
						if os.Getenv("PAYGW_BENCH_TRACE") != "" && (k == 0 || st != "statement") {
							fmt.Fprintln(os.Stderr, time.Since(start), st, k)
						}
					}})
				if err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				if res.Counts[reconcile.AmountMismatch] != int64((n+999)/1000) {
					b.Fatalf("counts %v", res.Counts)
				}
				b.ReportMetric(float64(n)/el.Seconds(), "rows/s")
			}
		})
	}
}
