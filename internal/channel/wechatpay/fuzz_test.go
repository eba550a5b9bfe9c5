package wechatpay

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

// fuzzChannel is an adapter whose WeChat Pay key is the research note's Appendix A key and whose
// APIv3 key is vector W5's, with a fixed clock, so seeds built here are stable.
func fuzzChannel(tb testing.TB) *Channel {
	k := researchKey(tb)
	c, err := NewChannel(Config{Name: "wxpay", BaseURL: "http://127.0.0.1:1", MchID: "1230000109", AppID: "wxd678efh567hg6787",
		MerchantSerialNo: "S1", MerchantKey: k, PublicKeyID: "PUB_KEY_ID_0114232134912410000000000000", PublicKey: &k.PublicKey,
		APIv3Key: []byte("a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"), Now: func() time.Time { return time.Unix(1700000001, 0) }})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// sealed builds a callback body the way WeChat Pay does (testdata/callback_*.json hold the
// plaintexts) and its signature headers.
func sealed(tb testing.TB, c *Channel, event, aad string, plain []byte) (http.Header, []byte) {
	ct, err := Encrypt(c.cfg.APIv3Key, "0123456789ab", aad, plain)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(Notification{ID: "EV-2018022511223320873", CreateTime: "2023-11-15T06:13:21+08:00", EventType: event,
		ResourceType: "encrypt-resource", Summary: "s", Resource: Resource{Algorithm: Algorithm, Ciphertext: ct,
			AssociatedData: aad, Nonce: "0123456789ab", OriginalType: aad}})
	return signedHeader(tb, c, body), body
}

func signedHeader(tb testing.TB, c *Channel, body []byte) http.Header {
	ts := strconv.FormatInt(c.cfg.Now().Unix(), 10)
	sig, err := Sign(c.cfg.MerchantKey, ResponseMessage(ts, "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz", body))
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz")
	h.Set(HeaderSerial, c.cfg.PublicKeyID)
	h.Set(HeaderSignature, sig)
	return h
}

func TestCallbackTestdata(t *testing.T) {
	c := fuzzChannel(t)
	for _, tt := range []struct {
		file, event, aad string
		kind             channel.CallbackKind
		amount           int64
	}{
		{"testdata/callback_transaction.json", EventPaySuccess, "transaction", channel.CallbackPayment, 100},
		{"testdata/callback_refund.json", "REFUND.SUCCESS", "refund", channel.CallbackRefund, 50},
	} {
		plain, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		h, body := sealed(t, c, tt.event, tt.aad, plain)
		cb, err := c.ParseCallback(h, body)
		if err != nil || cb.Kind != tt.kind || (cb.Payment.Amount+cb.Refund.Amount) != tt.amount {
			t.Errorf("%s: %+v %v", tt.file, cb, err)
		}
	}
}

// FuzzParseCallback feeds arbitrary bodies (signed, so that parsing past verification is
// reached) and arbitrary plaintexts to the callback parser: it never panics, and whatever it
// accepts is a complete payment or refund outcome.
func FuzzParseCallback(f *testing.F) {
	c := fuzzChannel(f)
	for _, file := range []string{"testdata/callback_transaction.json", "testdata/callback_refund.json"} {
		plain, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_, body := sealed(f, c, EventPaySuccess, "transaction", plain)
		f.Add(body, plain)
	}
	f.Add([]byte(`{}`), []byte(`{}`))
	f.Add([]byte(`{"resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"0123456789ab","ciphertext":"AAAA"}}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, body, plain []byte) {
		check := func(cb channel.Callback, err error) {
			if err != nil {
				return
			}
			switch cb.Kind {
			case channel.CallbackPayment:
				p := cb.Payment
				if p.PaymentID == "" || p.Status != channel.StatusSucceeded || p.ChannelTradeNo == "" || p.Amount <= 0 || p.PaidAt.IsZero() {
					t.Fatalf("accepted an incomplete payment callback: %+v", p)
				}
			case channel.CallbackRefund:
				r := cb.Refund
				if r.RefundID == "" || r.ChannelRefundNo == "" || r.Status == "" {
					t.Fatalf("accepted an incomplete refund callback: %+v", r)
				}
			default:
				t.Fatalf("accepted kind %q", cb.Kind)
			}
		}
		// Arbitrary envelope, validly signed.
		check(c.ParseCallback(signedHeader(t, c, body), body))
		// Arbitrary plaintext inside a valid envelope.
		for _, ev := range []string{EventPaySuccess, "REFUND.SUCCESS"} {
			h, b := sealed(t, c, ev, "transaction", plain)
			check(c.ParseCallback(h, b))
		}
		// Unsigned: never accepted.
		if _, err := c.ParseCallback(http.Header{}, body); err == nil {
			t.Fatal("unsigned callback accepted")
		}
	})
}
