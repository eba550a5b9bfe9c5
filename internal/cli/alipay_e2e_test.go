package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/channel/alipay/alipaysim"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/storetest"
)

// alipayE2E is a gateway on a real store with an alipay channel served by the simulator.
type alipayE2E struct {
	e       *gwtest.Env
	sim     *alipaysim.Server
	simURL  string
	keyDir  string
	chYAML  string
	mu      sync.Mutex
	gwShift time.Duration // added to the gateway's clock (expiry)
}

func (a *alipayE2E) shift(d time.Duration) { a.mu.Lock(); a.gwShift += d; a.mu.Unlock() }

func (a *alipayE2E) gwNow() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return time.Now().Add(a.gwShift)
}

func startAlipayE2E(t *testing.T, dsn string, clock func() time.Time) *alipayE2E {
	t.Helper()
	a := &alipayE2E{keyDir: t.TempDir()}
	// The key set the sandbox keygen writes; the simulator loads it as `--keys` does.
	ks, err := alipaysim.Keygen(a.keyDir, sandbox.KeygenInput{Channel: "alipay"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ks.GatewayConfig, "kind: alipay") || !strings.Contains(ks.GatewayConfig, filepath.Join(a.keyDir, "app_private_key.pem")) {
		t.Fatalf("keygen printed %s", ks.GatewayConfig)
	}
	so := alipaysim.Options{Clock: clock, NotifySchedule: []time.Duration{30 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond},
		TimeoutHang: 3 * time.Second, Seed: 11}
	if err := alipaysim.LoadKeys(a.keyDir, &so); err != nil {
		t.Fatal(err)
	}
	a.sim, err = alipaysim.NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.sim.Handler())
	t.Cleanup(func() { ts.Close(); a.sim.Close() })
	a.simURL = ts.URL
	a.chYAML = fmt.Sprintf("  alipay:\n    kind: alipay\n    url: %s/gateway.do\n    app_id: \"2021000000000000\"\n"+
		"    app_private_key_file: %s\n    alipay_public_key_file: %s\n    fee_rate_bps: 60\n    timeout: 500ms\n"+
		"    breaker:\n      consecutive_failures: 3\n      open_for: 1m\n",
		ts.URL, filepath.Join(a.keyDir, "app_private_key.pem"), filepath.Join(a.keyDir, "alipay_public_key.pem"))
	routing := "routing:\n"
	for _, m := range []string{"wallet_qr", "wallet_h5", "web_page", "withhold"} {
		routing += "  " + m + ":\n    - {channel: alipay}\n"
	}
	a.e = gwtest.Start(t, storetest.OpenDSN(t, dsn), gwtest.Options{ExtraYAML: a.chYAML + routing, Now: a.gwNow,
		Sandbox: sandbox.Options{Clock: clock}})
	return a
}

var cashierForm = regexp.MustCompile(`action="/cashier/([0-9]+)"`)

// open plays the payer's browser on a redirect URL or a scanned QR code; it returns the trade_no.
func (a *alipayE2E) open(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := cashierForm.FindStringSubmatch(string(b))
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("open %s: %d %s", u, resp.StatusCode, b)
	}
	return m[1]
}

func (a *alipayE2E) pay(t *testing.T, tradeNo string) {
	t.Helper()
	resp, err := http.PostForm(a.simURL+"/cashier/"+tradeNo, url.Values{"action": {"pay"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pay %s: %v %v", tradeNo, resp, err)
	}
	resp.Body.Close()
}

func (a *alipayE2E) create(t *testing.T, body map[string]any) api.Payment {
	t.Helper()
	body["currency"] = "CNY"
	if body["subject"] == nil {
		body["subject"] = "alipay e2e"
	}
	p, st, err := a.e.Client.CreatePayment(context.Background(), body)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("create %v: %d %v", body, st, err)
	}
	return p
}

func (a *alipayE2E) status(t *testing.T, id string) api.Payment {
	t.Helper()
	p, err := a.e.Client.GetPayment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (a *alipayE2E) waitStatus(t *testing.T, id, want string) api.Payment {
	t.Helper()
	var p api.Payment
	gwtest.Eventually(t, 10*time.Second, id+" "+want, func() bool { p = a.status(t, id); return p.Status == want })
	return p
}

// postNotify sends a notification form to the gateway as Alipay would; it returns the body answered.
func (a *alipayE2E) postNotify(t *testing.T, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm(a.e.Server.URL+"/v1/channels/alipay/notify", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestAlipayEndToEnd(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	sh := time.FixedZone("Asia/Shanghai", 8*3600)
	const date = "2026-11-22"
	base, t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, sh), time.Now()
	clock := func() time.Time { return base.Add(time.Since(t0)) }
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			a := startAlipayE2E(t, dsn, clock)
			var paid []api.Payment

			// wallet_qr: a QR code to scan; the notification makes it succeed.
			qr := a.create(t, map[string]any{"out_trade_no": "QR1", "amount": 10000, "pay_method": "wallet_qr"})
			if qr.Status != "processing" || qr.NextAction == nil || qr.NextAction.Type != "qr_code" ||
				!strings.HasPrefix(qr.NextAction.QRCode, a.simURL+"/qr/") || qr.Channel != "alipay" {
				t.Fatalf("wallet_qr payment %+v", qr)
			}
			a.pay(t, a.open(t, qr.NextAction.QRCode))
			p := a.waitStatus(t, qr.ID, "succeeded")
			if p.ChannelTradeNo == "" || p.PaidAt == nil {
				t.Fatalf("paid payment %+v", p)
			}
			paid = append(paid, p)

			// web_page and wallet_h5: signed redirect URLs (next_action redirect, pay_url the same).
			for i, m := range []string{"web_page", "wallet_h5"} {
				p := a.create(t, map[string]any{"out_trade_no": fmt.Sprintf("RD%d", i), "amount": 2000 + i, "pay_method": m,
					"return_url": "https://merchant.example/back", "client_ip": "198.51.100.7"})
				if p.NextAction == nil || p.NextAction.Type != "redirect" || p.PayURL != p.NextAction.URL ||
					!strings.HasPrefix(p.PayURL, a.simURL+"/gateway.do?") {
					t.Fatalf("%s payment %+v", m, p)
				}
				a.pay(t, a.open(t, p.PayURL))
				paid = append(paid, a.waitStatus(t, p.ID, "succeeded"))
			}

			// A forged notification (signed with the app's own key, not Alipay's) is refused and
			// changes nothing; so is a correctly signed one whose amount is not ours.
			fg := a.create(t, map[string]any{"out_trade_no": "FORGE1", "amount": 3000, "pay_method": "wallet_qr"})
			form := url.Values{"notify_id": {"N-forged"}, "notify_type": {"trade_status_sync"}, "app_id": {"2021000000000000"},
				"notify_time": {"2026-11-22 12:30:00"}, "out_trade_no": {fg.ID}, "trade_no": {"2026112299"},
				"trade_status": {"TRADE_SUCCESS"}, "total_amount": {"30.00"}, "gmt_payment": {"2026-11-22 12:29:00"}}
			if got := a.postNotify(t, signNote(t, filepath.Join(a.keyDir, alipaysim.FileAppKey), form)); got == "success" {
				t.Fatal("a forged notification was acknowledged")
			}
			form.Set("total_amount", "0.30")
			if got := a.postNotify(t, signNote(t, filepath.Join(a.keyDir, alipaysim.FileAlipayKey), form)); got == "success" {
				t.Fatal("a notification with another amount was acknowledged")
			}
			if p := a.status(t, fg.ID); p.Status != "processing" {
				t.Fatalf("forged notification changed the payment: %+v", p)
			}

			// A lost notification: the query at expiry finds the payment paid.
			if err := a.sim.SetFaults(alipaysim.Faults{DropNotifications: 1}); err != nil {
				t.Fatal(err)
			}
			lost := a.create(t, map[string]any{"out_trade_no": "LOST1", "amount": 4000, "pay_method": "wallet_qr", "expires_in": 60})
			a.pay(t, a.open(t, lost.NextAction.QRCode))
			time.Sleep(300 * time.Millisecond)
			if p := a.status(t, lost.ID); p.Status != "processing" {
				t.Fatalf("dropped notification arrived: %+v", p)
			}
			a.shift(61 * time.Second)
			a.e.Sweep(t, 5*time.Second, func() bool { return a.status(t, lost.ID).Status == "succeeded" })
			paid = append(paid, a.status(t, lost.ID))
			_ = a.sim.SetFaults(alipaysim.Faults{})

			// Close: an unscanned QR payment and a scanned one.
			for i, scan := range []bool{false, true} {
				c := a.create(t, map[string]any{"out_trade_no": fmt.Sprintf("CL%d", i), "amount": 500, "pay_method": "wallet_qr"})
				if scan {
					a.open(t, c.NextAction.QRCode)
				}
				var out api.Payment
				if st, err := a.e.Client.Do(ctx, "POST", "/v1/payments/"+c.ID+"/close", nil, &out); err != nil || st != 200 || out.Status != "closed" {
					t.Fatalf("close (scanned %v): %d %v %+v", scan, st, err, out)
				}
			}

			// Refunds: partial then the rest (out_request_no = our refund id); Alipay refunds synchronously.
			r1, st, err := a.e.Client.Refund(ctx, paid[0].ID, "QR1-R1", 3000)
			if err != nil || st != http.StatusCreated || r1.Status != "succeeded" {
				t.Fatalf("partial refund: %d %v %+v", st, err, r1)
			}
			r2, st, err := a.e.Client.Refund(ctx, paid[0].ID, "QR1-R2", 7000)
			if err != nil || st != http.StatusCreated || r2.Status != "succeeded" {
				t.Fatalf("full refund: %d %v %+v", st, err, r2)
			}
			if p := a.status(t, paid[0].ID); p.Status != "refunded" || p.RefundedAmount != 10000 {
				t.Fatalf("refunded payment %+v", p)
			}
			// The refund notifications that follow are duplicates of what is known: acknowledged, no change.
			time.Sleep(200 * time.Millisecond)

			// Withhold on an agreement the payer signs at Alipay, asynchronously.
			agr, err := a.e.Client.SignAgreement(ctx, "AGR1", "withhold", "Zhang San", "6222020200112233", "13800000000")
			if err != nil || agr.Status != "pending" || agr.NextAction == nil || agr.NextAction.Type != "redirect" ||
				!strings.HasPrefix(agr.NextAction.URL, a.simURL+"/gateway.do?") {
				t.Fatalf("sign agreement: %v %+v", err, agr)
			}
			w0, st, err := a.e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": "W0", "amount": 100, "currency": "CNY",
				"pay_method": "withhold", "subject": "w", "agreement_id": agr.ID})
			if err == nil && st < 300 {
				t.Fatalf("withhold on a pending agreement: %d %+v", st, w0)
			}
			resp, err := http.Get(agr.NextAction.URL)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("open sign page: %v %v", resp, err)
			}
			resp.Body.Close()
			resp, err = http.PostForm(a.simURL+"/agreement/"+agr.ID, nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("confirm agreement: %v %v", resp, err)
			}
			resp.Body.Close()
			gwtest.Eventually(t, 5*time.Second, "agreement active", func() bool {
				var got api.Agreement
				_, err := a.e.Client.Do(ctx, "GET", "/v1/agreements/"+agr.ID, nil, &got)
				return err == nil && got.Status == "active" && got.NextAction == nil
			})
			w1 := a.create(t, map[string]any{"out_trade_no": "W1", "amount": 2599, "pay_method": "withhold", "agreement_id": agr.ID})
			if w1.Status != "succeeded" || w1.Channel != "alipay" {
				t.Fatalf("withhold: %+v", w1)
			}
			paid = append(paid, w1)
			// A payer's decline fails the payment and does not trip the breaker (3 failures open it).
			_ = a.sim.SetFaults(alipaysim.Faults{FailureRate: 1})
			for i := range 4 {
				p := a.create(t, map[string]any{"out_trade_no": fmt.Sprintf("WD%d", i), "amount": 100, "pay_method": "withhold", "agreement_id": agr.ID})
				if p.Status != "failed" {
					t.Fatalf("declined withhold %d: %+v", i, p)
				}
			}
			if a.e.Gateway.Router().BreakerOpen("alipay") {
				t.Fatal("payer declines opened the breaker")
			}
			// A timeout (executed at Alipay, answer lost) is unknown, then resolved by query.
			_ = a.sim.SetFaults(alipaysim.Faults{TimeoutRate: 1, DropNotifications: 1}) // the notification would tell first
			wt := a.create(t, map[string]any{"out_trade_no": "WT", "amount": 3100, "pay_method": "withhold", "agreement_id": agr.ID})
			if wt.Status != "processing" {
				t.Fatalf("timed-out withhold: %+v", wt)
			}
			_ = a.sim.SetFaults(alipaysim.Faults{})
			a.e.Sweep(t, 5*time.Second, func() bool { return a.status(t, wt.ID).Status == "succeeded" })
			paid = append(paid, a.status(t, wt.ID))
			// An agreement whose notification is lost becomes active when the query says so.
			_ = a.sim.SetFaults(alipaysim.Faults{DropNotifications: 1})
			agr2, err := a.e.Client.SignAgreement(ctx, "AGR2", "withhold", "Li Si", "6222020200445566", "13900000000")
			if err != nil || agr2.NextAction == nil {
				t.Fatalf("sign agreement 2: %v %+v", err, agr2)
			}
			if resp, err = http.Get(agr2.NextAction.URL); err == nil {
				resp.Body.Close()
			}
			if resp, err = http.PostForm(a.simURL+"/agreement/"+agr2.ID, nil); err == nil {
				resp.Body.Close()
			}
			var got api.Agreement
			if _, err := a.e.Client.Do(ctx, "GET", "/v1/agreements/"+agr2.ID, nil, &got); err != nil || got.Status != "active" {
				t.Fatalf("agreement 2 after a lost notification: %v %+v", err, got)
			}
			_ = a.sim.SetFaults(alipaysim.Faults{})
			// Terminated here and at Alipay.
			if _, err := a.e.Client.Do(ctx, "DELETE", "/v1/agreements/"+agr2.ID, nil, &got); err != nil || got.Status != "terminated" {
				t.Fatalf("terminate: %v %+v", err, got)
			}

			// Bill: download through the adapter (no --file) and reconcile with injected discrepancies.
			for _, in := range []string{
				`{"kind":"drop","out_trade_no":"` + paid[1].ID + `"}`,
				`{"kind":"amount","out_trade_no":"` + paid[2].ID + `","delta":5}`,
				`{"kind":"fee","out_refund_no":"` + r1.ID + `","delta":2}`,
				`{"kind":"duplicate","out_trade_no":"` + paid[3].ID + `"}`,
				`{"kind":"extra","out_trade_no":"pay_phantom","date":"` + date + `","amount":777}`,
			} {
				resp, err := http.Post(a.simURL+"/admin/inject", "application/json", strings.NewReader(in))
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("inject %s: %v %v", in, resp, err)
				}
				resp.Body.Close()
			}
			dir := t.TempDir()
			cfg := writeConfig(t, "timezone: Asia/Shanghai\nchannels:\n"+a.chYAML+"reconcile:\n  out_dir: "+dir+"\n")
			code, out, errOut := reconCLI(t, dsn, cfg, "reconcile", "--channel", "alipay", "--date", date, "--json", "--fail-on-discrepancy")
			if code != ExitDiscrepancy {
				t.Fatalf("reconcile: exit %d, want 3: %s %s", code, out, errOut)
			}
			res := decodeJSON[reconcileJSON](t, out)
			// 6 payments + 2 refunds: paid[1] dropped, paid[2] amount, r1 fee, paid[3] duplicated
			// (its first row matches), one phantom; paid[0], paid[3], paid[4], paid[5], r2 match.
			want := map[string]int64{"matched": 5, "missing_internal": 1, "missing_channel": 1, "amount_mismatch": 1,
				"status_mismatch": 0, "fee_mismatch": 1, "duplicate": 1, "pending": 0}
			for c, n := range want {
				if res.Counts[c] != n {
					t.Errorf("counts[%s] = %d, want %d (all: %v)", c, res.Counts[c], n, res.Counts)
				}
			}
		})
	}
}

// signNote signs a notification form with the key in file, as Alipay signs (sign and sign_type excluded).
func signNote(t *testing.T, file string, f url.Values) url.Values {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	k, err := alipay.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{}
	for key, vs := range f {
		v[key] = append([]string(nil), vs...)
	}
	sig, err := alipay.SignRSA2(k, []byte(alipay.SignContent(v, "sign_type")))
	if err != nil {
		t.Fatal(err)
	}
	v.Set("sign_type", "RSA2")
	v.Set("sign", sig)
	return v
}
