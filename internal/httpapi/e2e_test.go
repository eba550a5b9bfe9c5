package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/client"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/sign"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var ctx = context.Background()

func withholdAgreement(t *testing.T, c *client.Client, outNo string) api.Agreement {
	t.Helper()
	a, err := c.SignAgreement(ctx, outNo, "withhold", "Zhang San", "6222021234560123", "13800000000")
	if err != nil {
		t.Fatalf("sign agreement: %v", err)
	}
	if a.Status != "active" || a.Payer.AccountNo != "6222********0123" || a.Payer.Phone != "138****0000" {
		t.Fatalf("agreement %+v", a)
	}
	return a
}

func withhold(t *testing.T, c *client.Client, outNo string, amount int64, agr string) api.Payment {
	t.Helper()
	p, st, err := c.CreatePayment(ctx, map[string]any{"out_trade_no": outNo, "amount": amount, "currency": "CNY",
		"pay_method": "withhold", "subject": "Order " + outNo, "agreement_id": agr})
	if err != nil || st != http.StatusCreated {
		t.Fatalf("withhold %s: %d %v", outNo, st, err)
	}
	return p
}

func apiCode(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%d %s", ae.Status, ae.Body.Code)
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func TestPaymentFlowsAndErrorCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{
			Sandbox:   sandbox.Options{AutoPay: 700 * time.Millisecond},
			ExtraYAML: "risk:\n  max_amount: 100000000\n  blocked_client_ips: [203.0.113.7]\nserver:\n  trusted_proxy_hops: 1\n",
		})
		c := e.Client
		agr := withholdAgreement(t, c, "AGR1")

		// Withhold succeeds synchronously, posts one capture journal.
		p := withhold(t, c, "W1", 1234, agr.ID)
		if p.Status != "succeeded" || p.PaidAt == nil || p.BusinessDate == nil || p.ChannelTradeNo == "" {
			t.Fatalf("withhold: %+v", p)
		}
		// Redirect payment: processing with a pay_url, then paid by the sandbox, reported by callback.
		rp, st, err := c.CreatePayment(ctx, map[string]any{"out_trade_no": "R1", "amount": 500, "currency": "CNY",
			"pay_method": "wallet_qr", "subject": "QR", "notify_url": "https://merchant.example/n"})
		if err != nil || st != 201 || rp.Status != "processing" || !strings.Contains(rp.PayURL, "/cashier/") {
			t.Fatalf("redirect: %d %v %+v", st, err, rp)
		}
		// next_action: the redirect to pay_url, as answered and as stored (read back before paid).
		if na := rp.NextAction; na == nil || na.Type != "redirect" || na.URL != rp.PayURL {
			t.Fatalf("redirect next_action: %+v", na)
		}
		if got, err := c.GetPayment(ctx, rp.ID); err != nil || got.Status == "processing" && (got.NextAction == nil || got.NextAction.URL != rp.PayURL) {
			t.Fatalf("stored next_action: %v %+v", err, got.NextAction)
		}
		if p.NextAction != nil {
			t.Fatalf("withhold has a next_action: %+v", p.NextAction)
		}
		gwtest.Eventually(t, 5*time.Second, "callback success", func() bool {
			got, _ := c.GetPayment(ctx, rp.ID)
			return got.Status == "succeeded"
		})
		if got, err := c.GetPayment(ctx, rp.ID); err != nil || got.Status != "succeeded" || got.NextAction != nil {
			t.Fatalf("paid payment: %v, status %s, next_action %+v; want succeeded without one", err, got.Status, got.NextAction)
		}
		// Query by out_trade_no.
		var byNo api.Payment
		if _, err := c.Do(ctx, "GET", "/v1/payments?out_trade_no=R1", nil, &byNo); err != nil || byNo.ID != rp.ID {
			t.Fatalf("by out_trade_no: %v %+v", err, byNo)
		}
		// Refund part, then query it until succeeded (async at the sandbox).
		// The sandbox finishes a refund 20 ms after accepting it and calls back; on a loaded machine
		// that callback can land before the handler re-reads the refund, so 201 may already say
		// succeeded.
		ref, st, err := c.Refund(ctx, p.ID, "RF1", 234)
		if err != nil || st != 201 || (ref.Status != "processing" && ref.Status != "succeeded") {
			t.Fatalf("refund: %d %v %+v", st, err, ref)
		}
		gwtest.Eventually(t, 5*time.Second, "refund callback", func() bool {
			var r api.Refund
			_, err := c.Do(ctx, "GET", "/v1/refunds/"+ref.ID, nil, &r)
			return err == nil && r.Status == "succeeded"
		})
		got, _ := c.GetPayment(ctx, p.ID)
		if got.Status != "partially_refunded" || got.RefundedAmount != 234 {
			t.Fatalf("after refund: %+v", got)
		}

		other, oc := e.NewMerchant(t, "Other", 30)
		_ = other
		body := func(m map[string]any) map[string]any {
			base := map[string]any{"out_trade_no": "E" + client.Nonce()[:8], "amount": 100, "currency": "CNY", "pay_method": "wallet_qr"}
			for k, v := range m {
				base[k] = v
			}
			return base
		}
		cases := []struct {
			name string
			do   func() error
			want string
		}{
			{"invalid_request", func() error { _, _, err := c.CreatePayment(ctx, body(map[string]any{"currency": "XXX"})); return err }, "400 invalid_request"},
			{"unknown field", func() error { _, _, err := c.CreatePayment(ctx, body(map[string]any{"amountt": 1})); return err }, "400 invalid_request"},
			{"invalid_amount zero", func() error { _, _, err := c.CreatePayment(ctx, body(map[string]any{"amount": 0})); return err }, "400 invalid_amount"},
			{"invalid_amount fraction", func() error { _, _, err := c.CreatePayment(ctx, body(map[string]any{"amount": 12.5})); return err }, "400 invalid_amount"},
			{"unsupported_pay_method", func() error {
				_, _, err := c.CreatePayment(ctx, body(map[string]any{"pay_method": "cash"}))
				return err
			}, "400 unsupported_pay_method"},
			{"risk_rejected", func() error { _, _, err := c.CreatePayment(ctx, body(map[string]any{"amount": 100000001})); return err }, "403 risk_rejected"},
			{"not_found other merchant", func() error { _, err := oc.GetPayment(ctx, p.ID); return err }, "404 not_found"},
			{"not_found unknown", func() error { _, err := c.GetPayment(ctx, "pay_nope"); return err }, "404 not_found"},
			{"idempotency_conflict", func() error {
				_, _, err := c.CreatePayment(ctx, map[string]any{"out_trade_no": "W1", "amount": 999, "currency": "CNY", "pay_method": "withhold", "agreement_id": agr.ID})
				return err
			}, "409 idempotency_conflict"},
			{"invalid_state close paid", func() error { _, err := c.Do(ctx, "POST", "/v1/payments/"+p.ID+"/close", nil, nil); return err }, "409 invalid_state"},
			{"refund_exceeds_amount", func() error { _, _, err := c.Refund(ctx, p.ID, "RF2", 1001); return err }, "422 refund_exceeds_amount"},
			{"invalid_state refund unpaid", func() error {
				q, _, _ := c.CreatePayment(ctx, body(nil))
				_, _, err := c.Refund(ctx, q.ID, "RF3", 1)
				return err
			}, "409 invalid_state"},
			{"invalid_signature", func() error {
				bad := *c
				bad.Secret = "wrong"
				_, err := bad.GetPayment(ctx, p.ID)
				return err
			}, "401 invalid_signature"},
			{"unknown_merchant", func() error {
				bad := *c
				bad.MerchantID = "mch_nobody"
				_, err := bad.GetPayment(ctx, p.ID)
				return err
			}, "401 unknown_merchant"},
			{"timestamp_out_of_window", func() error {
				bad := *c
				bad.Now = func() time.Time { return time.Now().Add(-301 * time.Second) }
				_, err := bad.GetPayment(ctx, p.ID)
				return err
			}, "401 timestamp_out_of_window"},
		}
		for _, tc := range cases {
			if got := apiCode(tc.do()); got != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
			}
		}
		// replayed_nonce: the same signed request twice.
		req, _ := c.Request(ctx, "GET", "/v1/payments/"+p.ID, nil)
		r1, _ := c.HTTP.Do(req)
		r1.Body.Close()
		req2, _ := http.NewRequest("GET", req.URL.String(), nil)
		req2.Header = req.Header.Clone()
		r2, _ := c.HTTP.Do(req2)
		var eb api.ErrorBody
		_ = json.NewDecoder(r2.Body).Decode(&eb)
		r2.Body.Close()
		if r1.StatusCode != 200 || r2.StatusCode != 401 || eb.Error.Code != "replayed_nonce" || eb.Error.RequestID == "" {
			t.Errorf("replay: %d then %d %+v", r1.StatusCode, r2.StatusCode, eb)
		}
		// The create path records its nonce in the payment's own transaction: a replayed POST is
		// still refused, whether it would create or find the payment, and whatever its body.
		for _, b := range []string{`{"out_trade_no":"NR1","amount":100,"currency":"CNY","pay_method":"wallet_qr"}`, `{bad json`} {
			preq, _ := c.Request(ctx, "POST", "/v1/payments", []byte(b))
			pr1, _ := c.HTTP.Do(preq)
			pr1.Body.Close()
			preq2, _ := http.NewRequest("POST", preq.URL.String(), strings.NewReader(b))
			preq2.Header = preq.Header.Clone()
			pr2, _ := c.HTTP.Do(preq2)
			var peb api.ErrorBody
			_ = json.NewDecoder(pr2.Body).Decode(&peb)
			pr2.Body.Close()
			if pr2.StatusCode != 401 || peb.Error.Code != "replayed_nonce" {
				t.Errorf("replayed POST %s: first %d, then %d %+v", b, pr1.StatusCode, pr2.StatusCode, peb)
			}
		}
		// 413 for a body over 64 KiB.
		big := `{"out_trade_no":"BIG","subject":"` + strings.Repeat("x", 70<<10) + `"}`
		if st, _, _ := c.Raw(ctx, "POST", "/v1/payments", []byte(big)); st != 413 {
			t.Errorf("big body: %d", st)
		}
		// risk: blocked client IP via X-Forwarded-For.
		b, _ := json.Marshal(body(nil))
		breq, _ := c.Request(ctx, "POST", "/v1/payments", b)
		breq.Header.Set("X-Forwarded-For", "203.0.113.7")
		bresp, _ := c.HTTP.Do(breq)
		if bresp.StatusCode != 403 {
			t.Errorf("blocked ip: %d", bresp.StatusCode)
		}
		bresp.Body.Close()
		// A client cannot hide behind its own X-Forwarded-For entries: with one trusted hop, the
		// right-most entry is the address the load balancer saw.
		breq2, _ := c.Request(ctx, "POST", "/v1/payments", b)
		breq2.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.7")
		bresp2, _ := c.HTTP.Do(breq2)
		if bresp2.StatusCode != 403 {
			t.Errorf("blocked ip behind a forged entry: %d", bresp2.StatusCode)
		}
		bresp2.Body.Close()
		// Terminated agreement refuses withhold.
		if _, err := c.Do(ctx, "DELETE", "/v1/agreements/"+agr.ID, nil, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.CreatePayment(ctx, map[string]any{"out_trade_no": "W9", "amount": 100, "currency": "CNY", "pay_method": "withhold", "agreement_id": agr.ID})
		if got := apiCode(err); got != "409 invalid_state" {
			t.Errorf("withhold on terminated agreement: %s", got)
		}
		// Ledger: one capture journal per succeeded payment.
		for _, id := range []string{p.ID, rp.ID} {
			if n, _ := s.JournalCount(ctx, ledger.KindCapture, id); n != 1 {
				t.Errorf("payment %s has %d capture journals", id, n)
			}
		}
	})
}

func TestConcurrentIdenticalCreates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{})
		agr := withholdAgreement(t, e.Client, "AGR-C")
		var wg sync.WaitGroup
		statuses := make([]int, 10)
		ids := make([]string, 10)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, st, err := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": "SAME", "amount": 700,
					"currency": "CNY", "pay_method": "withhold", "agreement_id": agr.ID})
				if err != nil {
					t.Errorf("create %d: %v", i, err)
				}
				statuses[i], ids[i] = st, p.ID
			}()
		}
		wg.Wait()
		created := 0
		for i, st := range statuses {
			if st == 201 {
				created++
			} else if st != 200 {
				t.Errorf("status %d", st)
			}
			if ids[i] != ids[0] {
				t.Errorf("different payment ids %s %s", ids[i], ids[0])
			}
		}
		if created != 1 {
			t.Fatalf("%d creates answered 201, want 1", created)
		}
		var n int
		_ = s.DB().GetContext(ctx, &n, s.Rebind("SELECT COUNT(*) FROM payments WHERE out_trade_no = ?"), "SAME")
		if n != 1 {
			t.Fatalf("%d payments stored", n)
		}
	})
}

func TestConcurrentRefundsNeverExceed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{})
		agr := withholdAgreement(t, e.Client, "AGR-R")
		p := withhold(t, e.Client, "PR", 1000, agr.ID)
		var wg sync.WaitGroup
		var mu sync.Mutex
		okCount, exceeded := 0, 0
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, st, err := e.Client.Refund(ctx, p.ID, fmt.Sprintf("RR%02d", i), 100)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && st == 201:
					okCount++
				case apiCode(err) == "422 refund_exceeds_amount":
					exceeded++
				default:
					t.Errorf("refund %d: %d %v", i, st, err)
				}
			}()
		}
		wg.Wait()
		if okCount != 10 || exceeded != 10 {
			t.Fatalf("%d refunds accepted, %d refused; want 10 and 10", okCount, exceeded)
		}
		gwtest.Eventually(t, 10*time.Second, "refunds to finish", func() bool {
			got, _ := e.Client.GetPayment(ctx, p.ID)
			return got.Status == "refunded" && got.RefundedAmount == 1000
		})
	})
}

func TestDuplicateAndOutOfOrderCallbacks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{Sandbox: sandbox.Options{AutoPay: 10 * time.Millisecond, DuplicateCallbacks: 1, Seed: 7}})
		p, _, err := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": "DUP", "amount": 300, "currency": "CNY", "pay_method": "online_banking"})
		if err != nil {
			t.Fatal(err)
		}
		gwtest.Eventually(t, 5*time.Second, "paid", func() bool {
			got, _ := e.Client.GetPayment(ctx, p.ID)
			return got.Status == "succeeded"
		})
		gwtest.Eventually(t, 5*time.Second, "the duplicate callback", func() bool {
			var n int
			_ = s.DB().GetContext(ctx, &n, s.Rebind("SELECT COUNT(*) FROM channel_attempts WHERE payment_id = ?"), p.ID)
			return e.Sandboxes["sandbox"].Pending() == 0
		})
		// An out-of-order "failed" or "closed" outcome after success changes nothing.
		for _, st := range []paygw.PaymentStatus{paygw.PaymentFailed, paygw.PaymentClosed, paygw.PaymentSucceeded} {
			got, changed, err := outcome.ApplyPayment(ctx, s, p.ID, outcome.Payment{Status: st}, time.Now(), e.Config.Location())
			if err != nil || changed || got.Status != paygw.PaymentSucceeded {
				t.Fatalf("late %s: changed=%v err=%v status=%s", st, changed, err, got.Status)
			}
		}
		if n, _ := s.JournalCount(ctx, ledger.KindCapture, p.ID); n != 1 {
			t.Fatalf("%d capture journals after duplicate callbacks", n)
		}
		var notes int
		_ = s.DB().GetContext(ctx, &notes, s.Rebind("SELECT COUNT(*) FROM notifications WHERE payment_id = ? AND type = 'payment.succeeded'"), p.ID)
		// No notify_url and no merchant default: nothing to deliver, so no row; with one, exactly one.
		if notes > 1 {
			t.Fatalf("%d notifications", notes)
		}
	})
}

func TestChannelTimeoutResolvedBySweeper(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{Sandbox: sandbox.Options{TimeoutRate: 1, TimeoutHang: 3 * time.Second, DropCallbacks: 1, Seed: 1}})
		agr := withholdAgreement(t, e.Client, "AGR-T")
		p, st, err := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": "TO", "amount": 800, "currency": "CNY",
			"pay_method": "withhold", "agreement_id": agr.ID})
		if err != nil || st != 201 {
			t.Fatal(st, err)
		}
		if p.Status != "processing" {
			t.Fatalf("after timeout: %s, want processing (unknown outcome)", p.Status)
		}
		e.Sweep(t, 10*time.Second, func() bool {
			got, _ := e.Client.GetPayment(ctx, p.ID)
			return got.Status == "succeeded"
		})
		if n, _ := s.JournalCount(ctx, ledger.KindCapture, p.ID); n != 1 {
			t.Fatalf("%d journals", n)
		}
	})
}

func TestFailoverWhenBreakerOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{
			Channels: []string{"backup"},
			ExtraYAML: `routing:
  wallet_qr:
    - {channel: sandbox, priority: 1}
    - {channel: backup, priority: 2}
`,
		})
		// The primary goes down: connection refused is a definite non-execution.
		e.SandboxTS["sandbox"].Close()
		for i := 0; i < 5; i++ {
			p, _, err := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": fmt.Sprintf("F%d", i), "amount": 100,
				"currency": "CNY", "pay_method": "wallet_qr"})
			if err != nil || p.Channel != "backup" || p.Status != "processing" {
				t.Fatalf("payment %d: %v %+v", i, err, p)
			}
		}
		if !e.Gateway.Router().BreakerOpen("sandbox") {
			t.Fatal("primary breaker not open after repeated failures")
		}
		p, _, _ := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": "F-open", "amount": 100, "currency": "CNY", "pay_method": "wallet_qr"})
		var attempts int
		_ = s.DB().GetContext(ctx, &attempts, s.Rebind("SELECT COUNT(*) FROM channel_attempts WHERE payment_id = ? AND channel = 'sandbox'"), p.ID)
		if p.Channel != "backup" || attempts != 0 {
			t.Fatalf("open breaker still called: channel %s, %d attempts on primary", p.Channel, attempts)
		}
	})
}

func TestExpiredPaymentClosed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		e := gwtest.Start(t, s, gwtest.Options{Now: clock})
		p, _, err := e.Client.CreatePayment(ctx, map[string]any{"out_trade_no": "EXP", "amount": 100, "currency": "CNY",
			"pay_method": "wallet_qr", "expires_in": 60, "notify_url": "https://merchant.example/n"})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(61 * time.Second)
		mu.Unlock()
		e.Sweep(t, 5*time.Second, func() bool {
			got, _ := e.Store.GetPayment(ctx, p.ID)
			return got.Status == "closed"
		})
		var n int
		_ = s.DB().GetContext(ctx, &n, s.Rebind("SELECT COUNT(*) FROM notifications WHERE payment_id = ? AND type = 'payment.closed'"), p.ID)
		if n != 1 {
			t.Fatalf("%d payment.closed notifications", n)
		}
	})
}

func TestSignatureVectorMatchesClient(t *testing.T) {
	c := sign.Canonical("GET", "/v1/payments/pay_1?x=1", 1, "abcdefgh", nil)
	if !strings.HasSuffix(c, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
		t.Fatalf("empty body hash: %q", c)
	}
}

func TestRotatedSecretGracePeriod(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		e := gwtest.Start(t, s, gwtest.Options{Now: clock})
		oldc := *e.Client
		oldc.Now = clock
		if err := s.RotateSecret(ctx, e.Merchant.ID, "sk_rotated", 24*time.Hour, clock()); err != nil {
			t.Fatal(err)
		}
		newc := oldc
		newc.Secret = "sk_rotated"
		advance(3 * time.Second) // past the gateway's secret cache
		for name, c := range map[string]*client.Client{"old": &oldc, "new": &newc} {
			if _, err := c.GetPayment(ctx, "pay_missing"); apiCode(err) != "404 not_found" {
				t.Errorf("%s secret during grace: %s", name, apiCode(err))
			}
		}
		advance(25 * time.Hour)
		if _, err := oldc.GetPayment(ctx, "pay_missing"); apiCode(err) != "401 invalid_signature" {
			t.Errorf("old secret after grace: %s", apiCode(err))
		}
		if _, err := newc.GetPayment(ctx, "pay_missing"); apiCode(err) != "404 not_found" {
			t.Errorf("new secret after grace: %s", apiCode(err))
		}
	})
}
