package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/reconcile"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var sh = time.FixedZone("Asia/Shanghai", 8*3600)

const date = "2026-11-22"

func at(h, m int) time.Time { return time.Date(2026, 11, 22, h, m, 0, 0, sh).UTC() }

// seed writes the day's payments: 10 that match, and one of each discrepancy.
func seed(t *testing.T, s *store.Store) (rows []statement.Row) {
	t.Helper()
	mch, _ := storetest.Merchant(t, s, "Shop", 0)
	var ps []storetest.Payment
	payRow := func(id, ctn string, amount, fee int64, tm time.Time) statement.Row {
		return statement.Row{Kind: statement.KindPayment, TradeTime: tm, ChannelTradeNo: ctn, OutTradeNo: id,
			Amount: amount, Fee: fee, Currency: "CNY", Status: statement.StatusSucceeded}
	}
	// add writes a payment that succeeded at paid (zero: still processing), then its refunds.
	add := func(id, ctn string, amount int64, paid time.Time, refunds ...storetest.Refund) {
		ps = append(ps, storetest.Payment{ID: id, MerchantID: mch.ID, OutTradeNo: id, ChannelTradeNo: ctn,
			Amount: amount, CreatedAt: at(9, 0), PaidAt: paid, Refunds: refunds})
	}
	for i := range 10 {
		id := "pay_ok" + string(rune('a'+i))
		add(id, "C"+id, 10000, at(10, i))
		rows = append(rows, payRow(id, "C"+id, 10000, 30, at(10, i)))
	}
	// refund that matches (payment refunded partially) and one with a wrong fee
	add("pay_r1", "Cpay_r1", 10000, at(8, 0),
		storetest.Refund{ID: "ref_1", OutRefundNo: "ref_1", ChannelRefundNo: "R1", Amount: 5000, CreatedAt: at(11, 0), At: at(11, 0)},
		storetest.Refund{ID: "ref_2", OutRefundNo: "ref_2", ChannelRefundNo: "R2", Amount: 1000, CreatedAt: at(11, 5), At: at(11, 5)})
	rows = append(rows, payRow("pay_r1", "Cpay_r1", 10000, 30, at(8, 0)),
		statement.Row{Kind: statement.KindRefund, TradeTime: at(11, 0), ChannelTradeNo: "Cpay_r1", ChannelRefundNo: "R1",
			OutTradeNo: "pay_r1", OutRefundNo: "ref_1", Amount: 5000, Fee: 15, Currency: "CNY", Status: statement.StatusSucceeded},
		statement.Row{Kind: statement.KindRefund, TradeTime: at(11, 5), ChannelTradeNo: "Cpay_r1", ChannelRefundNo: "R2",
			OutTradeNo: "pay_r1", OutRefundNo: "ref_2", Amount: 1000, Fee: 9, Currency: "CNY", Status: statement.StatusSucceeded})
	add("pay_amt", "Cpay_amt", 10000, at(12, 0))
	rows = append(rows, payRow("pay_amt", "Cpay_amt", 10001, 30, at(12, 0)))
	add("pay_fee", "Cpay_fee", 10000, at(12, 1))
	rows = append(rows, payRow("pay_fee", "Cpay_fee", 10000, 31, at(12, 1)))
	add("pay_st", "-", 10000, time.Time{})
	rows = append(rows, payRow("pay_st", "Cpay_st", 10000, 30, at(12, 2)))
	add("pay_miss", "Cpay_miss", 10000, at(13, 0))                            // not on the statement
	add("pay_late", "Cpay_late", 10000, at(23, 55))                           // near the cutoff: pending
	rows = append(rows, payRow("pay_ghost", "Cpay_ghost", 500, 2, at(14, 0))) // not ours
	rows = append(rows, payRow("pay_oka", "Cpay_oka", 10000, 30, at(10, 0)))  // duplicate
	storetest.NewFixture(t, s, sh).Payments(ps...)
	for i := range rows {
		rows[i].Line = i + 2
	}
	return rows
}

var wantCounts = map[reconcile.Class]int64{
	reconcile.Matched: 12, reconcile.MissingInternal: 1, reconcile.MissingChannel: 1, reconcile.AmountMismatch: 1,
	reconcile.StatusMismatch: 1, reconcile.FeeMismatch: 2, reconcile.Duplicate: 1, reconcile.Pending: 1,
}

func writeFile(t *testing.T, name string, fn func(w *bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func opts(file string, f statement.Format, out string) reconcile.Options {
	return reconcile.Options{Channel: "sandbox", Date: date, Format: f, File: file, FeeRateBps: 30,
		PendingWindow: 30 * time.Minute, Location: sh, OutDir: out, TempDir: os.TempDir(),
		Now: func() time.Time { return at(23, 59).Add(10 * time.Hour) }}
}

func TestRunFormats(t *testing.T) {
	day, _ := time.Parse("2006-01-02", date)
	mapping := &statement.Mapping{Columns: statement.MappingColumns{TradeTime: "time", Type: "type", ChannelTradeNo: "trade",
		ChannelRefundNo: "refund", OutTradeNo: "order", OutRefundNo: "order_refund", Amount: "amount", Fee: "fee"}}
	formats := []struct {
		name   string
		format statement.Format
		write  func(rows []statement.Row) func(*bytes.Buffer) error
		opts   statement.Options
	}{
		{"sandbox.csv", statement.FormatSandbox, func(rows []statement.Row) func(*bytes.Buffer) error {
			return func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) }
		}, statement.Options{}},
		{"wechat.csv", statement.FormatWeChatPay, func(rows []statement.Row) func(*bytes.Buffer) error {
			return func(b *bytes.Buffer) error { return statement.WriteWeChatPay(b, rows, statement.WeChatAll) }
		}, statement.Options{}},
		{"alipay.zip", statement.FormatAlipay, func(rows []statement.Row) func(*bytes.Buffer) error {
			return func(b *bytes.Buffer) error { return statement.WriteAlipayZip(b, rows, day, "2088012345678901") }
		}, statement.Options{}},
		{"mapped.csv", statement.FormatMapped, func(rows []statement.Row) func(*bytes.Buffer) error {
			return func(b *bytes.Buffer) error { return writeMapped(b, rows) }
		}, statement.Options{Mapping: mapping}},
	}
	for _, f := range formats {
		t.Run(string(f.format), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				rows := seed(t, s)
				file := writeFile(t, f.name, f.write(rows))
				out := t.TempDir()
				o := opts(file, f.format, out)
				o.Statement = f.opts
				res, err := reconcile.Run(context.Background(), s, o)
				if err != nil {
					t.Fatal(err)
				}
				// Alipay carries no channel refund number: its refunds match by out_refund_no.
				for c, n := range wantCounts {
					if res.Counts[c] != n {
						t.Errorf("%s: %d, want %d", c, res.Counts[c], n)
					}
				}
				if _, err := os.Stat(res.ReportPath); err != nil {
					t.Errorf("report: %v", err)
				}
				// matched are reconciled; a discrepancy is not
				if ra, _ := s.ReconciledAt(context.Background(), false, "pay_oka"); ra == nil {
					t.Error("pay_oka not reconciled")
				}
				if ra, _ := s.ReconciledAt(context.Background(), true, "ref_1"); ra == nil {
					t.Error("ref_1 not reconciled")
				}
				if ra, _ := s.ReconciledAt(context.Background(), false, "pay_amt"); ra != nil {
					t.Error("pay_amt reconciled")
				}
				// a re-run replaces the open result
				res2, err := reconcile.Run(context.Background(), s, o)
				if err != nil {
					t.Fatal(err)
				}
				open, err := s.ListReconItems(context.Background(), store.ReconItemFilter{Channel: "sandbox", BusinessDate: date, OpenOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(open) != len(res2.Items) {
					t.Errorf("after re-run %d open items, want %d", len(open), len(res2.Items))
				}
				runs, _ := s.ListReconRuns(context.Background(), store.ReconRunFilter{Channel: "sandbox", CurrentOnly: true})
				if len(runs) != 1 || runs[0].ID != res2.Run.ID {
					t.Errorf("current runs %+v", runs)
				}
			})
		})
	}
}

// writeMapped writes a plain CSV with the columns of the test mapping.
func writeMapped(b *bytes.Buffer, rows []statement.Row) error {
	b.WriteString("time,type,trade,refund,order,order_refund,amount,fee\n")
	for _, r := range rows {
		b.WriteString(strings.Join([]string{r.TradeTime.In(sh).Format("2006-01-02 15:04:05"), string(r.Kind), r.ChannelTradeNo,
			r.ChannelRefundNo, r.OutTradeNo, r.OutRefundNo, minor(r.Amount), minor(r.Fee)}, ","))
		b.WriteString("\n")
	}
	return nil
}

func minor(v int64) string { return fmtMajor(v) }

func fmtMajor(v int64) string {
	whole, frac := v/100, v%100
	return itoa(whole) + "." + string([]byte{byte('0' + frac/10), byte('0' + frac%10)})
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

func TestRunBadStatementStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		rows := seed(t, s)
		var b bytes.Buffer
		if err := statement.WriteWeChatPay(&b, rows, statement.WeChatAll); err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(b.String(), "\r\n")
		truncated := strings.Join(append(lines[:5:5], lines[len(lines)-3:]...), "")
		for _, tc := range []struct{ name, body string }{
			{"truncated.csv", truncated},
			{"cut.csv", strings.Join(lines[:6], "")},
		} {
			file := writeFile(t, tc.name, func(w *bytes.Buffer) error { w.WriteString(tc.body); return nil })
			_, err := reconcile.Run(context.Background(), s, opts(file, statement.FormatWeChatPay, t.TempDir()))
			var ie *reconcile.InputError
			var se *statement.Error
			if !errors.As(err, &ie) || !errors.As(err, &se) {
				t.Fatalf("%s: err %v, want an InputError naming the file", tc.name, err)
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("%s: %v does not name the file", tc.name, err)
			}
		}
		runs, err := s.ListReconRuns(context.Background(), store.ReconRunFilter{})
		if err != nil || len(runs) != 0 {
			t.Fatalf("runs stored: %v %v", runs, err)
		}
	})
}

func TestRunCrossDayPendingResolvedNextDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rows := seed(t, s)
		res, err := reconcile.Run(ctx, s, opts(writeFile(t, "d1.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, rows) }),
			statement.FormatSandbox, ""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Counts[reconcile.Pending] != 1 {
			t.Fatalf("pending %d", res.Counts[reconcile.Pending])
		}
		// The next day's statement carries pay_late.
		next := []statement.Row{{Line: 2, Kind: statement.KindPayment, TradeTime: at(24, 1), ChannelTradeNo: "Cpay_late",
			OutTradeNo: "pay_late", Amount: 10000, Fee: 30, Currency: "CNY", Status: statement.StatusSucceeded}}
		o := opts(writeFile(t, "d2.csv", func(b *bytes.Buffer) error { return statement.WriteSandbox(b, next) }), statement.FormatSandbox, "")
		o.Date = "2026-11-23"
		res2, err := reconcile.Run(ctx, s, o)
		if err != nil {
			t.Fatal(err)
		}
		if res2.Counts[reconcile.Matched] != 1 || res2.Open != 0 {
			t.Fatalf("next day counts %v open %d", res2.Counts, res2.Open)
		}
		items, err := s.ListReconItems(ctx, store.ReconItemFilter{BusinessDate: date})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Class == "pending" && (it.State != "resolved" || it.Resolution != "auto") {
				t.Errorf("pending item %+v not resolved automatically", it)
			}
		}
		if ra, _ := s.ReconciledAt(ctx, false, "pay_late"); ra == nil {
			t.Error("pay_late not reconciled")
		}
	})
}
