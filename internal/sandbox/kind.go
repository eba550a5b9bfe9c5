package sandbox

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/paygw/paygw/internal/channel"
)

// Kind is the channel kind of the sandbox adapter in the config (`kind: sandbox`). It is the
// default kind: a channel without `kind`, and the built-in configuration's one channel.
const Kind = "sandbox"

// Default config values of a sandbox channel.
const (
	DefaultURL    = "http://127.0.0.1:9090"
	DefaultSecret = "change-me"
)

// Methods are the pay methods the sandbox offers (a channel's default pay_methods).
var Methods = []string{MethodWalletQR, MethodOnlineBanking, MethodQuickPay, MethodWithhold}

func init() {
	channel.Register(Kind, channel.Factory{
		Configure: configure,
		New: func(s channel.Section) (channel.Channel, error) {
			return NewChannel(s.Name, s.URL, s.Secret, WithTimeout(s.Timeout))
		},
		Format:  "sandbox",
		Default: true,
	})
}

func configure(s *channel.Section) error {
	if err := s.Decode(&struct{}{}); err != nil {
		return err
	}
	if s.URL == "" {
		s.URL = DefaultURL
	}
	if s.Secret == "" {
		s.Secret = DefaultSecret
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s.Errorf("url", "%q is not an http(s) URL", s.URL)
	}
	if len(s.PayMethods) == 0 {
		s.PayMethods = append([]string(nil), Methods...)
	}
	for i, m := range s.PayMethods {
		if !slices.Contains(Methods, m) {
			return s.Errorf(fmt.Sprintf("pay_methods[%d]", i), "the sandbox does not offer %s (it offers %v)", m, Methods)
		}
	}
	return nil
}
