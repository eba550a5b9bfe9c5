package alipay

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

// The vectors A1–A3 of the research note (shared/research/channel-protocols.md §3.2), signed with
// its throwaway Appendix A key (testdata/research_key.pem).
const (
	a1Msg  = `app_id=2014072300007148&biz_content={"out_trade_no":"20150320010101001","total_amount":"88.88","subject":"Iphone6 16G"}&charset=utf-8&format=JSON&method=alipay.trade.precreate&notify_url=https://example.com/alipay/notify&sign_type=RSA2&timestamp=2024-01-01 12:00:00&version=1.0`
	a1Hash = "1ed18c3af9a821874e695e7697be5a7bf7bc061ac7e6664c7bcb0399f92f4af4"
	a1Sign = "E9fXD6lteGKpJ5O6LIwSfT2TNOOvr8dlDtcs2IzvqYPYx197tiDui4i/JBjz/jGgFdJ16GkGZL8MExgRdaKiOBpeRQ9TWRbL/oem51iSddghg4nwGS1fxzVbULa/j4XNKrxVVXFGxvAaHs2ATiNDpb3HRonE4fKpEcW0uXidamdEe5Odw/7emKwuZzrXvuWE4ncutSmth0VBEVuR+WaUKfRnyb+Mj/F8xxY/Ll4ejcqD1YuEkvoeRIGHr0bwWzXaaIVpMgxr82zGwFKorUow3Aprp0rU51nbnfNNXso6Wvwby4xDGt7HGwRAKJ2vUKyeqJuZYdR8FuNFClLY8ji/KQ=="

	a2Inner = `{"code":"10000","msg":"Success","out_trade_no":"20150320010101001","qr_code":"https:\/\/qr.alipay.com\/bax03431ljhokirwl38f00a7"}`
	a2Hash  = "87c8849164b73a3fdbdeb5c33844b5624a7f2666f52bc2669426e505393536e0"
	a2Sign  = "ht7xmy1IUciVSQDnxtJabjl4/zbUlYgQcDu8ke0IUI8sREAnpiyqKTj76tpFVKilRxjCv4f+8BHzIdf3MG57l1D6Khc1lA/4ewyQSa1JKqobrXIQB0noS8iEqKVLskNckU0lqPReFotcZirEZhZu+yxYqviLVhe6SLkLNpwgCRD+x5u3nXtEC8EHIo90TJ7qpwX5Az8bOqhjha0rE/3AbbOHH35T/NCpEuxrfGizNnpMTXNxpNEXpoxTuj6jtP7Ph4hEDN0EO9C7n/iC3r7a3hSoKvMPrDhQYDYOfsZkLn/ewJfbMY+clfZ9EIH0FbgdBbtScnQ3MJ9g644maAom4A=="

	a3Msg  = `app_id=2014072300007148&auth_app_id=2014072300007148&buyer_id=2088102116773037&charset=utf-8&gmt_create=2024-01-01 12:00:05&gmt_payment=2024-01-01 12:00:10&invoice_amount=88.88&notify_id=2024010100222120011000000000000000&notify_time=2024-01-01 12:00:11&notify_type=trade_status_sync&out_trade_no=20150320010101001&receipt_amount=88.88&seller_id=2088102119685838&subject=Iphone6 16G&total_amount=88.88&trade_no=2024010122001400000000000000&trade_status=TRADE_SUCCESS&version=1.0`
	a3Hash = "1f2412d94f243718067a938eda4213092415b9d2683d14fffb9f07e38cd5e5ef"
	a3Sign = "Zy00TWwkJ5SrXVKgcoqZbRPUup5nL3alguiK2j4kVYNvjG77qsp1KjdBEqGxlDP9V8IYFe0foLUp4pmkd3I7dyHfTFKEAlQZ4K6pzjfBbwWwaB8qox37V4SCyBqCjHZ6nN7ygJEVQHt7poFdcBC/DlMDdZIyFyAxwBeiIDygGuK8abcbw6QETiL0NzNjfUacXCK6/05Q0h+EcCrzWsaQO/pkmEFD2Khmnxg+p8NW0aR06hCmRT6C5ZLfgcugISFw4f5gAOBvoB5Z+enu+CVeVJ4BGkhbyA/DHlnIaGTIDAGLwK9Mx8zrhDHTcYINIFcOHpZFtGekstKnOkYlgZ/s6Q=="
)

func researchKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/research_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// formOf splits a k=v&k=v message into a form without decoding (the vectors hold raw values).
func formOf(t testing.TB, msg string) url.Values {
	t.Helper()
	f := url.Values{}
	for _, kv := range strings.Split(msg, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("bad pair %q", kv)
		}
		f.Set(k, v)
	}
	return f
}

func TestRequestSignVectorA1(t *testing.T) {
	key := researchKey(t)
	f := formOf(t, a1Msg)
	f.Set("app_auth_token", "") // present but empty: must be dropped
	got := SignContent(f)
	if got != a1Msg || sha(got) != a1Hash {
		t.Fatalf("sign content\n got %s\nwant %s", got, a1Msg)
	}
	sig, err := SignRSA2(key, []byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if sig != a1Sign {
		t.Fatalf("sign = %s, want the vector", sig)
	}
	f.Set("sign", sig) // sign itself is never part of the content
	if SignContent(f) != a1Msg {
		t.Fatal("sign was included in the content")
	}
}

func TestResponseVerifyVectorA2(t *testing.T) {
	pub := &researchKey(t).PublicKey
	body := []byte(`{"alipay_trade_precreate_response":` + a2Inner + `,"sign":"` + a2Sign + `"}`)
	raw, sign, err := ExtractResponse(body, "alipay.trade.precreate")
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != a2Inner || sha(string(raw)) != a2Hash {
		t.Fatalf("signed text = %s", raw)
	}
	if err := VerifyRSA2(pub, raw, sign); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Re-marshalled text (Go writes "/" unescaped) is not what Alipay signed.
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	re, _ := json.Marshal(m)
	if err := VerifyRSA2(pub, re, sign); !errors.Is(err, ErrSignature) {
		t.Fatalf("re-marshalled text verified: %v", err)
	}
	// One changed byte fails.
	bad := strings.Replace(string(body), "10000", "10001", 1)
	raw, sign, err = ExtractResponse([]byte(bad), "alipay.trade.precreate")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyRSA2(pub, raw, sign); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered answer verified: %v", err)
	}
}

func TestExtractResponse(t *testing.T) {
	const m = "alipay.trade.query"
	for _, tc := range []struct {
		name, body, raw, sign, err string
	}{
		{"sign first", `{"sign":"S","alipay_trade_query_response":{"a":"}"}}`, `{"a":"}"}`, "S", ""},
		{"spaces and nesting", `{"alipay_trade_query_response" : {"a":{"b":"x\"}"}} ,"sign":"S"}`, `{"a":{"b":"x\"}"}}`, "S", ""},
		{"error_response", `{"error_response":{"code":"40002","sub_code":"isv.invalid-signature"},"sign":"S"}`, `{"code":"40002","sub_code":"isv.invalid-signature"}`, "S", ""},
		{"no sign", `{"alipay_trade_query_response":{"code":"20000"}}`, `{"code":"20000"}`, "", ""},
		{"injected second node", `{"alipay_trade_query_response":{"code":"40004"},"x":{"alipay_trade_query_response":{"code":"10000"}},"sign":"S"}`, "", "", "appears twice"},
		{"missing", `{"other_response":{},"sign":"S"}`, "", "", "has no alipay_trade_query_response"},
		{"not closed", `{"alipay_trade_query_response":{"code":"1`, "", "", "not closed"},
		{"not an object", `{"alipay_trade_query_response":"enc","sign":"S"}`, "", "", "not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, sign, err := ExtractResponse([]byte(tc.body), m)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(raw) != tc.raw || sign != tc.sign {
				t.Fatalf("got %q %q %v", raw, sign, err)
			}
		})
	}
}

func TestNotificationVerifyVectorA3(t *testing.T) {
	pub := &researchKey(t).PublicKey
	f := formOf(t, a3Msg)
	f.Set("sign_type", "RSA2")
	f.Set("sign", a3Sign)
	f.Set("fund_bill_list", "") // empty values are dropped
	if got := SignContent(f, "sign_type"); got != a3Msg || sha(got) != a3Hash {
		t.Fatalf("content = %s", got)
	}
	if err := VerifyNotification(pub, f); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// The form round-trips through URL encoding as it travels.
	parsed, err := url.ParseQuery(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyNotification(pub, parsed); err != nil {
		t.Fatalf("verify after transport: %v", err)
	}
	for name, mut := range map[string]func(url.Values){
		"amount changed":  func(v url.Values) { v.Set("total_amount", "88.89") },
		"status changed":  func(v url.Values) { v.Set("trade_status", "TRADE_CLOSED") },
		"sign missing":    func(v url.Values) { v.Del("sign") },
		"sign_type RSA":   func(v url.Values) { v.Set("sign_type", "RSA") },
		"parameter twice": func(v url.Values) { v.Add("out_trade_no", "X") },
		"parameter added": func(v url.Values) { v.Set("refund_fee", "1.00") },
		"sign not base64": func(v url.Values) { v.Set("sign", "%%%") },
	} {
		v := url.Values{}
		for k, vs := range parsed {
			v[k] = append([]string(nil), vs...)
		}
		mut(v)
		if err := VerifyNotification(pub, v); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: verify = %v, want ErrSignature", name, err)
		}
	}
}

func TestParseKeys(t *testing.T) {
	key := researchKey(t)
	pemPub, err := MarshalPublicKeyPEM(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pemPub)
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("public PEM: %v", err)
	}
	// The bare Base64 form the Alipay console shows.
	lines := strings.Split(strings.TrimSpace(string(pemPub)), "\n")
	bare := strings.Join(lines[1:len(lines)-1], "")
	if pub, err = ParsePublicKey([]byte(bare)); err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("public bare: %v", err)
	}
	for _, bad := range []string{"", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a key!"} {
		if _, err := ParsePublicKey([]byte(bad)); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
		if _, err := ParsePrivateKey([]byte(bad)); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		}
	}
}
