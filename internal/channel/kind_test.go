package channel_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

type testKeys struct {
	MchID string `yaml:"mchid"`
	Limit int    `yaml:"limit"`
}

// stub is a minimal adapter for registry tests (no I/O is exercised).
type stub struct{ name string }

func (s stub) Name() string { return s.name }
func (stub) Pay(context.Context, channel.PayRequest) (channel.PayResult, error) {
	return channel.PayResult{}, nil
}
func (stub) QueryPayment(context.Context, string) (channel.PayResult, error) {
	return channel.PayResult{}, nil
}
func (stub) ClosePayment(context.Context, string) error { return nil }
func (stub) Refund(context.Context, channel.RefundRequest) (channel.RefundResult, error) {
	return channel.RefundResult{}, nil
}
func (stub) QueryRefund(context.Context, string) (channel.RefundResult, error) {
	return channel.RefundResult{}, nil
}
func (stub) Sign(context.Context, channel.SignRequest) (channel.SignResult, error) {
	return channel.SignResult{}, nil
}
func (stub) TerminateAgreement(context.Context, string) error { return nil }
func (stub) ParseCallback(http.Header, []byte) (channel.Callback, error) {
	return channel.Callback{}, nil
}
func (stub) CallbackAck(http.ResponseWriter, bool) {}

func TestRegistryBuildsByKind(t *testing.T) {
	var got testKeys
	channel.Register("test-online", channel.Factory{
		Configure: func(s *channel.Section) error {
			if err := s.Decode(&got); err != nil {
				return err
			}
			if got.MchID == "" {
				return s.Errorf("mchid", "required")
			}
			return nil
		},
		New: func(s channel.Section) (channel.Channel, error) { return stub{s.Name}, nil },
	})
	channel.Register("test-offline", channel.Factory{Configure: func(*channel.Section) error { return nil }})

	f, ok := channel.Lookup("test-online")
	if !ok || !f.Online() {
		t.Fatal("test-online not registered as online")
	}
	sec := channel.Section{Name: "c1", Kind: "test-online", Timeout: time.Second,
		Keys: map[string]any{"mchid": "1900000109", "limit": 3}}
	if err := f.Configure(&sec); err != nil || got.MchID != "1900000109" || got.Limit != 3 {
		t.Fatalf("configure: %v %+v", err, got)
	}
	c, err := channel.Build(sec)
	if err != nil || c.Name() != "c1" {
		t.Fatalf("build: %v %v", c, err)
	}
	if c, err := channel.Build(channel.Section{Name: "file", Kind: "test-offline"}); c != nil || err != nil {
		t.Fatalf("offline kind built %v %v", c, err)
	}
	if _, err := channel.Build(channel.Section{Name: "x", Kind: "carrier-pigeon"}); err == nil {
		t.Fatal("unknown kind built")
	}

	// Errors name the key: an unknown key, a key of the wrong type, a missing key.
	for _, tt := range []struct {
		keys map[string]any
		key  string
	}{
		{map[string]any{"mchid": "1", "secret_sauce": "x"}, "channels.c1.secret_sauce"},
		{map[string]any{"mchid": "1", "limit": "many"}, "channels.c1.limit"},
		{map[string]any{}, "channels.c1.mchid"},
	} {
		got = testKeys{}
		s := channel.Section{Name: "c1", Kind: "test-online", Keys: tt.keys}
		var ke *channel.KeyError
		if err := f.Configure(&s); !errors.As(err, &ke) || ke.Key != tt.key {
			t.Errorf("%v: got %v, want an error naming %s", tt.keys, err, tt.key)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	channel.Register("test-twice", channel.Factory{})
	defer func() {
		if recover() == nil {
			t.Fatal("second Register did not panic")
		}
	}()
	channel.Register("test-twice", channel.Factory{})
}
