package wechatpay

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// The vectors below are W1–W5 of ../shared/research/channel-protocols.md §3.2, made with the
// throwaway key of its Appendix A (testdata/research_test_key.pem) and cross-checked there with
// openssl.
func researchKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/research_test_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if got := sha256.Sum256(der); hex.EncodeToString(got[:]) != "582083c661e79309f7926325d48631bdedf01a3591d84c1277f8077809f1cfd5" {
		t.Fatalf("appendix key fingerprint %x", got)
	}
	return k
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestRequestSignatureVectors(t *testing.T) {
	k := researchKey(t)
	tests := []struct {
		name, method, uri, body, sum, sig string
	}{
		{"W1 POST", "POST", "/v3/pay/transactions/native",
			`{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"}}`,
			"779af88b8ac5356f6767f52c791bb4fa86504fe759fe7554b62e26ce928f9606",
			"c5RnQqqp6MbKzlsIWthy92IU6qQQUctly8xtEO/+QMsVNZv9KA6tW9REYepTQZEUCf3DbWKmN/95/0gXEvuPQY2wWuKeRNp9XhEJn0PD31vgXl8FXdD46Xhly9XenFsuLmFlpkrHjyvYiuRkicJ3h7EYJ9hf3Cke9wzjqtPN9t8CPnFeo+t1gpJNvrI9/QcJKp+ymXf5S7PuS2yHp8APXF6rRMpaL6VdDrozgbpZo6x8TNhCmnjGlxNYQxML0SydRZWokxnJ2cYTruuwYPp2532LcvQFKE8SyGQOvWsHmEn/6dGCO/k/Aw//+VYkECKY/wXFhTJ1+AxQi6Ps+fCp8Q=="},
		{"W2 GET with query", "GET", "/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109", "",
			"2a7d08c7cb5ec410c71d15b9bf3407c61346ba4103538b548a643cfff5d05916",
			"nKjS9YlB2hqlIAFC6N5P0XOaNN3h67S2iA01is933G5EHo5lbR4ezOS0cMvjnklVrPch4f/p5xdi8kcdnc9RAX2kvjkld6KHo1RYhZaPWKfgkt7Oh5nEaEtrxTYlyVdZeR+0TYvEZb534FIN7QXkB15cHF+nys/ajMwHx8oRmrt7DR2D4/TPPsurDkRAvYj2oC2jX+CqRStsu2vpYlJ6XOKuqTC6odakbpLcpRqloR1WY6MaYH5cHPJjUnLeCCCYK2UC0E7UaJpi7XqXznE/63qWtoEX5XKub8KF53PER7f7LY/5mB208TagZCoNuH8cpTrpchorN9/XOCEHr4KgIg=="},
	}
	for _, tt := range tests {
		msg := RequestMessage(tt.method, tt.uri, "1700000000", "593BEC0C930BF1AFEB40B4A08C8FB242", []byte(tt.body))
		if got := sha(msg); got != tt.sum {
			t.Errorf("%s: message sha256 %s, want %s", tt.name, got, tt.sum)
		}
		sig, err := Sign(k, msg)
		if err != nil || sig != tt.sig {
			t.Errorf("%s: signature %s (%v)", tt.name, sig, err)
		}
		// The header carries it, and the simulator's parser reads it back.
		h, err := Authorization(k, "1230000109", "SERIAL1", tt.method, tt.uri, time.Unix(1700000000, 0),
			"593BEC0C930BF1AFEB40B4A08C8FB242", []byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		a, err := ParseAuthorization(h)
		if err != nil || a.Signature != tt.sig || a.MchID != "1230000109" || a.Timestamp != "1700000000" || a.SerialNo != "SERIAL1" {
			t.Errorf("%s: header %q parsed as %+v (%v)", tt.name, h, a, err)
		}
	}
}

func TestResponseVerificationVector(t *testing.T) {
	k := researchKey(t)
	body := []byte(`{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}`)
	const sig = "QkxYv67tixBYNe+nFrD2fxvzHZ13XhclyOVKy+Dm87oWQtLLRXB34vmogdXFjD7SvIMAoSDoIgaPWjh7rPykl83l2EtMUCAICnoIHOM/sr5yu8rk4lVNlgcaRZ0/ie47M65mLhnfhsA6hB6URMI3E9u+2bwNvbMTsy/Jcac56B/yXVCvCEhvQA9B6llEwzl+WA/1W/cHnWh2Nm5xD4Nbsst6T0UVJMWmpAMgq0UoeALNoYK3PCoCK1FphKy1u+D+kNx2HNxjumni15Yglz28O7IH1thjiyHIgiwRyyg50y+oue9VD3Dq5bEbf12mH/nXQrKh8+PrZfhebVmQmCNe5w=="
	if got := sha(ResponseMessage("1700000001", "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz", body)); got != "1307d9cbfa22ff5ea1d01f6b20914a48c985c5658940d0286cca3aa754d792a6" {
		t.Fatalf("message sha256 %s", got)
	}
	const keyID = "PUB_KEY_ID_0114232134912410000000000000"
	good := Signed{Timestamp: "1700000001", Nonce: "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz", Signature: sig, Serial: keyID}
	at := time.Unix(1700000001, 0)
	if err := VerifyMessage(&k.PublicKey, keyID, good, body, at); err != nil {
		t.Fatalf("W3 does not verify: %v", err)
	}
	changed := append([]byte(nil), body...)
	changed[5] ^= 1
	probe := good
	probe.Signature = "WECHATPAY/SIGNTEST/" + sig
	otherSerial := good
	otherSerial.Serial = "PUB_KEY_ID_0000000000000000000000000000"
	unsigned := good
	unsigned.Signature = ""
	noTS := good
	noTS.Timestamp = ""
	for _, tt := range []struct {
		name string
		s    Signed
		body []byte
		now  time.Time
	}{
		{"one body byte changed", good, changed, at},
		{"SIGNTEST probe", probe, body, at},
		{"301 s old", good, body, at.Add(301 * time.Second)},
		{"301 s ahead", good, body, at.Add(-301 * time.Second)},
		{"exactly 5 min old", good, body, at.Add(5 * time.Minute)},
		{"another serial", otherSerial, body, at},
		{"unsigned", unsigned, body, at},
		{"no timestamp", noTS, body, at},
	} {
		if err := VerifyMessage(&k.PublicKey, keyID, tt.s, tt.body, tt.now); err == nil {
			t.Errorf("%s: verified", tt.name)
		}
	}
	if err := VerifyMessage(&k.PublicKey, keyID, good, body, at.Add(299*time.Second)); err != nil {
		t.Errorf("299 s old refused: %v", err)
	}
}

func TestJSAPIPaySignVector(t *testing.T) {
	k := researchKey(t)
	msg := JSAPIMessage("wxd678efh567hg6787", "1700000000", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "prepay_id=wx201410272009395522657a690389285100")
	if got := sha(msg); got != "d5e877eb950d2f966313505602b3248345eee751e1fd21e520a9da3b5691a90a" {
		t.Fatalf("message sha256 %s", got)
	}
	sig, _ := Sign(k, msg)
	if sig != "uoqBmDBJ2R8pVpHOZwPjPPeS+D4/wGI7DI6UUMVJ3lFLczckEW0tSeNTXkjC6MAhyCkh453p1cqTVS4Plp8L0y1X6Ps5nPrYKWxtZx3j2KdD26E7OkmoQSuwiv5OoSWheCOpMChvaNxXTtnzUS0vj+e8He2gXKwLwHiPh6lB40+KEYGjruDeuZGgOtyHCiAvee8A1V0wPCc2FvsUk0Iz00k9Yn3AqWYOECR3I1z8fiVfe/ACPqNi8RmQtzNwZF1ZqVqbjxoRozFSmzyp4YjwxBI8dUXhRs9oMbYvFfsudEekhM0eMCat5OmjalihFM+Me6rTXFFsjjRftEb+Sx/RJA==" {
		t.Fatalf("W4 paySign %s", sig)
	}
}

func TestDecryptVector(t *testing.T) {
	key := []byte("a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6")
	const ct = "qa+XcGf+RWyDBEFEu0qS/z4oQN9y4ECdnCu64KvCg8L/yfi79z8O4ZPYVPNwaxIrwB8lqBnGKyznpLZJ7VSn70yF2tUZYkusKLhF2bW5s3Fk3/Gp+O5/"
	pt, err := Decrypt(key, "0123456789ab", "transaction", ct)
	if err != nil || string(pt) != `{"out_trade_no":"1217752501201407033233368018","trade_state":"SUCCESS"}` {
		t.Fatalf("W5: %q %v", pt, err)
	}
	// Round trip, and every tampering refused.
	again, err := Encrypt(key, "0123456789ab", "transaction", pt)
	if err != nil || again != ct {
		t.Fatalf("encrypt: %s %v", again, err)
	}
	for name, f := range map[string]func() ([]byte, error){
		"other AAD":   func() ([]byte, error) { return Decrypt(key, "0123456789ab", "refund", ct) },
		"other nonce": func() ([]byte, error) { return Decrypt(key, "0123456789ac", "transaction", ct) },
		"other key": func() ([]byte, error) {
			return Decrypt([]byte(strings.Repeat("k", 32)), "0123456789ab", "transaction", ct)
		},
		"short key":   func() ([]byte, error) { return Decrypt(key[:16], "0123456789ab", "transaction", ct) },
		"short nonce": func() ([]byte, error) { return Decrypt(key, "0123", "transaction", ct) },
		"not base64":  func() ([]byte, error) { return Decrypt(key, "0123456789ab", "transaction", "!!"+ct) },
		"truncated":   func() ([]byte, error) { return Decrypt(key, "0123456789ab", "transaction", ct[:20]) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
}

func TestParseKeysRefuseWrongForms(t *testing.T) {
	k := researchKey(t)
	if _, err := ParsePublicKey(EncodePrivateKey(k)); err == nil {
		t.Error("private key accepted as public")
	}
	if _, err := ParsePrivateKey(EncodePublicKey(&k.PublicKey)); err == nil {
		t.Error("public key accepted as private")
	}
	if _, err := ParsePrivateKey([]byte("not pem")); err == nil {
		t.Error("garbage accepted")
	}
	pub, err := ParsePublicKey(EncodePublicKey(&k.PublicKey))
	if err != nil || pub.N.Cmp(k.N) != 0 {
		t.Fatalf("public key round trip: %v", err)
	}
}
