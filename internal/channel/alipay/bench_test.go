package alipay

import (
	"net/url"
	"testing"
)

// The RSA2 cost per payment on the gateway's side: one request signature and one answer
// verification per call (precreate), plus one notification verification.

func BenchmarkSignRequest(b *testing.B) {
	key := researchKey(b)
	v := formOf(b, a1Msg)
	for b.Loop() {
		if _, err := SignRSA2(key, []byte(SignContent(v))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAnswer(b *testing.B) {
	pub := &researchKey(b).PublicKey
	body := []byte(`{"alipay_trade_precreate_response":` + a2Inner + `,"sign":"` + a2Sign + `"}`)
	for b.Loop() {
		raw, sign, err := ExtractResponse(body, MethodPrecreate)
		if err != nil {
			b.Fatal(err)
		}
		if err := VerifyRSA2(pub, raw, sign); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyNotification(b *testing.B) {
	pub := &researchKey(b).PublicKey
	f := formOf(b, a3Msg)
	f.Set("sign_type", "RSA2")
	f.Set("sign", a3Sign)
	body := f.Encode()
	for b.Loop() {
		v, err := url.ParseQuery(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := VerifyNotification(pub, v); err != nil {
			b.Fatal(err)
		}
	}
}
