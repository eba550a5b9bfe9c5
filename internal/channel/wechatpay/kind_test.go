package wechatpay_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/channel/wechatpay"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/sandbox"
)

func section(dir string, extra string) string {
	return fmt.Sprintf(`channels:
  wxpay:
    kind: wechatpay
    url: http://127.0.0.1:9091
    mchid: "1900000109"
    appid: "wxd678efh567hg6787"
    merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    merchant_private_key_file: %[1]s/apiclient_key.pem
    wechatpay_public_key_id: PUB_KEY_ID_0114232134912410000000000000
    wechatpay_public_key_file: %[1]s/pub_key.pem
    apiv3_key_file: %[1]s/apiv3_key
%[2]s`, dir, extra)
}

func TestConfigOfTheKind(t *testing.T) {
	dir := t.TempDir()
	if _, err := wechatpay.Keygen(dir, sandbox.KeygenInput{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(section(dir, "")))
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Channels["wxpay"]
	if !ch.Online() || ch.Format != "wechatpay" || strings.Join(ch.PayMethods, ",") != "wallet_qr,wallet_h5,wallet_jsapi" {
		t.Fatalf("defaults: %+v", ch)
	}
	if len(cfg.Routing["wallet_jsapi"]) != 1 || cfg.Routing["wallet_jsapi"][0].Channel != "wxpay" {
		t.Fatalf("routing: %+v", cfg.Routing)
	}
	c, err := channel.Build(ch.Section())
	if err != nil || c.Name() != "wxpay" {
		t.Fatalf("build: %v %v", c, err)
	}
	if _, ok := c.(channel.StatementFetcher); !ok {
		t.Fatal("wechatpay serves no statements")
	}

	// Config load: errors name the key.
	for _, tt := range []struct{ extra, key string }{
		{"    pay_methods: [wallet_qr, withhold]\n", "channels.wxpay.pay_methods[1]"},
		{"    pay_methods: [quick_pay]\n", "channels.wxpay.pay_methods[0]"},
		{"    pay_methods: [web_page]\n", "channels.wxpay.pay_methods[0]"},
		{"    secret: x\n", "channels.wxpay.secret"},
		{"    api_key: x\n", "channels.wxpay.api_key"},
	} {
		_, err := config.Parse([]byte(section(dir, tt.extra)))
		var ke *config.KeyError
		if !errors.As(err, &ke) || ke.Key != tt.key {
			t.Errorf("%q: %v, want an error naming %s", tt.extra, err, tt.key)
		}
	}
	if _, err := config.Parse([]byte(section(dir, "    pay_methods: [withhold]\n"))); err == nil || !strings.Contains(err.Error(), "v2 XML") {
		t.Errorf("withhold refusal does not say why: %v", err)
	}
	for _, key := range []string{"mchid", "appid", "merchant_serial_no", "merchant_private_key_file", "wechatpay_public_key_id", "wechatpay_public_key_file", "apiv3_key_file"} {
		var lines []string
		for _, l := range strings.Split(section(dir, ""), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), key+":") {
				lines = append(lines, l)
			}
		}
		_, err := config.Parse([]byte(strings.Join(lines, "\n")))
		var ke *config.KeyError
		if !errors.As(err, &ke) || ke.Key != "channels.wxpay."+key {
			t.Errorf("without %s: %v", key, err)
		}
	}
	bad := strings.Replace(section(dir, ""), "PUB_KEY_ID_0114232134912410000000000000", "0114232134912410000000000000", 1)
	if _, err := config.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "wechatpay_public_key_id") {
		t.Errorf("public key id without prefix: %v", err)
	}

	// Key files are read when the adapter is built: a missing or wrong file names the key, not
	// the key material.
	os.WriteFile(filepath.Join(dir, "short_apiv3"), []byte("0123456789"), 0o600)
	for _, tt := range []struct{ from, to, key string }{
		{dir + "/apiclient_key.pem", dir + "/missing.pem", "merchant_private_key_file"},
		{dir + "/apiclient_key.pem", dir + "/pub_key.pem", "merchant_private_key_file"},
		{dir + "/pub_key.pem", dir + "/apiclient_key.pem", "wechatpay_public_key_file"},
		{dir + "/apiv3_key", dir + "/short_apiv3", "apiv3_key_file"},
	} {
		cfg, err := config.Parse([]byte(strings.Replace(section(dir, ""), tt.from, tt.to, 1)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = channel.Build(cfg.Channels["wxpay"].Section())
		if err == nil || !strings.Contains(err.Error(), "channels.wxpay."+tt.key) || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%s -> %s: %v", tt.from, tt.to, err)
		}
	}
}
