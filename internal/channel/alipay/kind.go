package alipay

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/paygw/paygw/internal/channel"
)

// Kind is the channel kind of this adapter in the config (`kind: alipay`).
const Kind = "alipay"

// DefaultGatewayURL is Alipay's production gateway.
const DefaultGatewayURL = "https://openapi.alipay.com/gateway.do"

// Keys are the kind's own config keys (API.md "Real channels").
type Keys struct {
	AppID               string `yaml:"app_id"`
	AppPrivateKeyFile   string `yaml:"app_private_key_file"`
	AlipayPublicKeyFile string `yaml:"alipay_public_key_file"`
}

func init() {
	channel.Register(Kind, channel.Factory{Configure: configure, New: build, Format: "alipay"})
}

func configure(s *channel.Section) error {
	var k Keys
	if err := s.Decode(&k); err != nil {
		return err
	}
	if s.URL == "" {
		s.URL = DefaultGatewayURL
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return s.Errorf("url", "%q is not an http(s) gateway URL without a query", s.URL)
	}
	if k.AppID == "" {
		return s.Errorf("app_id", "is required (the app id from the Alipay open platform console)")
	}
	if k.AppPrivateKeyFile == "" {
		return s.Errorf("app_private_key_file", "is required (the app private key, PEM)")
	}
	if k.AlipayPublicKeyFile == "" {
		return s.Errorf("alipay_public_key_file", "is required (the Alipay public key, PEM)")
	}
	if s.Secret != "" {
		return s.Errorf("secret", "is not used by kind alipay (it signs with app_private_key_file)")
	}
	if len(s.PayMethods) == 0 {
		s.PayMethods = append([]string(nil), PayMethods...)
	}
	for i, m := range s.PayMethods {
		ok := false
		for _, p := range PayMethods {
			ok = ok || m == p
		}
		if !ok {
			return s.Errorf(fmt.Sprintf("pay_methods[%d]", i), "kind alipay does not offer %s (it offers %s)", m, strings.Join(PayMethods, ", "))
		}
	}
	return nil
}

func build(s channel.Section) (channel.Channel, error) {
	var k Keys
	if err := s.Decode(&k); err != nil {
		return nil, err
	}
	priv, err := readKey(s, "app_private_key_file", k.AppPrivateKeyFile, func(b []byte) error {
		_, err := ParsePrivateKey(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	pk, _ := ParsePrivateKey(priv)
	pubb, err := readKey(s, "alipay_public_key_file", k.AlipayPublicKeyFile, func(b []byte) error {
		_, err := ParsePublicKey(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	pub, _ := ParsePublicKey(pubb)
	c, err := New(Config{Name: s.Name, GatewayURL: s.URL, AppID: k.AppID, PrivateKey: pk, PublicKey: pub, Timeout: s.Timeout})
	if err != nil {
		return nil, err
	}
	if s.PublicURL != "" {
		c.notifyURL = strings.TrimRight(s.PublicURL, "/") + "/v1/channels/" + s.Name + "/notify"
	}
	return c, nil
}

// readKey reads a key file; errors name the config key and the file, never the content.
func readKey(s channel.Section, key, path string, check func([]byte) error) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, s.Errorf(key, "cannot read %s: %v", path, err)
	}
	if err := check(b); err != nil {
		return nil, s.Errorf(key, "%s: %v", path, err)
	}
	return b, nil
}

// SetRefundPayment tells the adapter how to find the payment of a refund (paygw's store), which
// fastpay.refund.query needs beside out_request_no. The wiring calls it once, before serving.
func (c *Channel) SetRefundPayment(f func(ctx context.Context, refundID string) (string, error)) {
	c.cfg.RefundPayment = f
}
