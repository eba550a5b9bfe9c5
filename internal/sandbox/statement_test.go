package sandbox

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestStatementGolden(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	at := func(day, h, m, s int) time.Time { return time.Date(2026, 11, day, h, m, s, 0, cst) }
	clock := &fakeClock{t: at(21, 23, 0, 0)}
	e := newEnv(t, Options{Clock: clock.Now})
	ctx := context.Background()
	agr := e.signAgreement(t, "agr_s")
	withhold := func(when time.Time, id string, amount int64) channel.PayResult {
		t.Helper()
		clock.Set(when)
		res, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: id, Amount: amount, Currency: "CNY",
			PayMethod: MethodWithhold, AgreementNo: agr})
		if err != nil {
			t.Fatalf("withhold %s: %v", id, err)
		}
		return res
	}
	refund := func(when time.Time, pay, id string, amount int64) {
		t.Helper()
		clock.Set(when)
		if _, err := e.ch.Refund(ctx, channel.RefundRequest{PaymentID: pay, RefundID: id, Amount: amount, Currency: "CNY"}); err != nil {
			t.Fatalf("refund %s: %v", id, err)
		}
		eventually(t, "refund "+id, func() bool {
			r, err := e.ch.QueryRefund(ctx, id)
			return err == nil && r.Status == channel.StatusSucceeded
		})
	}

	withhold(at(21, 23, 59, 59), "pay_s0", 1000) // the day before
	withhold(at(22, 0, 0, 0), "pay_s1", 1234)    // fee round(3.702) = 4; first second of the day
	clock.Set(at(22, 10, 1, 2))
	s2, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_s2", Amount: 1500, Currency: "CNY", PayMethod: MethodWalletQR})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(at(22, 10, 5, 0))
	if resp, err := http.PostForm(s2.PayURL, nil); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	refund(at(22, 11, 30, 0), "pay_s1", "ref_s1", 500) // fee round(4 × 500 / 1234 = 1.62) = 2
	withhold(at(22, 13, 0, 0), "pay_s3", 777)          // dropped by injection below
	refund(at(22, 14, 0, 0), "pay_s2", "ref_s3", 500)  // fee of 1500 is round(4.5) = 5; returns round(1.67) = 2
	refund(at(22, 14, 10, 0), "pay_s2", "ref_s4", 500) // 2
	refund(at(22, 14, 20, 0), "pay_s2", "ref_s5", 500) // completes the full refund: 5 − 4 = 1
	clock.Set(time.Date(2026, 11, 22, 23, 59, 59, 999_000_000, cst))
	withhold(clock.Now(), "pay_s4", 100) // fee round(0.3) = 0; last instant of the day
	withhold(at(23, 0, 0, 0), "pay_s5", 100)

	for _, in := range []Injection{
		{Kind: InjectDrop, OutTradeNo: "pay_s3"},
		{Kind: InjectAmount, OutTradeNo: "pay_s2", Delta: 100},
		{Kind: InjectDuplicate, OutTradeNo: "pay_s1"},
		{Kind: InjectFee, OutRefundNo: "ref_s1"},
		{Kind: InjectExtra, Date: "2026-11-22", Amount: 500, OutTradeNo: "pay_phantom"},
	} {
		if err := e.ch.Inject(ctx, in); err != nil {
			t.Fatalf("Inject %+v: %v", in, err)
		}
	}
	if err := e.ch.Inject(ctx, Injection{Kind: "bogus"}); !errors.Is(err, channel.ErrDeclined) {
		t.Errorf("bogus injection: %v", err)
	}

	name, body, err := e.ch.Statement(ctx, "2026-11-22")
	if err != nil {
		t.Fatalf("Statement: %v", err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if name != "sandbox_2026-11-22.csv" {
		t.Errorf("name = %q", name)
	}
	golden(t, "statement_2026-11-22.csv", got)
	if _, err := csv.NewReader(bytes.NewReader(got)).ReadAll(); err != nil {
		t.Errorf("statement is not valid CSV: %v", err)
	}

	if _, _, err := e.ch.Statement(ctx, "2026-11-24"); !errors.Is(err, channel.ErrNoStatement) {
		t.Errorf("future statement: %v, want ErrNoStatement", err)
	}
	if _, _, err := e.ch.Statement(ctx, "22.11.2026"); err == nil {
		t.Errorf("bad date accepted")
	}
	get(t, e.ts.URL+"/statements/2026-13-01.csv", http.StatusBadRequest)
	get(t, e.ts.URL+"/statements/2026-11-22.txt", http.StatusNotFound)
	empty := get(t, e.ts.URL+"/statements/2020-01-01.csv", http.StatusOK)
	if empty != "trade_time,type,channel_trade_no,channel_refund_no,out_trade_no,out_refund_no,amount,fee,currency,status\n" {
		t.Errorf("empty statement = %q", empty)
	}
}

func TestStatementRates(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Clock: clock.Now, Seed: 9, StatementDropRate: 0.3, StatementAmountSkewRate: 0.3})
	agr := e.signAgreement(t, "agr_sr")
	for i := range 40 {
		if _, err := e.withhold("pay_sr"+string(rune('A'+i)), 1000, agr); err != nil {
			t.Fatal(err)
		}
	}
	a, err := e.srv.Statement("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.srv.Statement("2026-11-22")
	if !bytes.Equal(a, b) {
		t.Fatalf("statement differs between downloads")
	}
	rows, err := csv.NewReader(bytes.NewReader(a)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	skewed := 0
	for _, r := range rows[1:] {
		if r[6] == "10.01" {
			skewed++
		}
	}
	if n := len(rows) - 1; n == 40 || n == 0 || skewed == 0 {
		t.Fatalf("%d rows of 40 with %d skewed: rates not applied", n, skewed)
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}
