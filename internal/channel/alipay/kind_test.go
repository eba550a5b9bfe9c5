package alipay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/channel"
)

// TestKindConfig is the table of kind alipay's config rules: every error names its key.
func TestKindConfig(t *testing.T) {
	dir := t.TempDir()
	priv, _ := MarshalPrivateKeyPEM(researchKey(t))
	pub, _ := MarshalPublicKeyPEM(&researchKey(t).PublicKey)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	privF, pubF := write("app.pem", priv), write("ali.pem", pub)
	badF := write("bad.pem", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	good := func() channel.Section {
		return channel.Section{Name: "ali", Kind: Kind, PublicURL: "http://127.0.0.1:8080",
			Keys: map[string]any{"app_id": "2021000000000000", "app_private_key_file": privF, "alipay_public_key_file": pubF}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*channel.Section)
		want string // "" = accepted and built
	}{
		{"defaults", func(*channel.Section) {}, ""},
		{"unknown key", func(s *channel.Section) { s.Keys["mchid"] = "1" }, "channels.ali.mchid"},
		{"no app_id", func(s *channel.Section) { delete(s.Keys, "app_id") }, "channels.ali.app_id"},
		{"no private key", func(s *channel.Section) { delete(s.Keys, "app_private_key_file") }, "channels.ali.app_private_key_file"},
		{"no public key", func(s *channel.Section) { delete(s.Keys, "alipay_public_key_file") }, "channels.ali.alipay_public_key_file"},
		{"secret given", func(s *channel.Section) { s.Secret = "x" }, "channels.ali.secret"},
		{"bad url", func(s *channel.Section) { s.URL = "openapi.alipay.com" }, "channels.ali.url"},
		{"jsapi", func(s *channel.Section) { s.PayMethods = []string{"wallet_qr", "wallet_jsapi"} }, "channels.ali.pay_methods[1]"},
		{"missing key file", func(s *channel.Section) { s.Keys["app_private_key_file"] = filepath.Join(dir, "none.pem") }, "channels.ali.app_private_key_file: cannot read"},
		{"bad public key", func(s *channel.Section) { s.Keys["alipay_public_key_file"] = badF }, "channels.ali.alipay_public_key_file: " + badF},
		{"public key as private", func(s *channel.Section) { s.Keys["app_private_key_file"] = pubF }, "channels.ali.app_private_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mod(&s)
			f, _ := channel.Lookup(Kind)
			err := f.Configure(&s)
			var ch channel.Channel
			if err == nil {
				ch, err = channel.Build(s)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.URL != DefaultGatewayURL || len(s.PayMethods) != 4 || ch.Name() != "ali" {
					t.Fatalf("defaults: %+v", s)
				}
				if ch.(*Channel).notifyURL != "http://127.0.0.1:8080/v1/channels/ali/notify" {
					t.Fatalf("notify url %s", ch.(*Channel).notifyURL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), "MII") {
				t.Fatalf("error shows key material: %v", err)
			}
		})
	}
}
