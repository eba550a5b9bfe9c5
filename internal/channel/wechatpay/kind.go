// Package wechatpay is the channel kind `wechatpay`: WeChat Pay APIv3 for a directly connected
// merchant (直连商户) in public-key mode. The adapter signs requests with the merchant's API key
// (WECHATPAY2-SHA256-RSA2048), verifies every answer and callback with the WeChat Pay public key
// selected by Wechatpay-Serial, decrypts callback resources (AEAD_AES_256_GCM under the APIv3
// key), and downloads trade bills for reconciliation. The simulator (Simulator) speaks the same
// protocol from the channel's side, on top of the sandbox's state and fault machinery.
// Protocol facts: ../shared/research/channel-protocols.md §1.
package wechatpay

import (
	"crypto/rsa"
	"fmt"
	"os"
	"strings"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/paygw"
)

// Kind is the config kind of WeChat Pay channels.
const Kind = "wechatpay"

// DefaultURL is WeChat Pay's API host.
const DefaultURL = "https://api.mch.weixin.qq.com"

// Methods are the pay methods a wechatpay channel offers (its default pay_methods).
var Methods = []string{string(paygw.PayMethodWalletQR), string(paygw.PayMethodWalletH5), string(paygw.PayMethodWalletJSAPI)}

// Keys are a wechatpay channel's own config keys (API.md "Real channels").
type Keys struct {
	MchID                  string `yaml:"mchid"`
	AppID                  string `yaml:"appid"`
	MerchantSerialNo       string `yaml:"merchant_serial_no"`
	MerchantPrivateKeyFile string `yaml:"merchant_private_key_file"`
	PublicKeyID            string `yaml:"wechatpay_public_key_id"`
	PublicKeyFile          string `yaml:"wechatpay_public_key_file"`
	APIv3KeyFile           string `yaml:"apiv3_key_file"`
}

func init() {
	channel.Register(Kind, channel.Factory{Configure: configure, New: build, Format: "wechatpay"})
}

func configure(s *channel.Section) error {
	var k Keys
	if err := s.Decode(&k); err != nil {
		return err
	}
	if s.Secret != "" {
		return s.Errorf("secret", "a wechatpay channel has no shared secret: it signs with merchant_private_key_file")
	}
	if s.URL == "" {
		s.URL = DefaultURL
	}
	for key, v := range map[string]string{
		"mchid": k.MchID, "appid": k.AppID, "merchant_serial_no": k.MerchantSerialNo,
		"merchant_private_key_file": k.MerchantPrivateKeyFile, "wechatpay_public_key_id": k.PublicKeyID,
		"wechatpay_public_key_file": k.PublicKeyFile, "apiv3_key_file": k.APIv3KeyFile,
	} {
		if strings.TrimSpace(v) == "" {
			return s.Errorf(key, "required for kind wechatpay")
		}
	}
	if !strings.HasPrefix(k.PublicKeyID, "PUB_KEY_ID_") {
		return s.Errorf("wechatpay_public_key_id", "%q does not start with PUB_KEY_ID_ (public-key mode; keep the prefix)", k.PublicKeyID)
	}
	if len(s.PayMethods) == 0 {
		s.PayMethods = append([]string(nil), Methods...)
	}
	for i, m := range s.PayMethods {
		switch paygw.PayMethod(m) {
		case paygw.PayMethodWalletQR, paygw.PayMethodWalletH5, paygw.PayMethodWalletJSAPI:
		case paygw.PayMethodWithhold, paygw.PayMethodQuickPay:
			return s.Errorf(fmt.Sprintf("pay_methods[%d]", i), "%s is not offered by kind wechatpay: its withholding (委托代扣) is the v2 XML protocol, out of scope", m)
		default:
			return s.Errorf(fmt.Sprintf("pay_methods[%d]", i), "%s is not offered by kind wechatpay (it offers %s)", m, strings.Join(Methods, ", "))
		}
	}
	return nil
}

// build reads the key files and returns the adapter. Errors name the key, never its content.
func build(s channel.Section) (channel.Channel, error) {
	var k Keys
	if err := s.Decode(&k); err != nil {
		return nil, err
	}
	cfg := Config{Name: s.Name, BaseURL: s.URL, MchID: k.MchID, AppID: k.AppID, MerchantSerialNo: k.MerchantSerialNo,
		PublicKeyID: k.PublicKeyID, Timeout: s.Timeout}
	var err error
	if cfg.MerchantKey, err = ReadPrivateKey(k.MerchantPrivateKeyFile); err != nil {
		return nil, s.Errorf("merchant_private_key_file", "%v", err)
	}
	if cfg.PublicKey, err = ReadPublicKey(k.PublicKeyFile); err != nil {
		return nil, s.Errorf("wechatpay_public_key_file", "%v", err)
	}
	if cfg.APIv3Key, err = ReadAPIv3Key(k.APIv3KeyFile); err != nil {
		return nil, s.Errorf("apiv3_key_file", "%v", err)
	}
	return NewChannel(cfg)
}

// ReadPrivateKey reads a PKCS#8 PEM private key file.
func ReadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

// ReadPublicKey reads a PKIX PEM public key file.
func ReadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

// ReadAPIv3Key reads the APIv3 key file: exactly 32 bytes, a trailing newline ignored.
func ReadAPIv3Key(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) != 32 {
		return nil, fmt.Errorf("%s: the APIv3 key has %d bytes, want 32", path, len(b))
	}
	return b, nil
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
