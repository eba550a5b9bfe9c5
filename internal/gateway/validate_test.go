package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/paygw"
)

func TestValidatePayment(t *testing.T) {
	agr := "agr_1"
	tests := []struct {
		name string
		body string
		code paygw.Code
	}{
		{"ok redirect", `{"out_trade_no":"A1","amount":1234,"currency":"CNY","pay_method":"wallet_qr"}`, ""},
		{"ok withhold", `{"out_trade_no":"A1","amount":1,"currency":"JPY","pay_method":"withhold","agreement_id":"agr_1"}`, ""},
		{"missing out_trade_no", `{"amount":1,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidRequest},
		{"bad out_trade_no", `{"out_trade_no":"a b","amount":1,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidRequest},
		{"zero amount", `{"out_trade_no":"A","amount":0,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"negative", `{"out_trade_no":"A","amount":-5,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"fraction", `{"out_trade_no":"A","amount":1.5,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"exponent", `{"out_trade_no":"A","amount":1e3,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"string amount", `{"out_trade_no":"A","amount":"12","currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"MaxAmount", `{"out_trade_no":"A","amount":100000000000,"currency":"CNY","pay_method":"wallet_qr"}`, ""},
		{"MaxAmount+1", `{"out_trade_no":"A","amount":100000000001,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"int64 max", `{"out_trade_no":"A","amount":9223372036854775807,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"overflow", `{"out_trade_no":"A","amount":99999999999999999999,"currency":"CNY","pay_method":"wallet_qr"}`, paygw.CodeInvalidAmount},
		{"currency", `{"out_trade_no":"A","amount":1,"currency":"cny","pay_method":"wallet_qr"}`, paygw.CodeInvalidRequest},
		{"method", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"cash"}`, paygw.CodeUnsupportedPayMethod},
		{"withhold without agreement", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"withhold"}`, paygw.CodeInvalidRequest},
		{"agreement on redirect", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","agreement_id":"x"}`, paygw.CodeInvalidRequest},
		{"bad notify_url", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","notify_url":"ftp://x"}`, paygw.CodeInvalidRequest},
		{"expires_in too short", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","expires_in":5}`, paygw.CodeInvalidRequest},
		{"metadata not object", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","metadata":[1]}`, paygw.CodeInvalidRequest},
		{"unknown field", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","x":1}`, paygw.CodeInvalidRequest},
		{"ok jsapi with openid", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_jsapi","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}`, ""},
		{"jsapi without openid", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_jsapi"}`, paygw.CodeInvalidRequest},
		{"jsapi empty payer", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_jsapi","payer":{}}`, paygw.CodeInvalidRequest},
		{"openid bad chars", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_jsapi","payer":{"openid":"o<script>"}}`, paygw.CodeInvalidRequest},
		{"payer unknown field", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","payer":{"name":"x"}}`, paygw.CodeInvalidRequest},
		{"ok h5 with client_ip", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_h5","client_ip":"203.0.113.7"}`, ""},
		{"ok h5 ipv6", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_h5","client_ip":"2001:db8::1"}`, ""},
		{"bad client_ip", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_h5","client_ip":"203.0.113"}`, paygw.CodeInvalidRequest},
		{"client_ip with zone", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_h5","client_ip":"fe80::1%eth0"}`, paygw.CodeInvalidRequest},
		{"trailing data", `{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr"} {}`, paygw.CodeInvalidRequest},
	}
	_ = agr
	for _, tt := range tests {
		var req CreatePayment
		err := Decode([]byte(tt.body), &req)
		if err == nil {
			_, err = ValidatePayment(req)
		}
		if got := code(err); got != tt.code {
			t.Errorf("%s: code %q (%v), want %q", tt.name, got, err, tt.code)
		}
	}
}

func code(err error) paygw.Code {
	if err == nil {
		return ""
	}
	return paygw.ErrorCode(err)
}

func TestHashIgnoresKeyOrder(t *testing.T) {
	var a, b CreatePayment
	_ = Decode([]byte(`{"out_trade_no":"A","amount":5,"currency":"CNY","pay_method":"wallet_qr","metadata":{"x":1, "y":2}}`), &a)
	_ = Decode([]byte(`{"metadata":{"x":1,"y":2},"pay_method":"wallet_qr","currency":"CNY","amount":5,"out_trade_no":"A"}`), &b)
	va, _ := ValidatePayment(a)
	vb, _ := ValidatePayment(b)
	if va.Hash != vb.Hash {
		t.Fatal("same request, different fingerprints")
	}
	b.Amount = json.RawMessage("6")
	vc, _ := ValidatePayment(b)
	if vc.Hash == va.Hash {
		t.Fatal("different amount, same fingerprint")
	}
}

func TestHashCoversPayerAndKeepsOldFingerprints(t *testing.T) {
	hash := func(body string) string {
		var r CreatePayment
		if err := Decode([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		v, err := ValidatePayment(r)
		if err != nil {
			t.Fatal(err)
		}
		return v.Hash
	}
	base := `{"out_trade_no":"A","amount":5,"currency":"CNY","pay_method":"wallet_jsapi"`
	a := hash(base + `,"payer":{"openid":"o1"}}`)
	if a == hash(base+`,"payer":{"openid":"o2"}}`) {
		t.Fatal("different openid, same fingerprint")
	}
	if hash(`{"out_trade_no":"A","amount":5,"currency":"CNY","pay_method":"wallet_h5","client_ip":"1.2.3.4"}`) ==
		hash(`{"out_trade_no":"A","amount":5,"currency":"CNY","pay_method":"wallet_h5","client_ip":"1.2.3.5"}`) {
		t.Fatal("different client_ip, same fingerprint")
	}
	// A request without payer/client_ip keeps the fingerprint stored payments were created with.
	old := hashFields("A", "5", "CNY", "wallet_qr", "", "", "", "900", "", "")
	if got := hash(`{"out_trade_no":"A","amount":5,"currency":"CNY","pay_method":"wallet_qr"}`); got != old {
		t.Fatalf("fingerprint of an old-style request changed: %s != %s", got, old)
	}
}

// FuzzDecodeAndValidate feeds arbitrary bodies to the request decoder and validators: they never
// panic, every refusal carries an API error code, and whatever is accepted is well-formed.
func FuzzDecodeAndValidate(f *testing.F) {
	for _, s := range []string{
		`{"out_trade_no":"A1001","amount":1234,"currency":"CNY","pay_method":"wallet_qr","subject":"Order","notify_url":"https://m.example/n","expires_in":900,"metadata":{"k":"v"}}`,
		`{"out_trade_no":"W1","amount":1,"currency":"JPY","pay_method":"withhold","agreement_id":"agr_1"}`,
		`{"out_refund_no":"R1","amount":500,"reason":"x"}`,
		`{"out_agreement_no":"G1","pay_method":"withhold","payer":{"name":"Zhang","account_no":"6222021234560123","phone":"13800000000"}}`,
		`{"out_trade_no":"J1","amount":1,"currency":"CNY","pay_method":"wallet_jsapi","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"client_ip":"203.0.113.7"}`,
		`{"amount":1e309}`, `[]`, `null`, ``, `{"amount":-0}`,
		// Issue 14 item 9: NUL, invalid UTF-8 and lone surrogates in text fields.
		`{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","subject":"a\u0000b"}`,
		"{\"out_trade_no\":\"A\",\"amount\":1,\"currency\":\"CNY\",\"pay_method\":\"wallet_qr\",\"subject\":\"\xff\"}",
		`{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","metadata":{"k":"\ud800"}}`,
		`{"out_trade_no":"A","amount":1,"currency":"CNY","pay_method":"wallet_qr","metadata":{"k\u0000":"\\u0000"}}`,
		`{"out_refund_no":"R1","amount":5,"reason":"\udc00x"}`,
		"{\"out_agreement_no\":\"G1\",\"pay_method\":\"withhold\",\"payer\":{\"name\":\"\xc3\",\"account_no\":\"6222021234560123\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// checkBodyText's shortcut (the whole body at once) agrees with the walk field by field.
		if ok, walked := rawTextOK(body), badTextField(body); ok != (walked == nil) {
			t.Fatalf("rawTextOK(body) = %v, but the walk by field says %v", ok, walked)
		}
		var p CreatePayment
		if err := Decode(body, &p); err == nil {
			for _, txt := range []string{p.Subject, string(p.Metadata)} {
				if !utf8.ValidString(txt) || strings.ContainsRune(txt, 0) || !rawTextOK([]byte(txt)) {
					t.Fatalf("decoded text a database cannot store: %q", txt)
				}
			}
			v, err := ValidatePayment(p)
			if err != nil {
				if paygw.ErrorCode(err) == paygw.CodeInternal {
					t.Fatalf("validation error without a code: %v", err)
				}
			} else {
				if v.Amount <= 0 || !v.Currency.Valid() || v.OutTradeNo == "" || len(v.Hash) != 64 {
					t.Fatalf("accepted a malformed payment: %+v", v)
				}
				if strings.ContainsAny(v.OutTradeNo, " \n\t") {
					t.Fatalf("accepted out_trade_no %q", v.OutTradeNo)
				}
			}
		} else if paygw.ErrorCode(err) != paygw.CodeInvalidRequest {
			t.Fatalf("decode error code %s", paygw.ErrorCode(err))
		}
		var r CreateRefund
		if err := Decode(body, &r); err == nil {
			if !utf8.ValidString(r.Reason) || strings.ContainsRune(r.Reason, 0) {
				t.Fatalf("decoded reason %q", r.Reason)
			}
			if v, err := ValidateRefund("pay_1", r); err == nil && v.Amount <= 0 {
				t.Fatalf("accepted refund amount %d", v.Amount)
			}
		}
		var a SignAgreement
		if err := Decode(body, &a); err == nil {
			if !utf8.ValidString(a.Payer.Name) || strings.ContainsRune(a.Payer.Name, 0) {
				t.Fatalf("decoded payer name %q", a.Payer.Name)
			}
			if _, err := ValidateAgreement(a); err == nil && len(a.Payer.AccountNo) < 12 {
				t.Fatalf("accepted account %q", a.Payer.AccountNo)
			}
		}
	})
}

func TestRawTextOK(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{`"plain"`, true},
		{`"中文 \u00e9"`, true},
		{`"\ud83d\ude00"`, true}, // a surrogate pair
		{`"\\u0000"`, true},      // an escaped backslash, then text
		{`"\\\u0000"`, false},    // an escaped backslash, then a NUL escape
		{`"\u0000"`, false},
		{`"\U0000"`, true},        // not an escape JSON knows: the decoder refuses it
		{`"\ud800"`, false},       // high surrogate alone
		{`"\ud800\u0041"`, false}, // high surrogate then a non-surrogate
		{`"\udfff"`, false},       // low surrogate alone
		{"\"\xff\"", false},
		{"\"a\x00\"", false},
		{`"\u12"`, true}, // truncated: the decoder's to refuse
	}
	for _, tt := range tests {
		if got := rawTextOK([]byte(tt.raw)); got != tt.want {
			t.Errorf("rawTextOK(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}
