package alipaysim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/statement"
)

const appID = "2021000000000001"

var (
	keysOnce       sync.Once
	appKey, aliKey *rsa.PrivateKey
	otherKey       *rsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&appKey, &aliKey, &otherKey} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
	})
}

// receiver is the gateway's notify endpoint played by the adapter itself: it verifies every
// notification and answers "success" unless told to fail the first attempts.
type receiver struct {
	ch       *alipay.Channel
	mu       sync.Mutex
	failLeft int
	got      []alipay.Notification
	attempts map[string]int
	rejected int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	n, err := r.ch.ParseNotification(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.rejected++
		r.ch.CallbackAck(w, false)
		return
	}
	r.attempts[n.NotifyID]++
	if r.failLeft > 0 {
		r.failLeft--
		r.ch.CallbackAck(w, false)
		return
	}
	r.got = append(r.got, n)
	r.ch.CallbackAck(w, true)
}

func (r *receiver) notes() []alipay.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alipay.Notification(nil), r.got...)
}

type env struct {
	sim     *Server
	simURL  string
	ch      *alipay.Channel
	recv    *receiver
	notify  string
	clockMu sync.Mutex
	now     time.Time
}

func (e *env) clock() time.Time { e.clockMu.Lock(); defer e.clockMu.Unlock(); return e.now }

func (e *env) advance(d time.Duration) { e.clockMu.Lock(); e.now = e.now.Add(d); e.clockMu.Unlock() }

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	keys(t)
	e := &env{now: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)} // 12:00 in Beijing
	o := Options{AppID: appID, AppPublicKey: &appKey.PublicKey, PrivateKey: aliKey, Clock: e.clock,
		NotifySchedule: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, Seed: 7}
	if mod != nil {
		mod(&o)
	}
	sim, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	e.sim, e.simURL = sim, ts.URL
	e.ch = e.adapter(t, appKey, &aliKey.PublicKey, 2*time.Second)
	e.recv = &receiver{ch: e.ch, attempts: map[string]int{}}
	rs := httptest.NewServer(e.recv)
	t.Cleanup(rs.Close)
	e.notify = rs.URL + "/v1/channels/alipay/notify"
	return e
}

func (e *env) adapter(t *testing.T, priv *rsa.PrivateKey, pub *rsa.PublicKey, timeout time.Duration) *alipay.Channel {
	t.Helper()
	ch, err := alipay.New(alipay.Config{Name: "alipay", GatewayURL: e.simURL + "/gateway.do", AppID: appID,
		PrivateKey: priv, PublicKey: pub, Timeout: timeout, Now: e.clock,
		RefundPayment: func(_ context.Context, rid string) (string, error) { return strings.SplitN(rid, "-", 2)[0], nil }})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func (e *env) payReq(id, method string, amount int64) channel.PayRequest {
	return channel.PayRequest{PaymentID: id, Amount: amount, Currency: "CNY", PayMethod: method, Subject: "Order " + id,
		NotifyURL: e.notify, ReturnURL: "https://merchant.example/done", ExpiresAt: e.clock().Add(15 * time.Minute)}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.PostForm(u, url.Values{"action": {"pay"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestPrecreateScanPayNotifyQuery(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, err := e.ch.Pay(ctx, e.payReq("pay_qr1", alipay.PayWalletQR, 8888))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != channel.StatusProcessing || res.NextAction == nil || res.NextAction.Type != paygw.NextActionQRCode ||
		!strings.HasPrefix(res.NextAction.QRCode, e.simURL+"/qr/") || res.PayURL != "" {
		t.Fatalf("precreate = %+v %+v", res, res.NextAction)
	}
	// Before the payer scans, Alipay has no trade: pending, not failed.
	q, err := e.ch.QueryPayment(ctx, "pay_qr1")
	if err != nil || q.Status != channel.StatusProcessing {
		t.Fatalf("query before scan = %+v, %v", q, err)
	}
	code, page := get(t, res.NextAction.QRCode)
	if code != 200 || !strings.Contains(page, "88.88") {
		t.Fatalf("scan: %d %s", code, page)
	}
	q, err = e.ch.QueryPayment(ctx, "pay_qr1")
	if err != nil || q.Status != channel.StatusProcessing || q.ChannelTradeNo == "" {
		t.Fatalf("query after scan = %+v, %v", q, err)
	}
	tradeNo := strings.TrimPrefix(res.NextAction.QRCode, e.simURL+"/qr/")
	if c := post(t, e.simURL+"/cashier/"+tradeNo); c != 200 {
		t.Fatalf("pay: %d", c)
	}
	eventually(t, "payment notification", func() bool { return len(e.recv.notes()) == 1 })
	n := e.recv.notes()[0]
	if n.Payment == nil || n.Payment.PaymentID != "pay_qr1" || n.Payment.Status != channel.StatusSucceeded ||
		n.Payment.Amount != 8888 || n.Payment.PaidAt.IsZero() || n.Payment.ChannelTradeNo != tradeNo {
		t.Fatalf("notification = %+v", n)
	}
	q, err = e.ch.QueryPayment(ctx, "pay_qr1")
	if err != nil || q.Status != channel.StatusSucceeded || q.Amount != 8888 || !q.PaidAt.Equal(n.Payment.PaidAt) {
		t.Fatalf("query after pay = %+v, %v", q, err)
	}
	// Paying again changes nothing.
	if c := post(t, e.simURL+"/cashier/"+tradeNo); c != http.StatusConflict {
		t.Fatalf("second pay: %d", c)
	}
	// Precreate again with the same out_trade_no: already paid -> the query's answer.
	again, err := e.ch.Pay(ctx, e.payReq("pay_qr1", alipay.PayWalletQR, 8888))
	if err == nil || !errors.Is(err, channel.ErrAlreadyPaid) {
		t.Fatalf("precreate of a paid trade = %+v, %v", again, err)
	}
}

func TestPageAndWapURLsAreSignedAndVerified(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AutoPay = 20 * time.Millisecond })
	ctx := context.Background()
	for _, tc := range []struct{ method, id, api, product string }{
		{alipay.PayWebPage, "pay_web1", alipay.MethodPagePay, "FAST_INSTANT_TRADE_PAY"},
		{alipay.PayWalletH5, "pay_h51", alipay.MethodWapPay, "QUICK_WAP_WAY"},
	} {
		res, err := e.ch.Pay(ctx, e.payReq(tc.id, tc.method, 1234))
		if err != nil {
			t.Fatal(err)
		}
		if res.NextAction == nil || res.NextAction.Type != paygw.NextActionRedirect || res.PayURL != res.NextAction.URL {
			t.Fatalf("%s: %+v", tc.method, res)
		}
		u, err := url.Parse(res.PayURL)
		if err != nil {
			t.Fatal(err)
		}
		v := u.Query()
		if v.Get("method") != tc.api || !strings.Contains(v.Get("biz_content"), tc.product) || v.Get("sign") == "" ||
			v.Get("notify_url") != e.notify || !strings.Contains(v.Get("biz_content"), `"time_expire":"2026-11-22 12:15:00"`) {
			t.Fatalf("%s URL params %v", tc.method, v)
		}
		// A payer (or anyone) changing the amount breaks the signature.
		bad := strings.Replace(res.PayURL, "12.34", "0.01", 1)
		if code, body := get(t, bad); code != http.StatusBadRequest || !strings.Contains(body, alipay.SubInvalidSignature) {
			t.Fatalf("tampered URL: %d %s", code, body)
		}
		if q, _ := e.ch.QueryPayment(ctx, tc.id); q.Status != channel.StatusProcessing {
			t.Fatalf("trade exists before the page opened: %+v", q)
		}
		if code, body := get(t, res.PayURL); code != 200 || !strings.Contains(body, "12.34") {
			t.Fatalf("page: %d %s", code, body)
		}
	}
	// Nobody opened the pages to pay: auto-pay did it, and both notifications came.
	eventually(t, "two notifications", func() bool { return len(e.recv.notes()) == 2 })
	for _, n := range e.recv.notes() {
		if n.Payment == nil || n.Payment.Status != channel.StatusSucceeded || n.Payment.Amount != 1234 {
			t.Fatalf("notification %+v", n)
		}
	}
}

func TestRequestSignatureChecked(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	wrong := e.adapter(t, otherKey, &aliKey.PublicKey, time.Second)
	_, err := wrong.Pay(ctx, e.payReq("pay_bad1", alipay.PayWalletQR, 100))
	if !errors.Is(err, channel.ErrDeclined) || !strings.Contains(err.Error(), alipay.SubInvalidSignature) {
		t.Fatalf("badly signed request: %v", err)
	}
	// Nothing was created: the right key sees no trade, and can create it.
	res, err := e.ch.Pay(ctx, e.payReq("pay_bad1", alipay.PayWalletQR, 100))
	if err != nil || res.Status != channel.StatusProcessing {
		t.Fatalf("good request after a bad one: %+v %v", res, err)
	}
	// An answer that does not verify with the configured Alipay key is not believed.
	forgedView := e.adapter(t, appKey, &otherKey.PublicKey, time.Second)
	if _, err := forgedView.QueryPayment(ctx, "pay_bad1"); !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("answer verified with the wrong key: %v", err)
	}
}

func TestNotificationRetriedOnScheduleUntilSuccess(t *testing.T) {
	e := newEnv(t, nil)
	e.recv.failLeft = 2
	ctx := context.Background()
	res, err := e.ch.Pay(ctx, e.payReq("pay_rt1", alipay.PayWalletQR, 500))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	post(t, e.simURL+"/cashier/"+strings.TrimPrefix(res.NextAction.QRCode, e.simURL+"/qr/"))
	eventually(t, "notification acknowledged", func() bool { return e.sim.Acknowledged() == 1 })
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Fatalf("3 attempts within %v: the schedule (10ms, 20ms) was not kept", el)
	}
	n := e.recv.notes()
	if len(n) != 1 || e.recv.attempts[n[0].NotifyID] != 3 {
		t.Fatalf("notes %d, attempts %v", len(n), e.recv.attempts)
	}
}

func TestDroppedNotificationsFoundByQuery(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DropNotifications = 1; o.AutoPay = time.Millisecond })
	ctx := context.Background()
	if _, err := e.ch.Pay(ctx, e.payReq("pay_drop1", alipay.PayWalletQR, 700)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "paid", func() bool {
		q, err := e.ch.QueryPayment(ctx, "pay_drop1")
		return err == nil && q.Status == channel.StatusSucceeded
	})
	time.Sleep(100 * time.Millisecond) // the whole (compressed) schedule
	if len(e.recv.notes()) != 0 || e.recv.rejected != 0 {
		t.Fatalf("a dropped notification arrived: %d", len(e.recv.notes()))
	}
}

func TestWithholdOnAgreementSignedAsynchronously(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	signURL, err := e.ch.SignURL("agr_1", e.notify, "")
	if err != nil {
		t.Fatal(err)
	}
	if a, err := e.ch.QueryAgreement(ctx, "agr_1"); err != nil || a.Status != channel.StatusProcessing {
		t.Fatalf("before the page: %+v %v", a, err)
	}
	if code, body := get(t, signURL); code != 200 || !strings.Contains(body, "TEMP") {
		t.Fatalf("sign page: %d %s", code, body)
	}
	if a, err := e.ch.QueryAgreement(ctx, "agr_1"); err != nil || a.Status != channel.StatusProcessing {
		t.Fatalf("TEMP: %+v %v", a, err)
	}
	// Withhold before the payer agreed: the agreement does not exist yet.
	r, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_w0", Amount: 100, Currency: "CNY", PayMethod: alipay.PayWithhold,
		Subject: "w", AgreementNo: "20250000000000"})
	if err != nil || r.Status != channel.StatusFailed || !strings.Contains(r.Reason, alipay.SubAgreementNotExist) {
		t.Fatalf("withhold without agreement: %+v %v", r, err)
	}
	if c := post(t, e.simURL+"/agreement/agr_1"); c != 200 {
		t.Fatalf("confirm: %d", c)
	}
	eventually(t, "dut_user_sign", func() bool { return len(e.recv.notes()) == 1 })
	n := e.recv.notes()[0]
	if n.NotifyType != alipay.NotifyAgreement || n.Agreement == nil || n.Agreement.AgreementID != "agr_1" ||
		n.Agreement.Status != channel.StatusSucceeded || n.Agreement.AgreementNo == "" {
		t.Fatalf("agreement notification %+v", n)
	}
	a, err := e.ch.QueryAgreement(ctx, "agr_1")
	if err != nil || a.Status != channel.StatusSucceeded || a.AgreementNo != n.Agreement.AgreementNo {
		t.Fatalf("NORMAL: %+v %v", a, err)
	}
	req := channel.PayRequest{PaymentID: "pay_w1", Amount: 2599, Currency: "CNY", PayMethod: alipay.PayWithhold,
		Subject: "monthly", AgreementNo: a.AgreementNo, NotifyURL: e.notify}
	r, err = e.ch.Pay(ctx, req)
	if err != nil || r.Status != channel.StatusSucceeded || r.Amount != 2599 || r.PaidAt.IsZero() || r.ChannelTradeNo == "" {
		t.Fatalf("withhold: %+v %v", r, err)
	}
	// A retry of the same out_trade_no: ACQ.TRADE_HAS_SUCCESS, resolved by query.
	r2, err := e.ch.Pay(ctx, req)
	if err != nil || r2.Status != channel.StatusSucceeded || r2.ChannelTradeNo != r.ChannelTradeNo {
		t.Fatalf("withhold retry: %+v %v", r2, err)
	}
	if err := e.ch.TerminateAgreement(ctx, a.AgreementNo); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.ch.QueryAgreement(ctx, "agr_1"); a.Status != channel.StatusClosed {
		t.Fatalf("after unsign: %+v", a)
	}
	req.PaymentID = "pay_w2"
	r, err = e.ch.Pay(ctx, req)
	if err != nil || r.Status != channel.StatusFailed || !strings.Contains(r.Reason, alipay.SubAgreementInvalid) {
		t.Fatalf("withhold on an unsigned agreement: %+v %v", r, err)
	}
}

func TestWithholdPayerDeclineIsTheOutcome(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.FailureRate = 1; o.AutoPay = time.Millisecond })
	ctx := context.Background()
	u, _ := e.ch.SignURL("agr_d", e.notify, "")
	get(t, u)
	var a alipay.Agreement
	eventually(t, "agreement signed", func() bool {
		a, _ = e.ch.QueryAgreement(ctx, "agr_d")
		return a.Status == channel.StatusSucceeded
	})
	r, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_dec", Amount: 100, Currency: "CNY", PayMethod: alipay.PayWithhold,
		Subject: "x", AgreementNo: a.AgreementNo})
	if err != nil || r.Status != channel.StatusFailed || !strings.Contains(r.Reason, alipay.SubBuyerBalance) {
		t.Fatalf("decline = %+v, %v (want a failed payment and no channel error)", r, err)
	}
}

func TestSystemErrorAndTimeoutAreUnknown(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ErrorRate = 1 })
	ctx := context.Background()
	_, err := e.ch.Pay(ctx, e.payReq("pay_se", alipay.PayWalletQR, 100))
	if !errors.Is(err, channel.ErrUnknownOutcome) || !strings.Contains(err.Error(), alipay.SubSystemError) {
		t.Fatalf("ACQ.SYSTEM_ERROR: %v", err)
	}
	e = newEnv(t, func(o *Options) { o.TimeoutRate = 1; o.TimeoutHang = 2 * time.Second })
	short := e.adapter(t, appKey, &aliKey.PublicKey, 150*time.Millisecond)
	_, err = short.Pay(ctx, e.payReq("pay_to", alipay.PayWalletQR, 100))
	if !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("timeout: %v", err)
	}
	// The trade was created all the same: scanning works, the query then finds it.
	e.sim.mu.Lock()
	tr := e.sim.trades["pay_to"]
	e.sim.mu.Unlock()
	if tr == nil {
		t.Fatal("timed-out precreate did not create the trade")
	}
}

func TestCloseRules(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// Never scanned: Alipay says TRADE_NOT_EXIST, which closes; a later scan cannot pay.
	res, _ := e.ch.Pay(ctx, e.payReq("pay_c1", alipay.PayWalletQR, 100))
	if err := e.ch.ClosePayment(ctx, "pay_c1"); err != nil {
		t.Fatalf("close unscanned: %v", err)
	}
	tradeNo := strings.TrimPrefix(res.NextAction.QRCode, e.simURL+"/qr/")
	if c := post(t, e.simURL+"/cashier/"+tradeNo); c != http.StatusConflict {
		t.Fatalf("paid a closed trade: %d", c)
	}
	// Scanned and waiting: closed.
	res, _ = e.ch.Pay(ctx, e.payReq("pay_c2", alipay.PayWalletQR, 100))
	get(t, res.NextAction.QRCode)
	if err := e.ch.ClosePayment(ctx, "pay_c2"); err != nil {
		t.Fatalf("close waiting: %v", err)
	}
	if q, _ := e.ch.QueryPayment(ctx, "pay_c2"); q.Status != channel.StatusClosed {
		t.Fatalf("closed trade queries %+v", q)
	}
	// Paid: ErrAlreadyPaid.
	res, _ = e.ch.Pay(ctx, e.payReq("pay_c3", alipay.PayWalletQR, 100))
	post(t, e.simURL+"/cashier/"+strings.TrimPrefix(res.NextAction.QRCode, e.simURL+"/qr/"))
	if err := e.ch.ClosePayment(ctx, "pay_c3"); !errors.Is(err, channel.ErrAlreadyPaid) {
		t.Fatalf("close paid: %v", err)
	}
	// Past time_expire an unpaid trade is closed by Alipay itself.
	res, _ = e.ch.Pay(ctx, e.payReq("pay_c4", alipay.PayWalletQR, 100))
	get(t, res.NextAction.QRCode)
	e.advance(16 * time.Minute)
	if q, _ := e.ch.QueryPayment(ctx, "pay_c4"); q.Status != channel.StatusClosed {
		t.Fatalf("expired trade queries %+v", q)
	}
}

func payQR(t *testing.T, e *env, id string, amount int64) string {
	t.Helper()
	res, err := e.ch.Pay(context.Background(), e.payReq(id, alipay.PayWalletQR, amount))
	if err != nil {
		t.Fatal(err)
	}
	tradeNo := strings.TrimPrefix(res.NextAction.QRCode, e.simURL+"/qr/")
	if c := post(t, e.simURL+"/cashier/"+tradeNo); c != 200 {
		t.Fatalf("pay %s: %d", id, c)
	}
	return tradeNo
}

func TestRefunds(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tradeNo := payQR(t, e, "pay_r1", 1000)
	rq := channel.RefundRequest{PaymentID: "pay_r1", ChannelTradeNo: tradeNo, RefundID: "pay_r1-ref1", Amount: 300, Currency: "CNY"}
	r, err := e.ch.Refund(ctx, rq)
	if err != nil || r.Status != channel.StatusSucceeded || r.SucceededAt.IsZero() || r.Amount != 300 {
		t.Fatalf("partial refund: %+v %v", r, err)
	}
	// The same out_request_no again: fund_change N, confirmed by fastpay.refund.query.
	r, err = e.ch.Refund(ctx, rq)
	if err != nil || r.Status != channel.StatusSucceeded || r.Amount != 300 {
		t.Fatalf("refund retry: %+v %v", r, err)
	}
	over := rq
	over.RefundID, over.Amount = "pay_r1-ref2", 701
	if r, err = e.ch.Refund(ctx, over); err != nil || r.Status != channel.StatusFailed {
		t.Fatalf("over-refund: %+v %v", r, err)
	}
	rest := rq
	rest.RefundID, rest.Amount = "pay_r1-ref3", 700
	if r, err = e.ch.Refund(ctx, rest); err != nil || r.Status != channel.StatusSucceeded {
		t.Fatalf("full refund: %+v %v", r, err)
	}
	// A fully refunded trade is TRADE_CLOSED with a payment date: it was paid.
	if q, _ := e.ch.QueryPayment(ctx, "pay_r1"); q.Status != channel.StatusSucceeded {
		t.Fatalf("refunded trade queries %+v", q)
	}
	if r, err = e.ch.QueryRefund(ctx, "pay_r1-ref3"); err != nil || r.Status != channel.StatusSucceeded || r.Amount != 700 {
		t.Fatalf("refund query: %+v %v", r, err)
	}
	if r, err = e.ch.QueryRefund(ctx, "pay_r1-none"); err != nil || r.Status != channel.StatusNotFound {
		t.Fatalf("unknown refund query: %+v %v", r, err)
	}
	// Refund notifications (payment + 2 refunds) carry out_biz_no.
	eventually(t, "3 notifications", func() bool { return len(e.recv.notes()) == 3 })
	var refunds int
	for _, n := range e.recv.notes() {
		if n.Refund != nil {
			refunds++
			if n.Refund.Status != channel.StatusSucceeded || !strings.HasPrefix(n.Refund.RefundID, "pay_r1-ref") {
				t.Fatalf("refund notification %+v", n.Refund)
			}
		}
	}
	if refunds != 2 {
		t.Fatalf("refund notifications = %d", refunds)
	}
}

func TestBillDownloadReadsAsAlipayZip(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	t1 := payQR(t, e, "pay_b1", 10000)
	payQR(t, e, "pay_b2", 2000)
	payQR(t, e, "pay_b3", 3000)
	if _, err := e.ch.Refund(ctx, channel.RefundRequest{PaymentID: "pay_b1", ChannelTradeNo: t1, RefundID: "pay_b1-r", Amount: 2500, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []sandbox.Injection{{Kind: sandbox.InjectDrop, OutTradeNo: "pay_b2"},
		{Kind: sandbox.InjectAmount, OutTradeNo: "pay_b3", Delta: 5}, {Kind: sandbox.InjectExtra, OutTradeNo: "phantom", Date: "2026-11-22", Amount: 777}} {
		inject(t, e, in)
	}
	name, rows := billRows(t, e, "2026-11-22")
	if name != "alipay_2026-11-22.zip" {
		t.Fatalf("name %s", name)
	}
	got := map[string]statement.Row{}
	for _, r := range rows {
		got[string(r.Kind)+":"+r.OutTradeNo] = r
	}
	if len(got) != 4 {
		t.Fatalf("rows %v", got)
	}
	if r := got["payment:pay_b1"]; r.Amount != 10000 || r.Fee != 60 || r.ChannelTradeNo != t1 {
		t.Fatalf("pay_b1 row %+v", r)
	}
	if r := got["refund:pay_b1"]; r.Amount != 2500 || r.Fee != 15 || r.OutRefundNo != "pay_b1-r" {
		t.Fatalf("refund row %+v", r)
	}
	if r := got["payment:pay_b3"]; r.Amount != 3005 {
		t.Fatalf("skewed row %+v", r)
	}
	if r := got["payment:phantom"]; r.Amount != 777 {
		t.Fatalf("extra row %+v", r)
	}
	// A date that has not begun has no bill.
	if _, _, err := e.ch.Statement(ctx, "2026-11-23"); !errors.Is(err, channel.ErrNoStatement) {
		t.Fatalf("future bill: %v", err)
	}
}

// Extras injected for one day under one out_trade_no share their time too (here with payments paid
// at that instant); the bill lists them by trade number, the same on every download (a sort on
// time and out_trade_no alone left their order to the sort algorithm once there were enough rows).
func TestBillOrdersTiedExtrasByTradeNo(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 20 { // paid at the extras' time (the clock stands at noon), read from a map
		payQR(t, e, fmt.Sprintf("pay_t%02d", i), 1000)
	}
	for i := range 40 {
		inject(t, e, sandbox.Injection{Kind: sandbox.InjectExtra, OutTradeNo: "phantom", Date: "2026-11-22", Amount: int64(100 + i)})
	}
	_, rows := billRows(t, e, "2026-11-22")
	var got []int64
	for _, r := range rows {
		if r.OutTradeNo == "phantom" {
			got = append(got, r.Amount)
		}
	}
	if len(got) != 40 {
		t.Fatalf("%d extra rows, want 40", len(got))
	}
	for i, a := range got {
		if a != int64(100+i) {
			t.Fatalf("row %d is the extra of amount %d; want the injections in trade-number order: %v", i, a, got)
		}
	}
}

// inject posts a bill fault to the simulator's /admin/inject.
func inject(t *testing.T, e *env, in sandbox.Injection) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(e.simURL+"/admin/inject", "application/json", bytes.NewReader(b))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("inject: %v %v", resp, err)
	}
	resp.Body.Close()
}

// billRows downloads the bill of date through the channel and reads all its rows.
func billRows(t *testing.T, e *env, date string) (name string, rows []statement.Row) {
	t.Helper()
	name, body, err := e.ch.Statement(context.Background(), date)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	rd, err := statement.Open(statement.FormatAlipay, name, body, statement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			return name, rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
}
