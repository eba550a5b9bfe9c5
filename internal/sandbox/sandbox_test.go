package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

func TestRedirectPayCashierCallback(t *testing.T) {
	e := newEnv(t, Options{})
	e.recv.failFirst.Store(2) // the gateway is "down" for two attempts: the sandbox must retry
	ctx := context.Background()
	res, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_1", Amount: 1234, Currency: "CNY",
		PayMethod: MethodWalletQR, Subject: `<b>Tea & "cake"</b>`, NotifyURL: e.recv.url,
		ReturnURL: "https://merchant.example/done"})
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if res.Status != channel.StatusProcessing || res.ChannelTradeNo == "" {
		t.Fatalf("Pay = %+v, want processing with a trade number", res)
	}
	if want := e.ts.URL + "/cashier/" + res.ChannelTradeNo; res.PayURL != want {
		t.Fatalf("PayURL = %q, want %q", res.PayURL, want)
	}

	page := get(t, res.PayURL, http.StatusOK)
	for _, want := range []string{`&lt;b&gt;Tea &amp; &#34;cake&#34;&lt;/b&gt;`, "12.34 CNY", `<form method="post"`} {
		if !strings.Contains(page, want) {
			t.Errorf("cashier page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<b>Tea") {
		t.Errorf("cashier page does not escape the subject")
	}

	resp, err := http.PostForm(res.PayURL, url.Values{"action": {"pay"}})
	if err != nil {
		t.Fatalf("POST cashier: %v", err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(done), "Paid") ||
		!strings.Contains(string(done), `href="https://merchant.example/done"`) {
		t.Fatalf("POST cashier = %d\n%s", resp.StatusCode, done)
	}

	cb := e.recv.next(t)
	if cb.Kind != channel.CallbackPayment || cb.Payment.PaymentID != "pay_1" ||
		cb.Payment.Status != channel.StatusSucceeded || cb.Payment.ChannelTradeNo != res.ChannelTradeNo ||
		cb.Payment.Fee != 4 || cb.Payment.PaidAt.IsZero() {
		t.Fatalf("callback = %+v", cb)
	}
	if n := e.recv.attempts.Load(); n != 3 {
		t.Errorf("callback attempts = %d, want 3 (two refused, one acknowledged)", n)
	}
	if n := e.recv.rejected.Load(); n != 0 {
		t.Errorf("%d callbacks failed verification", n)
	}

	q, err := e.ch.QueryPayment(ctx, "pay_1")
	if err != nil || q.Status != channel.StatusSucceeded || q.Fee != 4 {
		t.Fatalf("QueryPayment = %+v, %v", q, err)
	}
	// Paying again on the cashier does nothing and sends no second callback.
	get(t, res.PayURL, http.StatusOK)
	if resp, err := http.PostForm(res.PayURL, nil); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	eventually(t, "idle scheduler", func() bool { return e.srv.Pending() == 0 })
	if len(e.recv.got) != 0 {
		t.Errorf("a second callback arrived for one payment")
	}
	// Same out_trade_no again answers the existing trade.
	again, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_1", Amount: 1234, Currency: "CNY",
		PayMethod: MethodWalletQR, Subject: "again"})
	if err != nil || again.ChannelTradeNo != res.ChannelTradeNo || again.Status != channel.StatusSucceeded {
		t.Fatalf("Pay again = %+v, %v", again, err)
	}
	// ... but not with another amount.
	_, err = e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_1", Amount: 1, Currency: "CNY", PayMethod: MethodWalletQR})
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeConflict {
		t.Fatalf("Pay with another amount: %v, want conflict", err)
	}
	get(t, e.ts.URL+"/cashier/SBXnope", http.StatusNotFound)
}

func get(t *testing.T, u string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d, want %d: %s", u, resp.StatusCode, wantStatus, b)
	}
	return string(b)
}

func TestAutoPay(t *testing.T) {
	e := newEnv(t, Options{AutoPay: time.Millisecond})
	res, err := e.ch.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_auto", Amount: 100,
		Currency: "CNY", PayMethod: MethodOnlineBanking, NotifyURL: e.recv.url})
	if err != nil || res.Status != channel.StatusProcessing {
		t.Fatalf("Pay = %+v, %v", res, err)
	}
	if cb := e.recv.next(t); cb.Payment.PaymentID != "pay_auto" || cb.Payment.Status != channel.StatusSucceeded {
		t.Fatalf("callback = %+v", cb)
	}
}

func TestWithholdAgreement(t *testing.T) {
	e := newEnv(t, Options{})
	active := e.signAgreement(t, "agr_1")
	terminated := e.signAgreement(t, "agr_2")
	if err := e.ch.TerminateAgreement(context.Background(), terminated); err != nil {
		t.Fatalf("TerminateAgreement: %v", err)
	}
	if again := e.signAgreement(t, "agr_1"); again != active {
		t.Errorf("Sign is not idempotent: %s then %s", active, again)
	}
	tests := []struct {
		name      string
		agreement string
		wantErr   error
		wantCode  string
	}{
		{"active agreement", active, nil, ""},
		{"no agreement", "", channel.ErrDeclined, CodeAgreementInvalid},
		{"unknown agreement", "SBXA000", channel.ErrDeclined, CodeAgreementInvalid},
		{"terminated agreement", terminated, channel.ErrDeclined, CodeAgreementInvalid},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("pay_w%d", i)
			res, err := e.withhold(id, 1000, tt.agreement)
			if tt.wantErr == nil {
				if err != nil || res.Status != channel.StatusSucceeded || res.Fee != 3 || res.PaidAt.IsZero() {
					t.Fatalf("withhold = %+v, %v", res, err)
				}
				if cb := e.recv.next(t); cb.Payment.PaymentID != id {
					t.Fatalf("callback for %q, want %q", cb.Payment.PaymentID, id)
				}
				return
			}
			// A payer's decline is the payment's outcome: a failed result, not an error.
			if err != nil || res.Status != channel.StatusFailed || !strings.HasPrefix(res.Reason, tt.wantCode+":") {
				t.Fatalf("withhold = %+v, %v; want failed with reason %s", res, err, tt.wantCode)
			}
			q, err := e.ch.QueryPayment(context.Background(), id)
			if err != nil || q.Status != channel.StatusFailed {
				t.Fatalf("query after decline = %+v, %v", q, err)
			}
		})
	}
	if err := e.ch.TerminateAgreement(context.Background(), "SBXA404"); !errors.Is(err, channel.ErrDeclined) {
		t.Errorf("terminate unknown agreement: %v", err)
	}
	// Only masked account data is kept.
	e.srv.mu.Lock()
	state, _ := json.Marshal(e.srv.allRecordsLocked())
	e.srv.mu.Unlock()
	if strings.Contains(string(state), "6222020200112340123") || strings.Contains(string(state), "13812340000") {
		t.Errorf("state holds a full account or phone number: %s", state)
	}
	if !strings.Contains(string(state), "6222***********0123") || !strings.Contains(string(state), "138****0000") {
		t.Errorf("state lacks the masked account: %s", state)
	}
}

func TestSignRejectsBadPayerData(t *testing.T) {
	e := newEnv(t, Options{})
	for _, req := range []channel.SignRequest{
		{AgreementID: "a1", PayMethod: MethodWithhold, PayerName: "X", AccountNo: "12ab5678"},
		{AgreementID: "a2", PayMethod: MethodWalletQR, PayerName: "X", AccountNo: "12345678"},
		{AgreementID: "a3", PayMethod: MethodQuickPay, PayerName: "", AccountNo: "12345678"},
	} {
		if res, err := e.ch.Sign(context.Background(), req); err != nil || res.Status != channel.StatusFailed || res.Reason == "" {
			t.Errorf("Sign(%+v) = %+v, %v; want a failed result with a reason", req, res, err)
		}
	}
}

func TestRefunds(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	agr := e.signAgreement(t, "agr_r")
	pay, err := e.withhold("pay_r", 1000, agr) // fee round(1000 × 30 / 10000) = 3
	if err != nil || pay.Fee != 3 {
		t.Fatalf("withhold = %+v, %v", pay, err)
	}
	e.recv.next(t)

	refund := func(id string, amount int64) (channel.RefundResult, error) {
		return e.ch.Refund(ctx, channel.RefundRequest{PaymentID: "pay_r", ChannelTradeNo: pay.ChannelTradeNo,
			RefundID: id, Amount: amount, Currency: "CNY", NotifyURL: e.recv.url})
	}
	steps := []struct {
		id       string
		amount   int64
		wantCode string // error code, "" for success
		wantFee  int64
	}{
		{"ref_1", 333, "", 1},                // round(3 × 333 / 1000 = 0.999) = 1
		{"ref_2", 400, "", 1},                // round(1.2) = 1
		{"ref_3", 300, CodeExceedsAmount, 0}, // 733 + 300 > 1000
		{"ref_4", 0, CodeInvalidRequest, 0},
		{"ref_5", 267, "", 1}, // completes the full refund: returns 3 − 2 = 1
		{"ref_6", 1, CodeExceedsAmount, 0},
	}
	for _, st := range steps {
		res, err := refund(st.id, st.amount)
		if st.wantCode == CodeExceedsAmount {
			// An over-refund is the refund's outcome: a failed result, not an error.
			if err != nil || res.Status != channel.StatusFailed || !strings.HasPrefix(res.Reason, st.wantCode+":") {
				t.Fatalf("refund %s = %+v, %v; want failed with reason %s", st.id, res, err, st.wantCode)
			}
			continue
		}
		if st.wantCode != "" {
			var se *Error
			if !errors.Is(err, channel.ErrDeclined) || !errors.As(err, &se) || se.Code != st.wantCode {
				t.Fatalf("refund %s: %v, want %s", st.id, err, st.wantCode)
			}
			continue
		}
		if err != nil || res.Status != channel.StatusProcessing || res.ChannelRefundNo == "" {
			t.Fatalf("refund %s = %+v, %v", st.id, res, err)
		}
		e.srv.mu.Lock()
		fee := e.srv.refunds[st.id].Fee
		e.srv.mu.Unlock()
		if fee != st.wantFee {
			t.Errorf("refund %s fee = %d, want %d", st.id, fee, st.wantFee)
		}
		cb := e.recv.next(t)
		if cb.Kind != channel.CallbackRefund || cb.Refund.RefundID != st.id || cb.Refund.Status != channel.StatusSucceeded {
			t.Fatalf("refund callback = %+v", cb)
		}
		q, err := e.ch.QueryRefund(ctx, st.id)
		if err != nil || q.Status != channel.StatusSucceeded || q.SucceededAt.IsZero() || q.ChannelRefundNo != res.ChannelRefundNo {
			t.Fatalf("QueryRefund = %+v, %v", q, err)
		}
		// Idempotent on out_refund_no.
		again, err := refund(st.id, st.amount)
		if err != nil || again.ChannelRefundNo != res.ChannelRefundNo {
			t.Fatalf("refund %s again = %+v, %v", st.id, again, err)
		}
	}
	if _, err := refund("ref_1", 5); !errors.Is(err, channel.ErrDeclined) {
		t.Errorf("same out_refund_no with another amount: %v", err)
	}
	if q, err := e.ch.QueryRefund(ctx, "ref_404"); err != nil || q.Status != channel.StatusNotFound {
		t.Errorf("QueryRefund unknown = %+v, %v", q, err)
	}
	if q, _ := e.ch.QueryPayment(ctx, "pay_r"); q.Status != channel.StatusSucceeded {
		t.Errorf("refunded trade status = %s", q.Status)
	}
	// A refund of an unpaid trade is refused.
	if _, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_unpaid", Amount: 5, Currency: "CNY", PayMethod: MethodWalletQR}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ch.Refund(ctx, channel.RefundRequest{PaymentID: "pay_unpaid", RefundID: "ref_u", Amount: 5, Currency: "CNY"})
	if !errors.Is(err, channel.ErrDeclined) {
		t.Errorf("refund of unpaid trade: %v", err)
	}
}

func TestClosePayment(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	res, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_c", Amount: 100, Currency: "CNY", PayMethod: MethodWalletQR})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ch.ClosePayment(ctx, "pay_c"); err != nil {
		t.Fatalf("close unpaid: %v", err)
	}
	resp, err := http.PostForm(res.PayURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("paying a closed trade = %d, want 409", resp.StatusCode)
	}
	if q, _ := e.ch.QueryPayment(ctx, "pay_c"); q.Status != channel.StatusClosed {
		t.Errorf("closed trade status = %s", q.Status)
	}

	agr := e.signAgreement(t, "agr_c")
	if _, err := e.withhold("pay_paid", 100, agr); err != nil {
		t.Fatal(err)
	}
	if err := e.ch.ClosePayment(ctx, "pay_paid"); !errors.Is(err, channel.ErrAlreadyPaid) {
		t.Errorf("close paid: %v, want ErrAlreadyPaid", err)
	}

	// Closing an id never seen blocks it: a late pay request cannot charge the payer.
	if err := e.ch.ClosePayment(ctx, "pay_late"); err != nil {
		t.Fatalf("close unknown: %v", err)
	}
	late, err := e.withhold("pay_late", 100, agr)
	if err != nil || late.Status != channel.StatusClosed {
		t.Errorf("pay after close = %+v, %v", late, err)
	}
	if q, _ := e.ch.QueryPayment(ctx, "pay_none"); q.Status != channel.StatusNotFound {
		t.Errorf("query unknown = %s, want not_found", q.Status)
	}
}

func TestExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Clock: clock.Now})
	ctx := context.Background()
	res, err := e.ch.Pay(ctx, channel.PayRequest{PaymentID: "pay_x", Amount: 100, Currency: "CNY",
		PayMethod: MethodWalletQR, ExpiresAt: clock.Now().Add(15 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().Add(time.Hour))
	if q, _ := e.ch.QueryPayment(ctx, "pay_x"); q.Status != channel.StatusClosed {
		t.Errorf("expired trade = %s, want closed", q.Status)
	}
	if !strings.Contains(get(t, res.PayURL, http.StatusOK), "closed") {
		t.Errorf("cashier of an expired trade does not say closed")
	}
}

// outcomes runs n withholds against a fresh sandbox and returns which were declined.
func outcomes(t *testing.T, opts Options, n int) string {
	e := newEnv(t, opts)
	agr := e.signAgreement(t, "agr_f")
	var b strings.Builder
	for i := range n {
		res, err := e.withhold(fmt.Sprintf("pay_f%03d", i), 100, agr)
		switch {
		case err == nil && res.Status == channel.StatusFailed:
			b.WriteByte('D')
		case err == nil:
			b.WriteByte('.')
		default:
			t.Fatalf("withhold %d: %v", i, err)
		}
	}
	return b.String()
}

func TestFaultsRepeatableWithSeed(t *testing.T) {
	opts := Options{Seed: 42, FailureRate: 0.3}
	a, b := outcomes(t, opts, 60), outcomes(t, opts, 60)
	if a != b {
		t.Fatalf("same seed, different outcomes:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, "D") || !strings.Contains(a, ".") {
		t.Fatalf("failure rate 0.3 gave %s", a)
	}
	opts.Seed = 43
	if c := outcomes(t, opts, 60); c == a {
		t.Errorf("another seed gave the same outcomes %s", c)
	}
}

func TestTimeoutIsUnknownOutcome(t *testing.T) {
	e := newEnv(t, Options{TimeoutRate: 1, TimeoutHang: time.Minute}, WithTimeout(100*time.Millisecond))
	agr := e.signAgreement(t, "agr_t")
	_, err := e.withhold("pay_t", 500, agr)
	if !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("withhold with timeout: %v, want ErrUnknownOutcome", err)
	}
	q, err := e.ch.QueryPayment(context.Background(), "pay_t")
	if err != nil || q.Status != channel.StatusSucceeded {
		t.Fatalf("query after timeout = %+v, %v: the sandbox executed it", q, err)
	}
	// A retry of the same id answers at once (only a new trade hangs).
	if res, err := e.withhold("pay_t", 500, agr); err != nil || res.Status != channel.StatusSucceeded {
		t.Fatalf("withhold again = %+v, %v", res, err)
	}
}

func TestUnreachableIsDefinite(t *testing.T) {
	ch, err := NewChannel("sandbox", "http://127.0.0.1:1", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.Pay(context.Background(), channel.PayRequest{PaymentID: "p", Amount: 1, Currency: "CNY", PayMethod: MethodWalletQR})
	if !errors.Is(err, channel.ErrDeclined) || errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("connection refused: %v, want declined (nothing was sent)", err)
	}
}

func TestDuplicateCallbacks(t *testing.T) {
	e := newEnv(t, Options{DuplicateCallbacks: 1})
	agr := e.signAgreement(t, "agr_d")
	if _, err := e.withhold("pay_d", 100, agr); err != nil {
		t.Fatal(err)
	}
	a, b := e.recv.next(t), e.recv.next(t)
	if a != b {
		t.Fatalf("duplicate differs: %+v vs %+v", a, b)
	}
}

func TestDropCallbacksThenRetry(t *testing.T) {
	e := newEnv(t, Options{DropCallbacks: 0.6, Seed: 7, CallbackMaxAttempts: 100})
	agr := e.signAgreement(t, "agr_dr")
	for i := range 5 {
		if _, err := e.withhold(fmt.Sprintf("pay_dr%d", i), 100, agr); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for range 5 {
		seen[e.recv.next(t).Payment.PaymentID] = true
	}
	if len(seen) != 5 {
		t.Fatalf("callbacks for %v, want all 5 payments", seen)
	}
}

func TestRequestSignatureRejected(t *testing.T) {
	e := newEnv(t, Options{})
	wrong, err := NewChannel("sandbox", e.ts.URL, "wrong-secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.QueryPayment(context.Background(), "pay_1")
	var se *Error
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || se.Code != CodeBadSignature {
		t.Fatalf("wrong secret: %v", err)
	}
	stale, err := NewChannel("sandbox", e.ts.URL, testSecret, withNow(func() time.Time { return time.Now().Add(-time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.QueryPayment(context.Background(), "pay_1"); !errors.As(err, &se) || se.Code != CodeBadSignature {
		t.Fatalf("stale timestamp: %v", err)
	}
	resp, err := http.Post(e.ts.URL+PathQueryPayment, "application/json", strings.NewReader(`{"out_trade_no":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned request = %d", resp.StatusCode)
	}
}

func TestCallbackSignatureRejected(t *testing.T) {
	ch, err := NewChannel("sandbox", "http://127.0.0.1:9", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"notify_id":"N1","notify_time":"2026-11-22T02:00:00Z","kind":"payment","trade":{"out_trade_no":"pay_1","trade_no":"SBX1","amount":1,"status":"succeeded","fee":0,"refunded_amount":0,"paid_at":"2026-11-22T02:00:00Z"}}`)
	signed := func(secret string, at time.Time, method string) http.Header {
		h := http.Header{}
		setSignature(h, []byte(secret), method, "", at, body)
		return h
	}
	if _, err := ch.ParseCallback(signed(testSecret, time.Now(), callbackMethod), body); err != nil {
		t.Fatalf("good callback: %v", err)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = '1'
	tests := []struct {
		name   string
		header http.Header
		body   []byte
	}{
		{"unsigned", http.Header{}, body},
		{"wrong secret", signed("other", time.Now(), callbackMethod), body},
		{"request signature reused", signed(testSecret, time.Now(), http.MethodPost), body},
		{"stale", signed(testSecret, time.Now().Add(-10*time.Minute), callbackMethod), body},
		{"tampered body", signed(testSecret, time.Now(), callbackMethod), tampered},
		{"not json", signed(testSecret, time.Now(), callbackMethod), []byte("nope")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if tt.name == "not json" {
				h = http.Header{}
				setSignature(h, []byte(testSecret), callbackMethod, "", time.Now(), tt.body)
			}
			if _, err := ch.ParseCallback(h, tt.body); !errors.Is(err, channel.ErrBadCallback) {
				t.Fatalf("ParseCallback: %v, want ErrBadCallback", err)
			}
		})
	}
}

func TestCallbackSignedWithOtherSecretIsRetried(t *testing.T) {
	e := newEnv(t, Options{Secret: "sandbox-has-another-secret", CallbackMaxAttempts: 2})
	e.srv.mu.Lock()
	e.srv.agreements["SBXA1"] = &agreement{AgreementNo: "SBXA1", OutAgreementNo: "a", PayMethod: MethodWithhold, Status: agreementActive}
	e.srv.mu.Unlock()
	other, err := NewChannel("sandbox", e.ts.URL, "sandbox-has-another-secret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_s", Amount: 1, Currency: "CNY",
		PayMethod: MethodWithhold, AgreementNo: "SBXA1", NotifyURL: e.recv.url}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two rejected attempts", func() bool { return e.recv.rejected.Load() == 2 })
	if len(e.recv.got) != 0 {
		t.Fatalf("a callback with a foreign signature was accepted")
	}
}

func TestPersistence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sandbox.json")
	clock := &fakeClock{t: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}
	opts := Options{Secret: testSecret, StateFile: file, Clock: clock.Now}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := newHTTPServer(t, srv)
	ch, _ := NewChannel("sandbox", ts.URL, testSecret)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	agr := (&env{ch: ch}).signAgreement(t, "agr_p")
	if _, err := ch.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_p", Amount: 1000, Currency: "CNY",
		PayMethod: MethodWithhold, AgreementNo: agr}); err != nil {
		t.Fatal(err)
	}
	want, err := srv.Statement("2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	srv2, err := NewServer(opts)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	got, err := srv2.Statement("2026-11-22")
	if err != nil || string(got) != string(want) || !strings.Contains(string(got), "pay_p") {
		t.Fatalf("statement after restart = %q, %v; want %q", got, err, want)
	}
	// Numbers keep counting after a restart.
	ts2 := newHTTPServer(t, srv2)
	ch2, _ := NewChannel("sandbox", ts2.URL, testSecret)
	res, err := ch2.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_p2", Amount: 1, Currency: "CNY",
		PayMethod: MethodWithhold, AgreementNo: agr})
	if err != nil || res.ChannelTradeNo != "SBX20261122000003" {
		t.Fatalf("pay after restart = %+v, %v", res, err)
	}

	// A torn last record (crash during an append) is ignored.
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"trade":{"out_trade_no":"pay_to`)
	f.Close()
	srv3, err := NewServer(opts)
	if err != nil {
		t.Fatalf("torn last record: %v", err)
	}
	if got, _ := srv3.Statement("2026-11-22"); string(got) != string(want) {
		t.Fatalf("statement after torn record = %q", got)
	}

	for _, bad := range []string{"nonsense\n", `{"trade":{"amount":1}}` + "\n", "{}\n"} {
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewServer(opts); err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "record 1") {
			t.Errorf("state file %q: %v, want an error naming the file and record", bad, err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no secret", Options{}, "secret"},
		{"bad rate", Options{Secret: "s", FailureRate: 1.5}, "failure rate"},
		{"NaN rate", Options{Secret: "s", DropCallbacks: nan()}, "drop callbacks"},
		{"negative latency", Options{Secret: "s", Latency: -1}, "latency"},
		{"fee", Options{Secret: "s", FeeRateBps: -1}, "fee rate"},
		{"gateway url", Options{Secret: "s", GatewayURL: "localhost:8080"}, "gateway url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
		})
	}
	o := Options{Secret: "s"}
	if err := o.Validate(); err != nil || o.FeeRateBps != 30 || o.Location == nil || o.Clock == nil {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestGatewayURLFallback(t *testing.T) {
	tests := []struct{ gateway, want string }{
		{"http://gw:8080", "http://gw:8080/v1/channels/sb2/notify"},
		{"http://gw:8080/", "http://gw:8080/v1/channels/sb2/notify"},
		{"http://gw:8080/custom/notify", "http://gw:8080/custom/notify"},
		{"", ""},
	}
	for _, tt := range tests {
		s, err := NewServer(Options{Secret: "s", GatewayURL: tt.gateway, ChannelName: "sb2"})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.notifyURL(""); got != tt.want {
			t.Errorf("notifyURL with gateway %q = %q, want %q", tt.gateway, got, tt.want)
		}
		if got := s.notifyURL("http://x/y"); got != "http://x/y" {
			t.Errorf("request notify url not preferred: %q", got)
		}
	}
}

func TestLatencyBeyondTimeoutIsUnknownOutcome(t *testing.T) {
	e := newEnv(t, Options{Latency: time.Minute}, WithTimeout(50*time.Millisecond))
	_, err := e.ch.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_l", Amount: 1, Currency: "CNY", PayMethod: MethodWalletQR})
	if !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("slow answer: %v, want ErrUnknownOutcome", err)
	}
	e.srv.mu.Lock()
	_, recorded := e.srv.trades["pay_l"]
	e.srv.mu.Unlock()
	if !recorded {
		t.Fatalf("the sandbox did not record the trade before its slow answer")
	}
}

func TestPublicURL(t *testing.T) {
	e := newEnv(t, Options{PublicURL: "https://sandbox.example/"})
	res, err := e.ch.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_u", Amount: 1, Currency: "CNY", PayMethod: MethodWalletQR})
	if err != nil || res.PayURL != "https://sandbox.example/cashier/"+res.ChannelTradeNo {
		t.Fatalf("Pay = %+v, %v", res, err)
	}
}
