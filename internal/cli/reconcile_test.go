package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// reconCLI runs the binary's entry point against dsn and cfg and returns exit code and output.
func reconCLI(t *testing.T, dsn, cfg string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"--db", dsn, "--config", cfg}, args...)
	code := Main(context.Background(), all, nil, &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "paygw.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeJSON[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON object: %q", out)
	}
	return v
}

type reconListJSON struct {
	Runs  []map[string]any `json:"runs"`
	Items []reconItemJSON  `json:"open_items"`
}

func TestReconcileCommand(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	sh := time.FixedZone("Asia/Shanghai", 8*3600)
	const date = "2026-11-22"
	at := func(h, m int) time.Time { return time.Date(2026, 11, 22, h, m, 0, 0, sh) }
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			mch, _ := storetest.Merchant(t, s, "Shop", 0)
			var ps []storetest.Payment
			for i, id := range []string{"pay_a", "pay_b", "pay_c", "pay_amt", "pay_miss"} {
				ps = append(ps, storetest.Payment{ID: id, MerchantID: mch.ID, OutTradeNo: id, ChannelTradeNo: "C" + id,
					Amount: 10000, CreatedAt: at(10, i), PaidAt: at(10, i)})
			}
			storetest.NewFixture(t, s, sh).Payments(ps...)
			row := func(id string, amount int64, m int) statement.Row {
				return statement.Row{Kind: statement.KindPayment, TradeTime: at(10, m), ChannelTradeNo: "C" + id, OutTradeNo: id,
					Amount: amount, Fee: 30, Currency: "CNY", Status: statement.StatusSucceeded}
			}
			var b bytes.Buffer
			if err := statement.WriteSandbox(&b, []statement.Row{row("pay_a", 10000, 0), row("pay_b", 10000, 1), row("pay_c", 10000, 2),
				row("pay_amt", 10001, 3), row("pay_ghost", 500, 4)}); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "sandbox_"+date+".csv")
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := writeConfig(t, fmt.Sprintf("timezone: Asia/Shanghai\nchannels:\n  sandbox:\n    kind: sandbox\n    url: http://127.0.0.1:1\n"+
				"    secret: x\n    fee_rate_bps: 30\nreconcile:\n  out_dir: %s\n", filepath.Join(dir, "reports")))

			// --json: one object with the counts and the stored discrepancies.
			code, out, errOut := reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", date, "--file", file, "--json")
			if code != 0 {
				t.Fatalf("reconcile --json: exit %d: %s", code, errOut)
			}
			res := decodeJSON[reconcileJSON](t, out)
			want := map[string]int64{"matched": 3, "missing_internal": 1, "missing_channel": 1, "amount_mismatch": 1,
				"status_mismatch": 0, "fee_mismatch": 0, "duplicate": 0, "pending": 0}
			for c, n := range want {
				if res.Counts[c] != n {
					t.Errorf("counts[%s] = %d, want %d (%v)", c, res.Counts[c], n, res.Counts)
				}
			}
			if res.RunID == "" || res.Date != date || res.File != filepath.Base(file) || len(res.FileSHA256) != 64 ||
				res.Discrepancies != 3 || len(res.Items) != 3 || !strings.HasSuffix(res.Report, ".xlsx") {
				t.Errorf("reconcile --json: %+v", res)
			}
			if _, err := os.Stat(res.Report); err != nil {
				t.Errorf("report: %v", err)
			}

			// --fail-on-discrepancy: exit 3 while discrepancies are open (the run is still stored).
			code, _, errOut = reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", date, "--file", file, "--fail-on-discrepancy")
			if code != ExitDiscrepancy || !strings.Contains(errOut, "3 discrepancies") {
				t.Errorf("--fail-on-discrepancy: exit %d, stderr %q; want 3", code, errOut)
			}

			// A bad file: exit 2 naming the file and line; nothing stored.
			runsBefore, _ := s.ListReconRuns(ctx, store.ReconRunFilter{})
			bad := filepath.Join(dir, "bad.csv")
			lines := strings.Split(b.String(), "\n")
			lines[3] = strings.Replace(lines[3], "100.00", "1OO.00", 1)
			if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut = reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", date, "--file", bad, "--json")
			if code != ExitUsage || !strings.Contains(errOut, "bad.csv") || !strings.Contains(errOut, "bad.csv:4") || out != "" {
				t.Errorf("bad file: exit %d, stdout %q, stderr %q; want 2 naming bad.csv line 4", code, out, errOut)
			}
			runsAfter, _ := s.ListReconRuns(ctx, store.ReconRunFilter{})
			if len(runsAfter) != len(runsBefore) {
				t.Errorf("a bad file stored a run: %d runs, had %d", len(runsAfter), len(runsBefore))
			}
			if code, _, errOut = reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", date, "--file", filepath.Join(dir, "none.csv")); code != ExitUsage || !strings.Contains(errOut, "none.csv") {
				t.Errorf("missing file: exit %d, stderr %q", code, errOut)
			}

			// list: runs newest first (the first run superseded) and the open items.
			code, out, errOut = reconCLI(t, dsn, cfg, "reconcile", "list", "--channel", "sandbox", "--json")
			if code != 0 {
				t.Fatalf("reconcile list: exit %d: %s", code, errOut)
			}
			list := decodeJSON[reconListJSON](t, out)
			if len(list.Runs) != 2 || list.Runs[0]["status"] != "current" || list.Runs[1]["status"] != "superseded" || len(list.Items) != 3 {
				t.Fatalf("reconcile list: %+v", list)
			}
			code, out, _ = reconCLI(t, dsn, cfg, "reconcile", "list", "--date", date)
			if code != 0 || !strings.Contains(out, "amount_mismatch") || !strings.Contains(out, "pay_miss") {
				t.Errorf("reconcile list (text): exit %d\n%s", code, out)
			}

			// resolve: records who and why; a second resolve of the same item is refused.
			var amt reconItemJSON
			for _, it := range list.Items {
				if it.Class == "amount_mismatch" {
					amt = it
				}
			}
			id := strconv.FormatInt(amt.ID, 10)
			code, out, errOut = reconCLI(t, dsn, cfg, "reconcile", "resolve", id, "--accept", "ours", "--note", "channel typo", "--by", "alice", "--json")
			if code != 0 {
				t.Fatalf("resolve: exit %d: %s", code, errOut)
			}
			got := decodeJSON[reconItemJSON](t, out)
			if got.State != "resolved" || got.Resolution != "accept_ours" || got.ResolvedBy != "alice" || got.ResolutionNote != "channel typo" {
				t.Errorf("resolve --json: %+v", got)
			}
			code, _, errOut = reconCLI(t, dsn, cfg, "reconcile", "resolve", id, "--accept", "ours", "--note", "again", "--by", "bob")
			if code != ExitUsage || !strings.Contains(errOut, "already resolved") {
				t.Errorf("second resolve: exit %d, stderr %q", code, errOut)
			}
			for _, args := range [][]string{
				{"reconcile", "resolve", id, "--accept", "maybe", "--note", "n", "--by", "x"},
				{"reconcile", "resolve", id, "--accept", "ours", "--by", "x"},
				{"reconcile", "resolve", "abc", "--accept", "ours", "--note", "n", "--by", "x"},
				{"reconcile", "resolve", "99999", "--accept", "ours", "--note", "n", "--by", "x"},
				{"reconcile", "--date", date},
				{"reconcile", "--channel", "nope", "--date", date},
				{"reconcile", "--channel", "sandbox", "--format", "csv", "--date", date},
			} {
				if code, _, errOut := reconCLI(t, dsn, cfg, args...); code != ExitUsage {
					t.Errorf("%v: exit %d, stderr %q; want 2", args, code, errOut)
				}
			}
			// With the item resolved, two discrepancies stay open.
			code, out, _ = reconCLI(t, dsn, cfg, "reconcile", "list", "--json")
			if list := decodeJSON[reconListJSON](t, out); code != 0 || len(list.Items) != 2 {
				t.Errorf("open items after resolve: %d", len(list.Items))
			}
		})
	}
}

// TestReconcileEndToEnd takes payments and a refund through a real gateway and sandbox channel,
// falsifies the sandbox's statement with one discrepancy of each kind it can inject, fetches
// the statement through the channel adapter (no --file) and checks the exact counts per class.
func TestReconcileEndToEnd(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	sh := time.FixedZone("Asia/Shanghai", 8*3600)
	const date = "2026-11-22"
	// The sandbox's business time runs from noon of the date, far from both cutoffs.
	base, t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, sh), time.Now()
	clock := func() time.Time { return base.Add(time.Since(t0)) }
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			// The gateway keeps the wall clock (it checks request timestamps against it); paid and
			// refund times come from the sandbox's business clock.
			e := gwtest.Start(t, s, gwtest.Options{
				Sandbox: sandbox.Options{AutoPay: 20 * time.Millisecond, Clock: clock, Location: sh}})
			var pays []api.Payment
			for i := range 8 {
				p, st, err := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": fmt.Sprintf("E2E%d", i), "amount": 1000 + i,
					"currency": "CNY", "pay_method": "wallet_qr", "subject": "e2e"})
				if err != nil || st != http.StatusCreated {
					t.Fatalf("create payment %d: %d %v", i, st, err)
				}
				pays = append(pays, p)
			}
			gwtest.Eventually(t, 10*time.Second, "payments paid", func() bool {
				for _, p := range pays {
					if got, err := e.Client.GetPayment(ctx, p.ID); err != nil || got.Status != "succeeded" {
						return false
					}
				}
				return true
			})
			rf, st, err := e.Client.Refund(ctx, pays[7].ID, "E2E-R1", 500)
			if err != nil || st != http.StatusCreated {
				t.Fatalf("refund: %d %v", st, err)
			}
			gwtest.Eventually(t, 10*time.Second, "refund succeeded", func() bool {
				var r api.Refund
				_, err := e.Client.Do(ctx, "GET", "/v1/refunds/"+rf.ID, nil, &r)
				return err == nil && r.Status == "succeeded"
			})

			ch, err := sandbox.NewChannel("sandbox", e.SandboxTS["sandbox"].URL, gwtest.Secret)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range []sandbox.Injection{
				{Kind: sandbox.InjectDrop, OutTradeNo: pays[0].ID},
				{Kind: sandbox.InjectAmount, OutTradeNo: pays[1].ID, Delta: 5},
				{Kind: sandbox.InjectFee, OutTradeNo: pays[2].ID, Delta: 1},
				{Kind: sandbox.InjectDuplicate, OutTradeNo: pays[3].ID},
				{Kind: sandbox.InjectExtra, OutTradeNo: "pay_phantom", Date: date, Amount: 777, Currency: "CNY"},
				{Kind: sandbox.InjectFee, OutRefundNo: rf.ID, Delta: 2},
			} {
				if err := ch.Inject(ctx, in); err != nil {
					t.Fatalf("inject %+v: %v", in, err)
				}
			}

			dir := t.TempDir()
			cfg := writeConfig(t, fmt.Sprintf("timezone: Asia/Shanghai\nchannels:\n  sandbox:\n    kind: sandbox\n    url: %s\n"+
				"    secret: %s\n    fee_rate_bps: 30\nreconcile:\n  out_dir: %s\n", e.SandboxTS["sandbox"].URL, gwtest.Secret, dir))
			code, out, errOut := reconCLI(t, dsn, cfg, "reconcile", "--channel", "sandbox", "--date", date, "--json", "--fail-on-discrepancy")
			if code != ExitDiscrepancy {
				t.Fatalf("reconcile: exit %d, want 3: %s", code, errOut)
			}
			res := decodeJSON[reconcileJSON](t, out)
			// 8 payments + 1 refund: pays[0] dropped, [1] amount, [2] fee, [3] duplicated (its
			// first row matches), the refund's fee; 4 payments match, plus [3]'s first row.
			want := map[string]int64{"matched": 5, "missing_internal": 1, "missing_channel": 1, "amount_mismatch": 1,
				"status_mismatch": 0, "fee_mismatch": 2, "duplicate": 1, "pending": 0}
			for c, n := range want {
				if res.Counts[c] != n {
					t.Errorf("counts[%s] = %d, want %d (all: %v)", c, res.Counts[c], n, res.Counts)
				}
			}
			if res.File != "sandbox_"+date+".csv" && !strings.Contains(res.File, date) {
				t.Errorf("statement file name %q", res.File)
			}
			byClass := map[string][]reconItemJSON{}
			for _, it := range res.Items {
				byClass[it.Class] = append(byClass[it.Class], it)
			}
			check := func(class, id string) {
				t.Helper()
				for _, it := range byClass[class] {
					if it.PaymentID == id || it.RefundID == id {
						return
					}
				}
				t.Errorf("no %s item for %s: %+v", class, id, byClass[class])
			}
			check("missing_channel", pays[0].ID)
			check("amount_mismatch", pays[1].ID)
			check("fee_mismatch", pays[2].ID)
			check("fee_mismatch", rf.ID)
			check("duplicate", pays[3].ID)
			check("missing_internal", "pay_phantom")
			for _, id := range []string{pays[4].ID, pays[5].ID, pays[6].ID, pays[3].ID} {
				if ra, err := s.ReconciledAt(ctx, false, id); err != nil || ra == nil {
					t.Errorf("%s not reconciled: %v", id, err)
				}
			}
			for _, id := range []string{pays[0].ID, pays[1].ID, pays[2].ID} {
				if ra, _ := s.ReconciledAt(ctx, false, id); ra != nil {
					t.Errorf("%s reconciled despite its discrepancy", id)
				}
			}
		})
	}
}
