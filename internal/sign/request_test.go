package sign

import "testing"

func TestRequestVector(t *testing.T) {
	// The vector in README.md ("Signing requests"): a merchant's implementation must produce the same value.
	c := Canonical("POST", "/v1/payments", 1763800000, "n0nce-123",
		[]byte(`{"out_trade_no":"A1001","amount":1234,"currency":"CNY","pay_method":"wallet_qr"}`))
	want := "POST\n/v1/payments\n1763800000\nn0nce-123\n"
	if c[:len(want)] != want {
		t.Fatalf("canonical prefix %q", c)
	}
	sig := Request("sk_test_secret", c)
	if sig != "v1=8b92345068e4ec5a456d89426a50e4cea55268e0fdbc6e30244571fe95006cd5" {
		t.Fatalf("vector signature changed: %s", sig)
	}
	if !Verify([]string{"other", "sk_test_secret"}, c, sig) {
		t.Fatal("own signature refused")
	}
	for _, bad := range []string{"", sig[3:], "v2=" + sig[3:], sig[:len(sig)-2] + "00", "v1=zz"} {
		if Verify([]string{"sk_test_secret"}, c, bad) {
			t.Errorf("accepted %q", bad)
		}
	}
	if Verify([]string{"wrong"}, c, sig) {
		t.Error("wrong secret accepted")
	}
}
