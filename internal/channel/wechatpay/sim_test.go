package wechatpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/statement"
)

var ctx = context.Background()

// rig is a simulator on loopback, an adapter pointed at it, and a callback receiver that feeds
// the adapter's ParseCallback (as the gateway's notify endpoint does).
type rig struct {
	sim  *Simulator
	srv  *httptest.Server
	ch   *Channel
	keys SimOptions
	dir  string

	notify string

	mu        sync.Mutex
	callbacks []channel.Callback
	rejected  []error
	ackOK     bool
}

func newRig(t *testing.T, core sandbox.Options) *rig {
	t.Helper()
	r := &rig{dir: t.TempDir(), ackOK: true}
	if _, err := Keygen(r.dir, sandbox.KeygenInput{}); err != nil {
		t.Fatal(err)
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		cb, err := r.ch.ParseCallback(req.Header, body)
		r.mu.Lock()
		ok := r.ackOK
		if err != nil {
			r.rejected = append(r.rejected, err)
		} else {
			r.callbacks = append(r.callbacks, cb)
		}
		r.mu.Unlock()
		r.ch.CallbackAck(w, err == nil && ok)
	}))
	t.Cleanup(recv.Close)
	if core.CallbackScale == 0 {
		core.CallbackScale = 0.001
	}
	if core.RefundDelay == 0 {
		core.RefundDelay = 20 * time.Millisecond
	}
	o := SimOptions{Core: core}
	if err := LoadSimulatorKeys(r.dir, &o); err != nil {
		t.Fatal(err)
	}
	r.keys = o
	sim, err := NewSimulator(o)
	if err != nil {
		t.Fatal(err)
	}
	r.sim = sim
	r.srv = httptest.NewServer(sim.Handler())
	t.Cleanup(r.srv.Close)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sim.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	r.ch = r.adapter(t, nil)
	r.notify = recv.URL + "/v1/channels/wxpay/notify"
	return r
}

// adapter builds an adapter from the key directory; mod may change its config.
func (r *rig) adapter(t *testing.T, mod func(*Config)) *Channel {
	t.Helper()
	mk, err := ReadPrivateKey(r.dir + "/" + FileMerchantKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ReadPublicKey(r.dir + "/" + FilePublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ReadAPIv3Key(r.dir + "/" + FileAPIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: "wxpay", BaseURL: r.srv.URL, MchID: r.keys.MchID, AppID: r.keys.AppID,
		MerchantSerialNo: r.keys.MerchantSerialNo, MerchantKey: mk, PublicKeyID: r.keys.PublicKeyID, PublicKey: pub,
		APIv3Key: key, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) got() ([]channel.Callback, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]channel.Callback(nil), r.callbacks...), append([]error(nil), r.rejected...)
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) pay(t *testing.T, id, method string, amount int64) (channel.PayResult, error) {
	t.Helper()
	return r.ch.Pay(ctx, channel.PayRequest{PaymentID: id, Amount: amount, Currency: "CNY", PayMethod: method,
		Subject: "Order " + id, NotifyURL: r.notify, ExpiresAt: time.Now().Add(15 * time.Minute),
		PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", PayerIP: "203.0.113.7"})
}

func tradeNoOf(t *testing.T, r *rig, id string) string {
	t.Helper()
	tr, ok := r.sim.Core().Trade(id)
	if !ok {
		t.Fatalf("simulator has no trade %s", id)
	}
	return tr.TradeNo
}

func TestNativePayCallbackQuery(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	res, err := r.pay(t, "pay_native_0001", "wallet_qr", 1234)
	if err != nil || res.Status != channel.StatusProcessing || res.NextAction == nil || res.NextAction.Type != "qr_code" ||
		!strings.HasPrefix(res.NextAction.QRCode, "weixin://wxpay/bizpayurl?pr=") {
		t.Fatalf("native: %+v %v", res, err)
	}
	q, err := r.ch.QueryPayment(ctx, "pay_native_0001")
	if err != nil || q.Status != channel.StatusProcessing {
		t.Fatalf("query before paying: %+v %v", q, err)
	}
	// The payer scans and pays at the cashier: a TRANSACTION.SUCCESS callback, decrypted and checked.
	if _, ok := r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_native_0001")); !ok {
		t.Fatal("cashier did not pay")
	}
	eventually(t, "payment callback", func() bool { cbs, _ := r.got(); return len(cbs) == 1 })
	cbs, rej := r.got()
	cb := cbs[0]
	if len(rej) != 0 || cb.Kind != channel.CallbackPayment || cb.Payment.PaymentID != "pay_native_0001" ||
		cb.Payment.Status != channel.StatusSucceeded || cb.Payment.Amount != 1234 || cb.Payment.ChannelTradeNo == "" || cb.Payment.PaidAt.IsZero() {
		t.Fatalf("callback %+v rejected %v", cb, rej)
	}
	q, err = r.ch.QueryPayment(ctx, "pay_native_0001")
	if err != nil || q.Status != channel.StatusSucceeded || q.ChannelTradeNo != cb.Payment.ChannelTradeNo || q.Amount != 1234 {
		t.Fatalf("query after paying: %+v %v", q, err)
	}
	// Not found is not final.
	q, err = r.ch.QueryPayment(ctx, "pay_never_sent01")
	if err != nil || q.Status != channel.StatusNotFound {
		t.Fatalf("unknown order: %+v %v", q, err)
	}
}

func TestJSAPIAndH5(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	res, err := r.pay(t, "pay_jsapi_00001", "wallet_jsapi", 500)
	if err != nil || res.NextAction == nil || res.NextAction.Type != "jsapi" || res.NextAction.JSAPI == nil {
		t.Fatalf("jsapi: %+v %v", res, err)
	}
	j := res.NextAction.JSAPI
	if j.AppID != r.keys.AppID || j.SignType != "RSA" || !strings.HasPrefix(j.Package, "prepay_id=wx") || j.TimeStamp == "" || len(j.NonceStr) != 32 {
		t.Fatalf("jsapi params %+v", j)
	}
	// The paySign verifies with the merchant's public key (what WeChat checks in the client).
	if err := Verify(r.keys.MerchantPublicKey, JSAPIMessage(j.AppID, j.TimeStamp, j.NonceStr, j.Package), j.PaySign); err != nil {
		t.Fatalf("paySign: %v", err)
	}
	if tr, _ := r.sim.Core().Trade("pay_jsapi_00001"); tr.Payer != "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" {
		t.Fatalf("openid not sent: %+v", tr)
	}
	res, err = r.pay(t, "pay_h5_000000001", "wallet_h5", 800)
	if err != nil || res.NextAction == nil || res.NextAction.Type != "redirect" || res.PayURL == "" || res.NextAction.URL != res.PayURL ||
		!strings.HasPrefix(res.PayURL, r.srv.URL+"/cashier/") {
		t.Fatalf("h5: %+v %v", res, err)
	}
	// The cashier page pays.
	resp, err := http.Post(res.PayURL, "application/x-www-form-urlencoded", strings.NewReader("action=pay"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("cashier: %v %v", resp, err)
	}
	resp.Body.Close()
	if q, err := r.ch.QueryPayment(ctx, "pay_h5_000000001"); err != nil || q.Status != channel.StatusSucceeded {
		t.Fatalf("h5 after cashier: %+v %v", q, err)
	}
	// Methods and inputs the adapter refuses without calling WeChat Pay.
	for _, tt := range []channel.PayRequest{
		{PaymentID: "pay_x_000001", Amount: 1, Currency: "CNY", PayMethod: "wallet_jsapi", NotifyURL: r.notify},
		{PaymentID: "pay_x_000002", Amount: 1, Currency: "CNY", PayMethod: "wallet_h5", NotifyURL: r.notify},
		{PaymentID: "pay_x_000003", Amount: 1, Currency: "CNY", PayMethod: "withhold", NotifyURL: r.notify},
		{PaymentID: "pay_x_000004", Amount: 1, Currency: "USD", PayMethod: "wallet_qr", NotifyURL: r.notify},
	} {
		if _, err := r.ch.Pay(ctx, tt); !errors.Is(err, channel.ErrDeclined) {
			t.Errorf("%+v: %v", tt, err)
		}
		if _, ok := r.sim.Core().Trade(tt.PaymentID); ok {
			t.Errorf("%s reached the simulator", tt.PaymentID)
		}
	}
}

// TestTradeErrorIsTheOutcome: an order WeChat Pay refuses as a trade (TRADE_ERROR, here the
// simulator's --failure-rate) is a failed result, not an error the gateway would fail over on.
func TestTradeErrorIsTheOutcome(t *testing.T) {
	r := newRig(t, sandbox.Options{FailureRate: 1})
	res, err := r.pay(t, "pay_declined_01", "wallet_qr", 100)
	if err != nil || res.Status != channel.StatusFailed || !strings.Contains(res.Reason, CodeTradeError) {
		t.Fatalf("decline: %+v %v", res, err)
	}
}

func TestBadRequestSignatureIsRefused(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	other, err := ParsePrivateKey(EncodePrivateKey(r.keys.PrivateKey)) // not the merchant's key
	if err != nil {
		t.Fatal(err)
	}
	bad := r.adapter(t, func(c *Config) { c.MerchantKey = other })
	_, err = bad.Pay(ctx, channel.PayRequest{PaymentID: "pay_badsig_001", Amount: 1, Currency: "CNY", PayMethod: "wallet_qr", NotifyURL: r.notify})
	var we *Error
	if !errors.As(err, &we) || we.Status != 401 || we.Code != CodeSignError || !errors.Is(err, channel.ErrDeclined) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, ok := r.sim.Core().Trade("pay_badsig_001"); ok {
		t.Fatal("a badly signed order was recorded")
	}
	// A request signed 6 minutes ago is refused too (and the refusal is signed).
	uri := PathByOutTrade + "pay_badsig_001?mchid=" + r.keys.MchID
	auth, _ := Authorization(r.ch.cfg.MerchantKey, r.keys.MchID, r.keys.MerchantSerialNo, "GET", uri, time.Now().Add(-6*time.Minute), Nonce(32), nil)
	req, _ := http.NewRequest("GET", r.srv.URL+uri, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := must(io.ReadAll(resp.Body))
	resp.Body.Close()
	if resp.StatusCode != 401 || !bytes.Contains(b, []byte(CodeSignError)) {
		t.Fatalf("stale signature: %d %s", resp.StatusCode, b)
	}
	if err := VerifyMessage(&r.keys.PrivateKey.PublicKey, r.keys.PublicKeyID, signedOf(resp.Header), b, time.Now()); err != nil {
		t.Fatalf("refusal not signed: %v", err)
	}
}

// TestForgedAnswersAreUnknown: an answer the WeChat Pay public key does not verify decides
// nothing: unsigned, signed by another key, a SIGNTEST probe, a stale timestamp, another
// serial — even a 2xx "success" or a 4xx "refusal" is an unknown outcome.
func TestForgedAnswersAreUnknown(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	other, _ := ParsePrivateKey(EncodePrivateKey(mustKey(t)))
	body := []byte(`{"code_url":"weixin://wxpay/bizpayurl?pr=forged"}`)
	sign := func(key *rsa.PrivateKey, ts time.Time, serial string, mangle func(string) string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			tss, nonce := strconvI(ts.Unix()), "n0nce"
			sig, _ := Sign(key, ResponseMessage(tss, nonce, body))
			if mangle != nil {
				sig = mangle(sig)
			}
			w.Header().Set(HeaderTimestamp, tss)
			w.Header().Set(HeaderNonce, nonce)
			w.Header().Set(HeaderSerial, serial)
			w.Header().Set(HeaderSignature, sig)
			w.Write(body)
		}
	}
	cases := map[string]http.HandlerFunc{
		"unsigned 200":   func(w http.ResponseWriter, _ *http.Request) { w.Write(body) },
		"other key":      sign(other, time.Now(), r.keys.PublicKeyID, nil),
		"SIGNTEST probe": sign(r.keys.PrivateKey, time.Now(), r.keys.PublicKeyID, func(s string) string { return "WECHATPAY/SIGNTEST/" + s }),
		"stale":          sign(r.keys.PrivateKey, time.Now().Add(-6*time.Minute), r.keys.PublicKeyID, nil),
		"other serial":   sign(r.keys.PrivateKey, time.Now(), "PUB_KEY_ID_0000", nil),
		"unsigned 400": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(400)
			w.Write([]byte(`{"code":"PARAM_ERROR","message":"forged refusal"}`))
		},
	}
	for name, h := range cases {
		fake := httptest.NewServer(h)
		c := r.adapter(t, func(c *Config) { c.BaseURL = fake.URL })
		_, err := c.Pay(ctx, channel.PayRequest{PaymentID: "pay_forged_001", Amount: 1, Currency: "CNY", PayMethod: "wallet_qr", NotifyURL: r.notify})
		if !errors.Is(err, channel.ErrUnknownOutcome) {
			t.Errorf("%s: %v, want unknown outcome", name, err)
		}
		fake.Close()
	}
	// The genuine answer through the same code path is accepted (the check can pass).
	good := httptest.NewServer(sign(r.keys.PrivateKey, time.Now(), r.keys.PublicKeyID, nil))
	defer good.Close()
	c := r.adapter(t, func(c *Config) { c.BaseURL = good.URL })
	if res, err := c.Pay(ctx, channel.PayRequest{PaymentID: "pay_forged_001", Amount: 1, Currency: "CNY", PayMethod: "wallet_qr", NotifyURL: r.notify}); err != nil || res.NextAction.QRCode != "weixin://wxpay/bizpayurl?pr=forged" {
		t.Fatalf("genuine answer: %+v %v", res, err)
	}
}

func TestUnknownOutcomesThenQuery(t *testing.T) {
	// 500 SYSTEM_ERROR after the order was recorded: unknown; the query finds it.
	r := newRig(t, sandbox.Options{SystemErrorRate: 1})
	_, err := r.pay(t, "pay_syserr_0001", "wallet_qr", 100)
	var we *Error
	if !errors.Is(err, channel.ErrUnknownOutcome) || !errors.As(err, &we) || we.Code != CodeSystemError {
		t.Fatalf("system error: %v", err)
	}
	if q, err := r.ch.QueryPayment(ctx, "pay_syserr_0001"); err != nil || q.Status != channel.StatusProcessing {
		t.Fatalf("query after system error: %+v %v", q, err)
	}
	// A hanging answer (timeout): unknown, and the order exists.
	r2 := newRig(t, sandbox.Options{TimeoutRate: 1, TimeoutHang: 3 * time.Second})
	short := r2.adapter(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	_, err = short.Pay(ctx, channel.PayRequest{PaymentID: "pay_timeout_001", Amount: 100, Currency: "CNY", PayMethod: "wallet_qr", NotifyURL: r2.notify})
	if !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("timeout: %v", err)
	}
	if q, err := r2.ch.QueryPayment(ctx, "pay_timeout_001"); err != nil || q.Status != channel.StatusProcessing {
		t.Fatalf("query after timeout: %+v %v", q, err)
	}
	// A connection refused before anything was sent is a definite failure (safe to fail over).
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	c := r.adapter(t, func(c *Config) { c.BaseURL = url })
	if _, err := c.Pay(ctx, channel.PayRequest{PaymentID: "pay_refused_001", Amount: 1, Currency: "CNY", PayMethod: "wallet_qr", NotifyURL: r.notify}); !errors.Is(err, channel.ErrDeclined) {
		t.Fatalf("connection refused: %v", err)
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   error
	}{
		{500, CodeSystemError, channel.ErrUnknownOutcome},
		{502, "SERVICE_UNAVAILABLE", channel.ErrUnknownOutcome},
		{202, "", channel.ErrUnknownOutcome},
		{429, CodeRateLimited, channel.ErrUnknownOutcome},
		{400, CodeSystemError, channel.ErrUnknownOutcome},
		{403, CodeOrderPaid, channel.ErrAlreadyPaid},
		{400, CodeOrderPaidAlt, channel.ErrAlreadyPaid},
		{400, CodeParamError, channel.ErrDeclined},
		{401, CodeSignError, channel.ErrDeclined},
		{403, CodeNotEnough, channel.ErrDeclined},
		{404, CodeOrderNotExist, channel.ErrDeclined},
	}
	for _, tt := range tests {
		if err := (&Error{Status: tt.status, Code: tt.code}); !errors.Is(err, tt.want) {
			t.Errorf("%d %s: %v, want %v", tt.status, tt.code, err, tt.want)
		}
	}
}

func TestOrderPaidResolvedByQuery(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	if _, err := r.pay(t, "pay_paid_000001", "wallet_qr", 300); err != nil {
		t.Fatal(err)
	}
	r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_paid_000001"))
	// A retry of the same order after it was paid: ORDERPAID, resolved by a query as success.
	res, err := r.pay(t, "pay_paid_000001", "wallet_qr", 300)
	if err != nil || res.Status != channel.StatusSucceeded || res.Amount != 300 {
		t.Fatalf("ORDERPAID: %+v %v", res, err)
	}
}

func TestClose(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	r.pay(t, "pay_close_00001", "wallet_qr", 100)
	if err := r.ch.ClosePayment(ctx, "pay_close_00001"); err != nil {
		t.Fatalf("close unpaid: %v", err)
	}
	if q, _ := r.ch.QueryPayment(ctx, "pay_close_00001"); q.Status != channel.StatusClosed {
		t.Fatalf("after close: %+v", q)
	}
	// A closed order cannot be placed again.
	if _, err := r.pay(t, "pay_close_00001", "wallet_qr", 100); !errors.Is(err, channel.ErrDeclined) {
		t.Fatalf("pay after close: %v", err)
	}
	r.pay(t, "pay_close_00002", "wallet_qr", 100)
	r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_close_00002"))
	if err := r.ch.ClosePayment(ctx, "pay_close_00002"); !errors.Is(err, channel.ErrAlreadyPaid) {
		t.Fatalf("close paid: %v", err)
	}
	// Never seen: closed (and a late prepay cannot create it).
	if err := r.ch.ClosePayment(ctx, "pay_close_00003"); err != nil {
		t.Fatalf("close unknown: %v", err)
	}
	if _, err := r.pay(t, "pay_close_00003", "wallet_qr", 100); err == nil {
		t.Fatal("a closed unknown order was created later")
	}
}

func TestRefundsAndCallbacks(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	r.pay(t, "pay_refund_0001", "wallet_qr", 1000)
	r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_refund_0001"))
	req := channel.RefundRequest{PaymentID: "pay_refund_0001", RefundID: "ref_refund_0001", PaymentAmount: 1000, Amount: 400,
		Currency: "CNY", Reason: "partial", NotifyURL: r.notify}
	res, err := r.ch.Refund(ctx, req)
	if err != nil || res.Status != channel.StatusProcessing || res.ChannelRefundNo == "" || res.Amount != 400 {
		t.Fatalf("refund: %+v %v", res, err)
	}
	// A retry reuses out_refund_no: the same refund, never a second one.
	again, err := r.ch.Refund(ctx, req)
	if err != nil || again.ChannelRefundNo != res.ChannelRefundNo {
		t.Fatalf("retry: %+v %v", again, err)
	}
	eventually(t, "refund callback", func() bool {
		cbs, _ := r.got()
		for _, cb := range cbs {
			if cb.Kind == channel.CallbackRefund && cb.Refund.RefundID == "ref_refund_0001" {
				return cb.Refund.Status == channel.StatusSucceeded && cb.Refund.Amount == 400 && !cb.Refund.SucceededAt.IsZero()
			}
		}
		return false
	})
	if q, err := r.ch.QueryRefund(ctx, "ref_refund_0001"); err != nil || q.Status != channel.StatusSucceeded || q.ChannelRefundNo != res.ChannelRefundNo {
		t.Fatalf("refund query: %+v %v", q, err)
	}
	// The rest, then more than is left: refused, nothing executed.
	full := req
	full.RefundID, full.Amount = "ref_refund_0002", 600
	if _, err := r.ch.Refund(ctx, full); err != nil {
		t.Fatalf("full: %v", err)
	}
	over := req
	over.RefundID, over.Amount = "ref_refund_0003", 1
	if _, err := r.ch.Refund(ctx, over); !errors.Is(err, channel.ErrDeclined) {
		t.Fatalf("over-refund: %v", err)
	}
	if q, err := r.ch.QueryRefund(ctx, "ref_refund_0003"); err != nil || q.Status != channel.StatusNotFound {
		t.Fatalf("unknown refund: %+v %v", q, err)
	}
	if q, _ := r.ch.QueryPayment(ctx, "pay_refund_0001"); q.Status != channel.StatusSucceeded {
		t.Fatalf("refunded payment still paid at the channel: %+v", q)
	}
}

func TestCallbacksRetriedUntilAcknowledged(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	r.mu.Lock()
	r.ackOK = false
	r.mu.Unlock()
	r.pay(t, "pay_retry_00001", "wallet_qr", 100)
	r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_retry_00001"))
	eventually(t, "three attempts", func() bool { cbs, _ := r.got(); return len(cbs) >= 3 })
	r.mu.Lock()
	r.ackOK = true
	acked := len(r.callbacks) // attempts from here on are acknowledged
	r.mu.Unlock()
	eventually(t, "an acknowledged attempt", func() bool { return len(r.callbacksNow()) > acked })
	time.Sleep(100 * time.Millisecond) // an attempt already in flight may still land
	n := len(r.callbacksNow())
	time.Sleep(400 * time.Millisecond) // retries were 15, 15, 30, 180 ms apart: none may follow
	if len(r.callbacksNow()) != n {
		t.Fatal("callbacks continued after an acknowledgement")
	}
	if r.sim.Core().Pending() != 0 {
		t.Fatalf("%d callbacks still queued", r.sim.Core().Pending())
	}
}

func (r *rig) callbacksNow() []channel.Callback { cbs, _ := r.got(); return cbs }

// TestForgedCallbacksRefused: tampering with a genuine callback, or a callback for another
// merchant, is refused; the genuine one is accepted.
func TestForgedCallbacksRefused(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	var mu sync.Mutex
	var hdr http.Header
	var body []byte
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hdr, body = req.Header.Clone(), must(io.ReadAll(req.Body))
		w.WriteHeader(204)
	}))
	defer capture.Close()
	r.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_cbforge_001", Amount: 700, Currency: "CNY", PayMethod: "wallet_qr",
		NotifyURL: capture.URL + "/n", ExpiresAt: time.Now().Add(time.Hour)})
	r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_cbforge_001"))
	eventually(t, "callback", func() bool { mu.Lock(); defer mu.Unlock(); return body != nil })
	cb, err := r.ch.ParseCallback(hdr, body)
	if err != nil || cb.Payment.Amount != 700 {
		t.Fatalf("genuine callback: %+v %v", cb, err)
	}
	tampered := bytes.Replace(body, []byte(`"TRANSACTION.SUCCESS"`), []byte(`"TRANSACTION.SUCCESX"`), 1)
	probe := hdr.Clone()
	probe.Set(HeaderSignature, "WECHATPAY/SIGNTEST/"+hdr.Get(HeaderSignature))
	stale := hdr.Clone()
	stale.Set(HeaderTimestamp, strconvI(time.Now().Add(-10*time.Minute).Unix()))
	noSig := hdr.Clone()
	noSig.Del(HeaderSignature)
	for name, c := range map[string]struct {
		h http.Header
		b []byte
	}{"tampered body": {hdr, tampered}, "SIGNTEST": {probe, body}, "stale": {stale, body}, "unsigned": {noSig, body}} {
		if _, err := r.ch.ParseCallback(c.h, c.b); !errors.Is(err, channel.ErrBadCallback) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Signed and encrypted correctly, but for another merchant: refused after decryption.
	other := r.adapter(t, func(c *Config) { c.MchID = "1900000999" })
	if _, err := other.ParseCallback(hdr, body); !errors.Is(err, channel.ErrBadCallback) || !strings.Contains(err.Error(), "not ours") {
		t.Fatalf("other mchid: %v", err)
	}
	// Encrypted under another APIv3 key: refused.
	wrongKey := r.adapter(t, func(c *Config) { c.APIv3Key = []byte(strings.Repeat("x", 32)) })
	if _, err := wrongKey.ParseCallback(hdr, body); !errors.Is(err, channel.ErrBadCallback) {
		t.Fatalf("other APIv3 key: %v", err)
	}
}

func TestTradeBillDownloadAndRead(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	for i, amt := range []int64{1000, 2500} {
		id := "pay_bill_00000" + strconvI(int64(i))
		r.pay(t, id, "wallet_qr", amt)
		r.sim.Core().PayTrade(tradeNoOf(t, r, id))
	}
	r.ch.Refund(ctx, channel.RefundRequest{PaymentID: "pay_bill_000000", RefundID: "ref_bill_000001", PaymentAmount: 1000, Amount: 300, Currency: "CNY", NotifyURL: r.notify})
	eventually(t, "refund", func() bool {
		q, _ := r.ch.QueryRefund(ctx, "ref_bill_000001")
		return q.Status == channel.StatusSucceeded
	})
	r.sim.Core().Inject(sandbox.Injection{Kind: sandbox.InjectAmount, OutTradeNo: "pay_bill_000001", Delta: 5})
	date := time.Now().In(china).Format(time.DateOnly)
	name, body, err := r.ch.Statement(ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	raw := must(io.ReadAll(body))
	tmp := body.(*tempFile).Name()
	body.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the bill's temporary file %s was not removed: %v", tmp, err)
	}
	if !strings.HasSuffix(name, date+"_ALL.csv") {
		t.Fatalf("name %s", name)
	}
	rows := readBill(t, raw)
	if len(rows) != 3 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	amounts := map[string]int64{}
	for _, row := range rows {
		amounts[row.OutTradeNo+"/"+row.OutRefundNo] = row.Amount
	}
	if amounts["pay_bill_000000/"] != 1000 || amounts["pay_bill_000001/"] != 2505 || amounts["pay_bill_000000/ref_bill_000001"] != 300 {
		t.Fatalf("amounts %v", amounts)
	}
	// A future date has no bill yet.
	if _, _, err := r.ch.Statement(ctx, time.Now().AddDate(0, 0, 3).Format(time.DateOnly)); !errors.Is(err, channel.ErrNoStatement) {
		t.Fatalf("future bill: %v", err)
	}
}

func TestTradeBillIntegrity(t *testing.T) {
	r := newRig(t, sandbox.Options{})
	r.pay(t, "pay_billint_001", "wallet_qr", 100)
	r.sim.Core().PayTrade(tradeNoOf(t, r, "pay_billint_001"))
	date := time.Now().In(china).Format(time.DateOnly)
	// A proxy that alters the downloaded file: the SHA1 check refuses it.
	inner := r.sim.Handler()
	alter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != PathBillFile {
			inner.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, req)
		raw := must(gunzip(rec.Body.Bytes()))
		w.Write(gzipped(bytes.Replace(raw, []byte("1.00"), []byte("9.00"), 1)))
	}))
	defer alter.Close()
	c := r.adapter(t, func(c *Config) { c.BaseURL = alter.URL })
	if _, _, err := c.Statement(ctx, date); err == nil || !strings.Contains(err.Error(), "SHA1") {
		t.Fatalf("altered bill: %v", err)
	}
	// A download_url on another origin is not dialled.
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, req)
		b := bytes.Replace(rec.Body.Bytes(), []byte("127.0.0.1"), []byte("localhost"), 1)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		// Re-sign so only the origin check can refuse it.
		r.sim.signHeaders(w.Header(), b)
		w.Header().Set("Content-Length", strconvI(int64(len(b))))
		w.Write(b)
	}))
	defer elsewhere.Close()
	c = r.adapter(t, func(c *Config) { c.BaseURL = elsewhere.URL })
	if _, _, err := c.Statement(ctx, date); err == nil || !strings.Contains(err.Error(), "download_url") {
		t.Fatalf("foreign download_url: %v", err)
	}
}

func readBill(t *testing.T, raw []byte) []statement.Row {
	t.Helper()
	rows, _, err := statement.ReadAll(statement.FormatWeChatPay, "bill.csv", bytes.NewReader(raw), statement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}
