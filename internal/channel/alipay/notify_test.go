package alipay

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

func researchChannel(t testing.TB) *Channel {
	key := researchKey(t)
	ch, err := New(Config{Name: "alipay", GatewayURL: "https://openapi.alipay.com/gateway.do", AppID: "2014072300007148",
		PrivateKey: key, PublicKey: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestParseNotificationA3 reads the research vector as it arrives on the wire (a form body).
func TestParseNotificationA3(t *testing.T) {
	ch := researchChannel(t)
	body, err := os.ReadFile("testdata/notify/trade_success_a3.form")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := ch.ParseCallback(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	want := channel.PayResult{PaymentID: "20150320010101001", ChannelTradeNo: "2024010122001400000000000000",
		Status: channel.StatusSucceeded, Amount: 8888, PaidAt: time.Date(2024, 1, 1, 4, 0, 10, 0, time.UTC)}
	if cb.Kind != channel.CallbackPayment || cb.Payment != want {
		t.Fatalf("callback %+v", cb)
	}
	w := httptest.NewRecorder()
	ch.CallbackAck(w, true)
	if w.Code != 200 || w.Body.String() != "success" {
		t.Fatalf("ack %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	ch.CallbackAck(w, false)
	if w.Body.String() == "success" {
		t.Fatal("a refusal answered success")
	}

	// Forged: any change, another app, a wrong key.
	form, _ := url.ParseQuery(string(body))
	for name, mut := range map[string]func(url.Values){
		"amount raised":  func(v url.Values) { v.Set("total_amount", "888.88") },
		"other trade":    func(v url.Values) { v.Set("out_trade_no", "20150320010101002") },
		"sign dropped":   func(v url.Values) { v.Del("sign") },
		"sign from A1":   func(v url.Values) { v.Set("sign", a1Sign) },
		"closed instead": func(v url.Values) { v.Set("trade_status", "TRADE_CLOSED") },
	} {
		v := url.Values{}
		for k, vs := range form {
			v[k] = append([]string(nil), vs...)
		}
		mut(v)
		if _, err := ch.ParseCallback(nil, []byte(v.Encode())); !errors.Is(err, channel.ErrBadCallback) {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := New(Config{Name: "alipay", GatewayURL: "https://openapi.alipay.com/gateway.do", AppID: "2021000000000000",
		PrivateKey: researchKey(t), PublicKey: &researchKey(t).PublicKey})
	if _, err := other.ParseCallback(nil, body); err == nil || !strings.Contains(err.Error(), "app_id") {
		t.Fatalf("another app's notification: %v", err)
	}
}

// signedForm signs a notification form with the research key as Alipay would.
func signedForm(t testing.TB, f url.Values) []byte {
	sig, err := SignRSA2(researchKey(t), []byte(SignContent(f, "sign_type")))
	if err != nil {
		t.Fatal(err)
	}
	f.Set("sign_type", "RSA2")
	f.Set("sign", sig)
	return []byte(f.Encode())
}

func TestParseNotificationKinds(t *testing.T) {
	ch := researchChannel(t)
	base := func(typ string) url.Values {
		return url.Values{"app_id": {"2014072300007148"}, "notify_id": {"N1"}, "notify_type": {typ},
			"notify_time": {"2024-01-02 10:00:00"}, "charset": {"utf-8"}, "version": {"1.0"}}
	}
	refund := base(NotifyTrade)
	for k, v := range map[string]string{"out_trade_no": "pay_1", "trade_no": "T1", "out_biz_no": "ref_1",
		"trade_status": "TRADE_SUCCESS", "total_amount": "10.00", "refund_fee": "3.00", "gmt_payment": "2024-01-01 12:00:00",
		"gmt_refund": "2024-01-02 09:59:59.123"} { // Alipay prints gmt_refund with milliseconds
		refund.Set(k, v)
	}
	n, err := ch.ParseNotification(signedForm(t, refund))
	if err != nil || n.Refund == nil || n.Refund.RefundID != "ref_1" || n.Refund.Status != channel.StatusSucceeded ||
		!n.Refund.SucceededAt.Equal(time.Date(2024, 1, 2, 1, 59, 59, 123e6, time.UTC)) {
		t.Fatalf("refund notification %+v %v", n, err)
	}
	agr := base(NotifyAgreement)
	for k, v := range map[string]string{"agreement_no": "20250001", "external_agreement_no": "agr_1", "status": "NORMAL"} {
		agr.Set(k, v)
	}
	n, err = ch.ParseNotification(signedForm(t, agr))
	if err != nil || n.Agreement == nil || *n.Agreement != (Agreement{AgreementID: "agr_1", AgreementNo: "20250001", Status: channel.StatusSucceeded}) {
		t.Fatalf("agreement notification %+v %v", n, err)
	}
	odd := base("some_new_type")
	if _, err := ch.ParseNotification(signedForm(t, odd)); err == nil {
		t.Fatal("unknown notify_type accepted")
	}
}

// FuzzParseNotification feeds arbitrary bodies: parsing never panics, and whatever is accepted
// verified with the key and carries an id and a known status.
func FuzzParseNotification(f *testing.F) {
	files, _ := filepath.Glob("testdata/notify/*.form")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("sign=&sign_type=RSA2"))
	f.Add([]byte("%zz"))
	ch := researchChannel(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ch.ParseNotification(body)
		if err != nil {
			return
		}
		form, perr := url.ParseQuery(string(body))
		if perr != nil || VerifyNotification(&researchKey(t).PublicKey, form) != nil {
			t.Fatalf("accepted an unverified body %q", body)
		}
		if n.NotifyID == "" || (n.Payment == nil && n.Refund == nil && n.Agreement == nil) {
			t.Fatalf("accepted %+v", n)
		}
	})
}

// FuzzDecodeNotification feeds arbitrary (already "verified") forms to the decoder.
func FuzzDecodeNotification(f *testing.F) {
	b, _ := os.ReadFile("testdata/notify/trade_success_a3.form")
	f.Add(string(b))
	f.Add("notify_id=1&notify_type=dut_user_sign&agreement_no=1&external_agreement_no=a&status=NORMAL")
	f.Add("notify_id=1&notify_type=trade_status_sync&out_trade_no=a&trade_no=b&out_biz_no=r&gmt_refund=2024-01-01 00:00:00")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		n, err := decodeNotification(form)
		if err != nil {
			return
		}
		if p := n.Payment; p != nil && (p.Amount < 0 || (p.Status == channel.StatusSucceeded && p.PaidAt.IsZero())) {
			t.Fatalf("decoded %+v", p)
		}
	})
}

func FuzzExtractResponse(f *testing.F) {
	f.Add([]byte(`{"alipay_trade_precreate_response":` + a2Inner + `,"sign":"` + a2Sign + `"}`))
	f.Add([]byte(`{"error_response":{"code":"40002"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		raw, _, err := ExtractResponse(body, MethodPrecreate)
		if err == nil && (len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}') {
			t.Fatalf("extracted %q", raw)
		}
	})
}
