package alipay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

// cannedGateway answers every call with the node fields given, signed with the research key as
// "Alipay's" key (or unsigned / mangled as the case says).
func cannedGateway(t *testing.T, answer func(method string) string) *Channel {
	t.Helper()
	key := researchKey(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if err := VerifyRSA2(&key.PublicKey, []byte(SignContent(r.PostForm)), r.PostForm.Get("sign")); err != nil {
			t.Errorf("request signature: %v", err)
		}
		io.WriteString(w, answer(r.PostForm.Get("method")))
	}))
	t.Cleanup(ts.Close)
	ch, err := New(Config{Name: "alipay", GatewayURL: ts.URL + "/gateway.do", AppID: "2014072300007148",
		PrivateKey: key, PublicKey: &key.PublicKey, Timeout: time.Second,
		RefundPayment: func(context.Context, string) (string, error) { return "pay_1", nil }})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func signed(t *testing.T, method, inner string) string {
	sig, err := SignRSA2(researchKey(t), []byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	return `{"` + ResponseKey(method) + `":` + inner + `,"sign":"` + sig + `"}`
}

// TestAnswerClasses is the table of research note §2.8/§2.9: which answers are results, which
// declines, which unknown outcomes.
func TestAnswerClasses(t *testing.T) {
	const paid = `"trade_no":"T1","out_trade_no":"pay_1","total_amount":"12.34"`
	withhold := channel.PayRequest{PaymentID: "pay_1", Amount: 1234, Currency: "CNY", PayMethod: PayWithhold, Subject: "s", AgreementNo: "A1"}
	for _, tc := range []struct {
		name   string
		op     string // pay (withhold), query, close, refund
		answer func(t *testing.T, method string) string
		status channel.Status // wanted status when err is nil
		err    error          // wanted sentinel
	}{
		{"withhold success", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"gmt_payment":"2024-01-01 12:00:10"}`)
		}, channel.StatusSucceeded, nil},
		{"withhold 10003 paying", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10003","msg":"order success pay inprocess",`+paid+`}`)
		}, channel.StatusProcessing, nil},
		{"withhold balance decline is the payment's failure", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.BUYER_BALANCE_NOT_ENOUGH","sub_msg":"余额不足"}`)
		}, channel.StatusFailed, nil},
		{"withhold system error unknown", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}`)
		}, "", channel.ErrUnknownOutcome},
		{"20000 unknown", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}`)
		}, "", channel.ErrUnknownOutcome},
		{"unsigned success is not believed", "pay", func(t *testing.T, m string) string {
			return `{"` + ResponseKey(m) + `":{"code":"10000","msg":"Success",` + paid + `,"gmt_payment":"2024-01-01 12:00:10"}}`
		}, "", channel.ErrUnknownOutcome},
		{"badly signed success is not believed", "pay", func(t *testing.T, m string) string {
			return strings.Replace(signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"gmt_payment":"2024-01-01 12:00:10"}`), "12.34", "1.00", 1)
		}, "", channel.ErrUnknownOutcome},
		{"unsigned invalid-signature is a decline", "pay", func(t *testing.T, m string) string {
			return `{"` + ResponseKey(m) + `":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"}}`
		}, "", channel.ErrDeclined},
		{"success with another amount is not believed", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success","trade_no":"T1","out_trade_no":"pay_1","total_amount":"1.00","gmt_payment":"2024-01-01 12:00:10"}`)
		}, "", channel.ErrUnknownOutcome},
		{"rate limited is a decline", "pay", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40005","msg":"Call Limited"}`)
		}, "", channel.ErrDeclined},
		{"not json", "pay", func(*testing.T, string) string { return "<html>502</html>" }, "", channel.ErrUnknownOutcome},
		{"query TRADE_NOT_EXIST pending", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`)
		}, channel.StatusProcessing, nil},
		{"query WAIT_BUYER_PAY", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"trade_status":"WAIT_BUYER_PAY"}`)
		}, channel.StatusProcessing, nil},
		{"query TRADE_FINISHED", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"trade_status":"TRADE_FINISHED","send_pay_date":"2024-01-01 12:00:10"}`)
		}, channel.StatusSucceeded, nil},
		{"query TRADE_CLOSED unpaid", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"trade_status":"TRADE_CLOSED"}`)
		}, channel.StatusClosed, nil},
		{"query TRADE_CLOSED after payment and full refund", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"trade_status":"TRADE_CLOSED","send_pay_date":"2024-01-01 12:00:10"}`)
		}, channel.StatusSucceeded, nil},
		{"query unknown trade_status", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"trade_status":"NEW_THING"}`)
		}, "", channel.ErrUnknownOutcome},
		{"query answer about another trade", "query", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"10000","msg":"Success","trade_no":"T9","out_trade_no":"pay_9","total_amount":"1.00","trade_status":"TRADE_SUCCESS","send_pay_date":"2024-01-01 12:00:10"}`)
		}, "", channel.ErrUnknownOutcome},
		{"refund seller balance is a failed refund", "refund", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SELLER_BALANCE_NOT_ENOUGH","sub_msg":"卖家余额不足"}`)
		}, channel.StatusFailed, nil},
		{"refund system error unknown", "refund", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}`)
		}, "", channel.ErrUnknownOutcome},
		{"refund fund_change N then query finds nothing: processing", "refund", func(t *testing.T, m string) string {
			if m == MethodRefundQuery {
				return signed(t, m, `{"code":"10000","msg":"Success","out_trade_no":"pay_1","out_request_no":"ref_1"}`)
			}
			return signed(t, m, `{"code":"10000","msg":"Success","fund_change":"N","refund_fee":"0.00"}`)
		}, channel.StatusProcessing, nil},
		{"close TRADE_NOT_EXIST is closed", "close", func(t *testing.T, m string) string {
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}`)
		}, channel.StatusClosed, nil},
		{"close of a paid trade", "close", func(t *testing.T, m string) string {
			if m == MethodQuery {
				return signed(t, m, `{"code":"10000","msg":"Success",`+paid+`,"trade_status":"TRADE_SUCCESS","send_pay_date":"2024-01-01 12:00:10"}`)
			}
			return signed(t, m, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_STATUS_ERROR"}`)
		}, "", channel.ErrAlreadyPaid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := cannedGateway(t, func(m string) string { return tc.answer(t, m) })
			ctx := context.Background()
			var st channel.Status
			var err error
			switch tc.op {
			case "pay":
				var r channel.PayResult
				r, err = ch.Pay(ctx, withhold)
				st = r.Status
			case "query":
				var r channel.PayResult
				r, err = ch.QueryPayment(ctx, "pay_1")
				st = r.Status
			case "close":
				err = ch.ClosePayment(ctx, "pay_1")
				st = channel.StatusClosed
			case "refund":
				var r channel.RefundResult
				r, err = ch.Refund(ctx, channel.RefundRequest{PaymentID: "pay_1", RefundID: "ref_1", Amount: 100, Currency: "CNY"})
				st = r.Status
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || st != tc.status {
				t.Fatalf("status %q err %v, want %q", st, err, tc.status)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	key := researchKey(t)
	// Nothing listens: the request was never sent, a decline (safe to try another channel).
	ts := httptest.NewServer(http.NotFoundHandler())
	dead := ts.URL
	ts.Close()
	ch, err := New(Config{Name: "alipay", GatewayURL: dead + "/gateway.do", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueryPayment(context.Background(), "pay_1"); !errors.Is(err, channel.ErrDeclined) {
		t.Fatalf("connection refused: %v", err)
	}
	// Sent, then the answer never comes: unknown.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer hang.Close()
	ch, _ = New(Config{Name: "alipay", GatewayURL: hang.URL + "/gateway.do", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey, Timeout: 100 * time.Millisecond})
	if _, err := ch.Pay(context.Background(), channel.PayRequest{PaymentID: "p", Amount: 1, Currency: "CNY", PayMethod: PayWalletQR}); !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("timeout: %v", err)
	}
	// 5xx: unknown.
	five := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
	defer five.Close()
	ch, _ = New(Config{Name: "alipay", GatewayURL: five.URL + "/gateway.do", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey})
	if _, err := ch.Pay(context.Background(), channel.PayRequest{PaymentID: "p", Amount: 1, Currency: "CNY", PayMethod: PayWalletQR}); !errors.Is(err, channel.ErrUnknownOutcome) {
		t.Fatalf("502: %v", err)
	}
}

func TestNewAndPayInputRefused(t *testing.T) {
	key := researchKey(t)
	for _, cfg := range []Config{
		{GatewayURL: "http://127.0.0.1/gateway.do", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey},
		{Name: "x", GatewayURL: "ftp://127.0.0.1/", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey},
		{Name: "x", GatewayURL: "http://127.0.0.1/gateway.do?charset=gbk", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey},
		{Name: "x", GatewayURL: "http://127.0.0.1/gateway.do", PrivateKey: key, PublicKey: &key.PublicKey},
		{Name: "x", GatewayURL: "http://127.0.0.1/gateway.do", AppID: "a", PublicKey: &key.PublicKey},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg.GatewayURL)
		}
	}
	ch, _ := New(Config{Name: "x", GatewayURL: "http://127.0.0.1:1/gateway.do", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey})
	for _, req := range []channel.PayRequest{
		{PaymentID: "p", Amount: 1, Currency: "USD", PayMethod: PayWalletQR},
		{PaymentID: "p", Amount: 1, Currency: "CNY", PayMethod: "online_banking"},
		{PaymentID: "p", Amount: 1, Currency: "CNY", PayMethod: PayWithhold},
	} {
		if _, err := ch.Pay(context.Background(), req); !errors.Is(err, channel.ErrDeclined) {
			t.Errorf("Pay(%s %s) = %v, want a decline", req.Currency, req.PayMethod, err)
		}
	}
}

// TestPageURLSignature checks that a page URL carries a signature over exactly its parameters.
func TestPageURLSignature(t *testing.T) {
	key := researchKey(t)
	fixed := time.Date(2024, 1, 1, 4, 0, 0, 0, time.UTC)
	ch, _ := New(Config{Name: "x", GatewayURL: "https://openapi.alipay.com/gateway.do", AppID: "2014072300007148",
		PrivateKey: key, PublicKey: &key.PublicKey, Now: func() time.Time { return fixed }})
	r, err := ch.Pay(context.Background(), channel.PayRequest{PaymentID: "pay_1", Amount: 8888, Currency: "CNY",
		PayMethod: PayWebPage, Subject: "Iphone6 16G", NotifyURL: "https://example.com/alipay/notify", ExpiresAt: fixed.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(r.PayURL)
	v := u.Query()
	if v.Get("timestamp") != "2024-01-01 12:00:00" || v.Get("sign_type") != "RSA2" || v.Get("charset") != "utf-8" {
		t.Fatalf("common params %v", v)
	}
	if err := VerifyRSA2(&key.PublicKey, []byte(SignContent(v)), v.Get("sign")); err != nil {
		t.Fatal(err)
	}
	want := `{"out_trade_no":"pay_1","total_amount":"88.88","subject":"Iphone6 16G","product_code":"FAST_INSTANT_TRADE_PAY","time_expire":"2024-01-01 13:00:00"}`
	if v.Get("biz_content") != want {
		t.Fatalf("biz_content %s", v.Get("biz_content"))
	}
}

// TestBillURLMustBeHTTPSBehindAnHTTPSGateway: a verified answer from an https gateway naming a
// plain-http bill link is refused before anything is downloaded.
func TestBillURLMustBeHTTPSBehindAnHTTPSGateway(t *testing.T) {
	key := researchKey(t)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, signed(t, MethodBillURL, `{"code":"10000","msg":"Success","bill_download_url":"http:\/\/127.0.0.1:1\/bill.zip"}`))
	}))
	defer ts.Close()
	ch, err := New(Config{Name: "alipay", GatewayURL: ts.URL + "/gateway.do", AppID: "a", PrivateKey: key, PublicKey: &key.PublicKey,
		Transport: ts.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ch.Statement(context.Background(), "2026-11-22"); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("plain bill link behind https: %v", err)
	}
}
