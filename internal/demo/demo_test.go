package demo_test

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/cli"
	"github.com/paygw/paygw/internal/demo"
)

// childEnv makes the test binary act as the paygw binary: the demo runs its subcommands
// (migrate, sandbox, serve, reconcile, …) by re-executing os.Args[0] with this set.
const childEnv = "PAYGW_DEMO_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses and takes payments for several seconds")
	}
	dir := filepath.Join(t.TempDir(), "out")
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sum, err := demo.Run(ctx, demo.Options{
		Dir: dir, Exe: os.Args[0], Env: []string{childEnv + "=1"}, Payments: 60, Concurrency: 6, Seed: 11,
		Progress: &progress,
	})
	if err != nil {
		t.Fatalf("demo: %v\nprogress:\n%s", err, progress.String())
	}

	total := 0
	for _, n := range sum.Payments {
		total += n
	}
	rejected := 0
	for _, n := range sum.Rejected {
		rejected += n
	}
	if total+rejected != 60 {
		t.Errorf("payments %v + rejected %v, want 60 in all", sum.Payments, sum.Rejected)
	}
	if sum.Payments["succeeded"]+sum.Payments["partially_refunded"]+sum.Payments["refunded"] == 0 {
		t.Errorf("no payment succeeded: %v", sum.Payments)
	}
	if sum.Refunds["succeeded"] == 0 {
		t.Errorf("no refund succeeded: %v", sum.Refunds)
	}
	// Every event the final objects imply arrived, signed correctly.
	for typ, n := range sum.Expected {
		if sum.Notified[typ] != n {
			t.Errorf("notifications %s: got %d, want %d", typ, sum.Notified[typ], n)
		}
	}
	if sum.NotifyBadSig != 0 {
		t.Errorf("%d notifications failed verification", sum.NotifyBadSig)
	}
	// The injected discrepancy, and only it, is found.
	if sum.Reconcile.Counts["amount_mismatch"] != 1 || sum.Reconcile.Discrepancies != 1 {
		t.Errorf("reconciliation counts %v, discrepancies %d: want exactly the injected amount_mismatch",
			sum.Reconcile.Counts, sum.Reconcile.Discrepancies)
	}
	if len(sum.Reconcile.Items) != 1 || sum.Reconcile.Items[0].PaymentID != sum.Injected.OutTradeNo {
		t.Errorf("reconciliation items %+v, want the injected payment %s", sum.Reconcile.Items, sum.Injected.OutTradeNo)
	}
	// One batch per merchant; the unmatched payment is held back.
	if len(sum.Batches) != 2 {
		t.Errorf("batches %+v, want 2", sum.Batches)
	}
	for _, b := range sum.Batches {
		if b.Status != "settled" || b.Payments == 0 || b.Net <= 0 {
			t.Errorf("batch %+v: want settled with payments and a positive net", b)
		}
	}
	if a := sum.Alipay; a == nil || a.Payments["succeeded"]+a.Payments["partially_refunded"] != demo.AlipayPayments ||
		a.Reconcile.Counts["missing_internal"] != 1 || a.Reconcile.Counts["matched"] != demo.AlipayPayments+1 {
		t.Errorf("alipay leg %+v", sum.Alipay)
	}
	// One held per channel whose bill carries an injected discrepancy (sandbox, and WeChat Pay).
	if want := 1 + btoi(sum.WeChatPay != nil); sum.Held != want {
		t.Errorf("held back %d payments, want the %d with an injected discrepancy", sum.Held, want)
	}
	if w := sum.WeChatPay; w == nil || w.Payments["succeeded"] == 0 || w.Refunds != 2 || w.Reconcile.Counts["amount_mismatch"] != 1 {
		t.Errorf("wechatpay part: %+v", w)
	}
	if !sum.LedgerOK {
		t.Error("ledger not consistent")
	}
	for _, f := range []string{sum.ReconReport, sum.SettleReport, sum.DailyReport, sum.PayoutFile,
		filepath.Join(dir, "paygw.db"), filepath.Join(sum.Logs, "serve.log"), filepath.Join(sum.Logs, "sandbox.log")} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("file %s: missing or empty (%v)", f, err)
		}
	}
	for _, want := range []string{".xlsx", "payout_", "amount_mismatch", "the injected discrepancy", "ledger: consistent"} {
		var out bytes.Buffer
		sum.Print(&out)
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	// The servers were stopped by SIGTERM and drained: the gateway logged its clean stop.
	if b, err := os.ReadFile(filepath.Join(sum.Logs, "serve.log")); err != nil || !bytes.Contains(b, []byte(`"message":"stopped"`)) {
		t.Errorf("serve.log does not end with a clean stop (%v)", err)
	}
}

func TestRunRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := demo.Run(context.Background(), demo.Options{Dir: dir, Exe: os.Args[0]})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err = %v, want a refusal of the non-empty directory", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.txt")); err != nil {
		t.Fatalf("the demo touched an existing directory: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    demo.Options
		want string
	}{
		{"no dir", demo.Options{Exe: "x"}, "directory is required"},
		{"no exe", demo.Options{Dir: "d"}, "executable is required"},
		{"too few payments", demo.Options{Dir: "d", Exe: "x", Payments: 5}, "payments 5"},
		{"bad concurrency", demo.Options{Dir: "d", Exe: "x", Concurrency: -1}, "concurrency -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	o := demo.Options{Dir: "d", Exe: "x"}
	if err := o.Validate(); err != nil || o.Payments != 300 || o.Concurrency != 12 || o.Seed == 0 {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
