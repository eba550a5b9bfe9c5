package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/channel/wechatpay"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/storetest"
)

// wxSim is a WeChat Pay simulator on loopback with its own fault flags.
type wxSim struct {
	sim *wechatpay.Simulator
	srv *httptest.Server
}

func startWxSim(t *testing.T, keys string, core sandbox.Options) wxSim {
	t.Helper()
	core.CallbackScale = 0.001 // 15s -> 15ms
	core.RefundDelay = 20 * time.Millisecond
	o := wechatpay.SimOptions{Core: core}
	if err := wechatpay.LoadSimulatorKeys(keys, &o); err != nil {
		t.Fatal(err)
	}
	sim, err := wechatpay.NewSimulator(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sim.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return wxSim{sim, srv}
}

func wxSection(name, url, keys, timeout string) string {
	return fmt.Sprintf(`  %s:
    kind: wechatpay
    url: %s
    mchid: "1900000109"
    appid: "wxd678efh567hg6787"
    merchant_serial_no: "%s"
    merchant_private_key_file: %s/apiclient_key.pem
    wechatpay_public_key_id: %s
    wechatpay_public_key_file: %s/pub_key.pem
    apiv3_key_file: %s/apiv3_key
    fee_rate_bps: 60
    timeout: %s
    breaker:
      consecutive_failures: 3
      open_for: 1m
`, name, url, readIDs(keys).MerchantSerialNo, keys, readIDs(keys).PublicKeyID, keys, keys, timeout)
}

func readIDs(dir string) wechatpay.IDs {
	var o wechatpay.SimOptions
	if err := wechatpay.LoadSimulatorKeys(dir, &o); err != nil {
		panic(err)
	}
	return wechatpay.IDs{MchID: o.MchID, AppID: o.AppID, MerchantSerialNo: o.MerchantSerialNo, PublicKeyID: o.PublicKeyID}
}

// TestWeChatPayEndToEnd runs the gateway with wechatpay channels on four simulators (healthy,
// losing every callback, hanging every order, declining every order), on both databases: every
// pay method, callbacks, a forged callback refused with no state change, a lost callback found by
// the early query, a timeout resolved as unknown then by query, declines that neither fail over
// nor trip the breaker, close, partial and full refunds with their callbacks, and the bill
// downloaded by `paygw reconcile --channel wxpay` (no --file) with injected discrepancies.
func TestWeChatPayEndToEnd(t *testing.T) {
	t.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			keys := t.TempDir()
			if _, err := wechatpay.Keygen(keys, sandbox.KeygenInput{}); err != nil {
				t.Fatal(err)
			}
			ok := startWxSim(t, keys, sandbox.Options{})
			lost := startWxSim(t, keys, sandbox.Options{DropCallbacks: 1})
			hang := startWxSim(t, keys, sandbox.Options{TimeoutRate: 1, TimeoutHang: 3 * time.Second})
			decline := startWxSim(t, keys, sandbox.Options{FailureRate: 1})
			extra := wxSection("wxpay", ok.srv.URL, keys, "2s") + wxSection("wxlost", lost.srv.URL, keys, "2s") +
				wxSection("wxhang", hang.srv.URL, keys, "300ms") + wxSection("wxdecline", decline.srv.URL, keys, "2s") +
				`routing:
  wallet_qr:
    - {channel: wxpay, max_amount: 99999}
    - {channel: wxlost, min_amount: 100000, max_amount: 199999}
    - {channel: wxhang, min_amount: 200000, max_amount: 299999}
    - {channel: wxdecline, min_amount: 300000, max_amount: 399999}
    - {channel: sandbox, min_amount: 300000, max_amount: 399999, priority: 1}
  wallet_h5: [{channel: wxpay}]
  wallet_jsapi: [{channel: wxpay}]
  withhold: [{channel: sandbox}]
`
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			e := gwtest.Start(t, s, gwtest.Options{ExtraYAML: extra})
			c := e.Client
			create := func(no string, amount int64, method string, more map[string]any) api.Payment {
				t.Helper()
				body := map[string]any{"out_trade_no": no, "amount": amount, "currency": "CNY", "pay_method": method, "subject": "订单 " + no}
				for k, v := range more {
					body[k] = v
				}
				p, st, err := c.CreatePayment(ctx, body)
				if err != nil || st != 201 {
					t.Fatalf("create %s: %d %v", no, st, err)
				}
				return p
			}
			get := func(id string) api.Payment {
				t.Helper()
				p, err := c.GetPayment(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			cashier := func(sim wxSim, tradeURL string) {
				t.Helper()
				resp, err := http.Post(tradeURL, "application/x-www-form-urlencoded", strings.NewReader("action=pay"))
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("cashier %s: %v %v", tradeURL, resp, err)
				}
				resp.Body.Close()
			}
			qrCashier := func(sim wxSim, p api.Payment) string {
				pr := strings.TrimPrefix(p.NextAction.QRCode, "weixin://wxpay/bizpayurl?pr=")
				return sim.srv.URL + "/cashier/" + pr
			}

			// Native: next_action qr_code, paid by scanning (the cashier), reported by callback.
			qr := create("WXQR1", 1000, "wallet_qr", nil)
			if qr.Status != "processing" || qr.Channel != "wxpay" || qr.NextAction == nil || qr.NextAction.Type != "qr_code" ||
				!strings.HasPrefix(qr.NextAction.QRCode, "weixin://wxpay/bizpayurl?pr=") || qr.PayURL != "" {
				t.Fatalf("native: %+v", qr)
			}
			cashier(ok, qrCashier(ok, qr))
			gwtest.Eventually(t, 5*time.Second, "native callback", func() bool { return get(qr.ID).Status == "succeeded" })
			if p := get(qr.ID); p.ChannelTradeNo == "" || p.PaidAt == nil || p.NextAction != nil {
				t.Fatalf("paid native: %+v", p)
			}

			// JSAPI: the openid is required and sent; next_action carries the signed parameters.
			if _, st, err := c.CreatePayment(ctx, map[string]any{"out_trade_no": "WXJS0", "amount": 100, "currency": "CNY", "pay_method": "wallet_jsapi"}); err == nil || st != 400 {
				t.Fatalf("jsapi without openid: %d %v", st, err)
			}
			js := create("WXJS1", 2000, "wallet_jsapi", map[string]any{"payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}})
			if js.NextAction == nil || js.NextAction.Type != "jsapi" || js.NextAction.JSAPI == nil ||
				!strings.HasPrefix(js.NextAction.JSAPI.Package, "prepay_id=wx") || js.NextAction.JSAPI.PaySign == "" {
				t.Fatalf("jsapi: %+v", js.NextAction)
			}
			if tr, _ := ok.sim.Core().Trade(js.ID); tr.Payer != "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" {
				t.Fatalf("openid did not reach the channel: %+v", tr)
			}
			ok.sim.Core().PayTrade(strings.TrimPrefix(js.NextAction.JSAPI.Package, "prepay_id=wx"))
			gwtest.Eventually(t, 5*time.Second, "jsapi callback", func() bool { return get(js.ID).Status == "succeeded" })

			// H5: redirect to h5_url; the payer's IP goes to the channel.
			h5 := create("WXH51", 3000, "wallet_h5", map[string]any{"client_ip": "203.0.113.9"})
			if h5.NextAction == nil || h5.NextAction.Type != "redirect" || h5.NextAction.URL != h5.PayURL || h5.PayURL == "" {
				t.Fatalf("h5: %+v", h5)
			}
			cashier(ok, h5.PayURL)
			gwtest.Eventually(t, 5*time.Second, "h5 callback", func() bool { return get(h5.ID).Status == "succeeded" })

			// A forged callback (tampered amount, or not signed by WeChat Pay) is answered with an
			// error and changes nothing.
			forged := create("WXFORGE", 4000, "wallet_qr", nil)
			code, ackBody := postForgedCallbacks(t, e.Server.URL+"/v1/channels/wxpay/notify", keys, forged.ID)
			if len(code) != 3 || code[0] != 500 || code[1] != 500 || code[2] != 500 || !strings.Contains(ackBody, `"code":"FAIL"`) {
				t.Fatalf("forged callbacks answered %v %s", code, ackBody)
			}
			if p := get(forged.ID); p.Status != "processing" {
				t.Fatalf("forged callback changed the payment: %+v", p)
			}

			// Lost callback: the channel never reaches us; the early query finds the payment paid.
			lp := create("WXLOST", 150000, "wallet_qr", nil)
			if lp.Channel != "wxlost" {
				t.Fatalf("routing: %+v", lp)
			}
			cashier(lost, qrCashier(lost, lp))
			e.Sweep(t, 5*time.Second, func() bool { return get(lp.ID).Status == "succeeded" })

			// Timeout: unknown outcome (processing, no failover), resolved by query once paid.
			tp := create("WXHANG", 250000, "wallet_qr", nil)
			if tp.Status != "processing" || tp.Channel != "wxhang" || tp.NextAction != nil {
				t.Fatalf("timeout: %+v", tp)
			}
			tr, found := hang.sim.Core().Trade(tp.ID)
			if !found {
				t.Fatal("the timed-out order is not at the channel")
			}
			hang.sim.Core().PayTrade(tr.TradeNo)
			e.Sweep(t, 5*time.Second, func() bool { return get(tp.ID).Status == "succeeded" })

			// Declines (403 TRADE_ERROR): the payment fails, without failing over to the
			// lower-priority sandbox route, and more declines than the breaker's threshold (3)
			// leave the breaker closed.
			for i := range 5 {
				p, st, err := c.CreatePayment(ctx, map[string]any{"out_trade_no": "WXDEC" + strconv.Itoa(i), "amount": 350000, "currency": "CNY", "pay_method": "wallet_qr"})
				if err != nil || p.Status != "failed" || p.Channel != "wxdecline" {
					t.Fatalf("decline %d: %d %v %+v", i, st, err, p)
				}
			}
			if e.Gateway.Router().BreakerOpen("wxdecline") {
				t.Fatal("declines tripped the breaker")
			}

			// Close an unpaid payment at WeChat Pay.
			cl := create("WXCLOSE", 500, "wallet_qr", nil)
			if _, err := c.Do(ctx, "POST", "/v1/payments/"+cl.ID+"/close", nil, &cl); err != nil || cl.Status != "closed" {
				t.Fatalf("close: %v %+v", err, cl)
			}
			if tr, _ := ok.sim.Core().Trade(cl.ID); tr.Status != "closed" {
				t.Fatalf("closed at paygw, not at the channel: %+v", tr)
			}

			// Refunds: partial then the rest, each completed by its callback.
			r1, st, err := c.Refund(ctx, qr.ID, "WXR1", 400)
			// processing, or already succeeded when the 20 ms refund and its callback beat the answer
			if err != nil || st != 201 || (r1.Status != "processing" && r1.Status != "succeeded") {
				t.Fatalf("refund 1: %d %v %+v", st, err, r1)
			}
			r2, st, err := c.Refund(ctx, qr.ID, "WXR2", 600)
			if err != nil || st != 201 {
				t.Fatalf("refund 2: %d %v %+v", st, err, r2)
			}
			for _, id := range []string{r1.ID, r2.ID} {
				gwtest.Eventually(t, 5*time.Second, "refund callback", func() bool {
					var r api.Refund
					_, err := c.Do(ctx, "GET", "/v1/refunds/"+id, nil, &r)
					return err == nil && r.Status == "succeeded" && r.ChannelRefundNo != ""
				})
			}
			if p := get(qr.ID); p.Status != "refunded" || p.RefundedAmount != 1000 {
				t.Fatalf("after refunds: %+v", p)
			}

			// Reconcile wxpay from the bill the adapter downloads, with injected discrepancies.
			ok.sim.Core().Inject(sandbox.Injection{Kind: sandbox.InjectAmount, OutTradeNo: js.ID, Delta: 1})
			ok.sim.Core().Inject(sandbox.Injection{Kind: sandbox.InjectDrop, OutTradeNo: h5.ID})
			ok.sim.Core().Inject(sandbox.Injection{Kind: sandbox.InjectExtra, Amount: 777})
			// Today's bill, so a payment collected within reconcile.pending_window of midnight
			// (Shanghai) would be pending, not missing: in the last half hour of the day the H5
			// payment the bill drops was. A window of a millisecond keeps the test off the clock.
			rcfg := *e.Config
			rcfg.Reconcile.PendingWindow = config.Duration(time.Millisecond)
			cfgPath := writeConfig(t, rcfg.String())
			date := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
			exit, out, stderr := reconCLI(t, dsn, cfgPath, "reconcile", "--channel", "wxpay", "--date", date, "--json", "--out", t.TempDir())
			if exit != 0 {
				t.Fatalf("reconcile exit %d: %s", exit, stderr)
			}
			var res struct {
				Counts map[string]int64 `json:"counts"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			// Bill: QR payment + its two refunds + JSAPI (amount +1) + phantom; H5 dropped.
			want := map[string]int64{"matched": 3, "amount_mismatch": 1, "missing_internal": 1, "missing_channel": 1,
				"status_mismatch": 0, "fee_mismatch": 0, "duplicate": 0, "pending": 0}
			for k, v := range want {
				if res.Counts[k] != v {
					t.Errorf("%s: %d, want %d (all: %v)", k, res.Counts[k], v, res.Counts)
				}
			}
		})
	}
}

// postForgedCallbacks posts three callbacks for paymentID that must all be refused: one signed
// by another key, one whose body was altered after signing, and one correctly signed and
// encrypted but with an amount that is not ours. It returns the statuses and the last body.
func postForgedCallbacks(t *testing.T, url, keys, paymentID string) ([]int, string) {
	t.Helper()
	var o wechatpay.SimOptions
	if err := wechatpay.LoadSimulatorKeys(keys, &o); err != nil {
		t.Fatal(err)
	}
	env := func(amount int64) []byte {
		tx := wechatpay.Transaction{AppID: o.AppID, MchID: o.MchID, OutTradeNo: paymentID, TransactionID: "4200009999",
			TradeType: "NATIVE", TradeState: "SUCCESS", SuccessTime: time.Now().Format(time.RFC3339),
			Amount: wechatpay.Amount{Total: amount, Currency: "CNY"}}
		pt, _ := json.Marshal(tx)
		ct, err := wechatpay.Encrypt(o.APIv3Key, "0123456789ab", "transaction", pt)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(wechatpay.Notification{ID: "f0rged", CreateTime: time.Now().Format(time.RFC3339), EventType: wechatpay.EventPaySuccess,
			ResourceType: "encrypt-resource", Resource: wechatpay.Resource{Algorithm: wechatpay.Algorithm, Ciphertext: ct,
				AssociatedData: "transaction", Nonce: "0123456789ab", OriginalType: "transaction"}})
		return b
	}
	post := func(body []byte, signWith func([]byte) string) (int, string) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set(wechatpay.HeaderTimestamp, ts)
		req.Header.Set(wechatpay.HeaderNonce, "n0nce")
		req.Header.Set(wechatpay.HeaderSerial, o.PublicKeyID)
		req.Header.Set(wechatpay.HeaderSignature, signWith(wechatpay.ResponseMessage(ts, "n0nce", body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	byWeChat := func(m []byte) string { s, _ := wechatpay.Sign(o.PrivateKey, m); return s }
	var codes []int
	var last string
	// 1. Signed by a key that is not WeChat Pay's (the merchant's own, here).
	merchant, err := wechatpay.ReadPrivateKey(keys + "/" + wechatpay.FileMerchantKey)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := post(env(4000), func(m []byte) string { s, _ := wechatpay.Sign(merchant, m); return s })
	codes = append(codes, st)
	// 2. Signed, then altered (the signature is over another body).
	good := env(4000)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := byWeChat(wechatpay.ResponseMessage(ts, "n0nce", good))
	st, _ = post(append(good[:len(good)-1:len(good)-1], []byte(` }`)...), func([]byte) string { return sig })
	codes = append(codes, st)
	// 3. Genuine in form, but for 1 fen more than the payment.
	st, last = post(env(4001), byWeChat)
	codes = append(codes, st)
	return codes, last
}
