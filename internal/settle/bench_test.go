package settle_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/settle"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// BenchmarkSettle1M seeds PAYGW_BENCH_PAYMENTS (default 1,000,000) reconciled payments across
// 1,000 merchants, then settles the date and writes the payout file and the settlement report
// with its full detail. It reports the settle run's wall time and the process's peak RSS
// (VmHWM; seeding streams in chunks so it stays small; with PAYGW_BENCH_SEED_DIR a SQLite run
// starts from a seeded copy and the figure is settle's alone). Numbers are in BENCHMARKS.md.
//
//	go test ./internal/settle -run XXX -bench Settle1M -benchtime 1x -timeout 60m
func BenchmarkSettle1M(b *testing.B) {
	total := 1_000_000
	if v := os.Getenv("PAYGW_BENCH_PAYMENTS"); v != "" {
		total, _ = strconv.Atoi(v)
	}
	const merchants = 1000
	for _, d := range storetest.Dialects() {
		b.Run(string(d), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				day := "2026-11-22"
				s := seededStore(b, d, total, merchants, day)
				out := b.TempDir()
				b.StartTimer()
				t0 := time.Now()
				workers, _ := strconv.Atoi(os.Getenv("PAYGW_BENCH_WORKERS")) // 0: the default
				res, err := settle.Run(context.Background(), s, settle.Options{Date: day, RequireReconciled: true, OutDir: out,
					Log: zerolog.Nop(), Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				wall := time.Since(t0)
				b.StopTimer()
				if len(res.Batches) != merchants {
					b.Fatalf("%d batches", len(res.Batches))
				}
				st, _ := os.Stat(res.ReportFile)
				b.ReportMetric(wall.Seconds(), "settle_s")
				b.ReportMetric(float64(peakRSS())/(1<<20), "peak_rss_MiB")
				b.Logf("%s: settled %d payments in %d batches in %s; report %d MiB; peak RSS %d MiB",
					d, total, len(res.Batches), wall.Round(time.Millisecond), st.Size()>>20, peakRSS()>>20)
			}
		})
	}
}

// seededStore returns a store holding total reconciled payments of day across merchants.
// With PAYGW_BENCH_SEED_DIR set, a seeded SQLite file is kept there (one per count) and later
// runs start from a copy of it, so the process that settles never seeded: its peak RSS is
// settle's alone, and iterations on settle skip minutes of seeding.
func seededStore(b *testing.B, d store.Dialect, total, merchants int, day string) *store.Store {
	cacheDir := os.Getenv("PAYGW_BENCH_SEED_DIR")
	cached := filepath.Join(cacheDir, fmt.Sprintf("settle-seed-%d-%d.db", total, merchants))
	if cacheDir != "" && d == store.SQLite {
		if _, err := os.Stat(cached); err == nil {
			dst := filepath.Join(b.TempDir(), "paygw.db")
			if err := copyFile(cached, dst); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: starting from the seeded copy %s", d, cached)
			return storetest.OpenDSN(b, "sqlite:"+dst)
		}
	}
	dsn := storetest.DSN(b, d)
	s := storetest.OpenDSN(b, dsn)
	f := newFixture(b, s)
	for m := range merchants {
		f.merchant(fmt.Sprintf("mch_%04d", m), paygw.FeePlan{RateBps: 60, Fixed: 1})
	}
	start := time.Now()
	const chunk = 20_000
	buf := make([]storetest.Succeeded, 0, chunk)
	for i := range total {
		paid := at(day, 0, 0).Add(time.Duration(i%86_000) * time.Second)
		buf = append(buf, storetest.Succeeded{ID: fmt.Sprintf("pay_%08d", i), MerchantID: fmt.Sprintf("mch_%04d", i%merchants),
			OutTradeNo: fmt.Sprintf("o%08d", i), Currency: "CNY", Channel: "sandbox", PayMethod: "wallet_qr",
			Amount: int64(100 + i%99_900), PaidAt: paid, BusinessDate: day, Reconciled: true})
		if len(buf) == chunk || i == total-1 {
			storetest.Volume(b, s, buf)
			buf = buf[:0]
		}
	}
	b.Logf("%s: seeded %d payments in %s", d, total, time.Since(start).Round(time.Millisecond))
	if cacheDir != "" && d == store.SQLite {
		if _, err := s.DB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		if err := copyFile(strings.TrimPrefix(dsn, "sqlite:"), cached); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst + ".tmp")
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

// peakRSS reads the process's peak resident set (Linux VmHWM), in bytes; 0 elsewhere.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
