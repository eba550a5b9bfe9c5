// Package gwtest starts, for tests, a real gateway and a real sandbox channel on loopback
// (httptest servers) over a real store, and a merchant client that signs requests. Used by the
// end-to-end tests of the gateway, reconciliation and settlement.
package gwtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/client"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/httpapi"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
)

// Secret is the sandbox channel secret tests use.
const Secret = "sandbox-test-secret"

// Options tune Start.
type Options struct {
	// Sandbox options for the channel "sandbox" (Secret and GatewayURL are filled in).
	Sandbox sandbox.Options
	// ExtraYAML is appended to the generated config (e.g. risk rules, routing). It follows the
	// sandboxes' sections under `channels:`, so lines indented by two spaces add channels
	// (of any kind: they are built by their kind's factory).
	ExtraYAML string
	// Channels lists extra channel names served by their own sandboxes ("sandbox" always exists).
	Channels []string
	// Now is the gateway's clock (default time.Now).
	Now func() time.Time
	// Log receives the gateway's logs (default: discarded).
	Log *zerolog.Logger
	// Metrics, when set, are the gateway's collectors (register them to read them).
	Metrics *gateway.Metrics
	// ChannelURL, when set, gives the URL the gateway uses for a channel instead of its
	// sandbox's (e.g. a proxy in front of it that holds or drops answers).
	ChannelURL func(name, sandboxURL string) string
}

func (o Options) channelURL(name, sandboxURL string) string {
	if o.ChannelURL == nil {
		return sandboxURL
	}
	return o.ChannelURL(name, sandboxURL)
}

// Env is a running gateway with sandboxes.
type Env struct {
	Store     *store.Store
	Config    *config.Config
	Gateway   *gateway.Service
	Server    *httptest.Server
	Sandboxes map[string]*sandbox.Server
	SandboxTS map[string]*httptest.Server
	Merchant  paygw.Merchant
	Client    *client.Client
}

// Start runs a gateway over s with a sandbox channel per name and one merchant.
func Start(t testing.TB, s *store.Store, o Options) *Env {
	t.Helper()
	var h http.Handler
	var mu sync.RWMutex
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		hh := h
		mu.RUnlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(gw.Close)
	e := &Env{Store: s, Server: gw, Sandboxes: map[string]*sandbox.Server{}, SandboxTS: map[string]*httptest.Server{}}
	names := append([]string{"sandbox"}, o.Channels...)
	yaml := fmt.Sprintf("timezone: Asia/Shanghai\npublic_url: %s\nsweeper:\n  schedule: [100ms, 200ms, 500ms]\n  redirect_schedule: [100ms, 200ms, 500ms]\n  interval: 50ms\nchannels:\n", gw.URL)
	for _, name := range names {
		so := o.Sandbox
		so.Secret = Secret
		so.GatewayURL = gw.URL
		so.ChannelName = name
		if so.CallbackBackoff == nil {
			so.CallbackBackoff = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}
		}
		if so.RefundDelay == 0 {
			so.RefundDelay = 20 * time.Millisecond
		}
		srv, err := sandbox.NewServer(so)
		if err != nil {
			t.Fatalf("sandbox %s: %v", name, err)
		}
		ts := httptest.NewServer(srv.Handler())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = srv.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; ts.Close() })
		e.Sandboxes[name], e.SandboxTS[name] = srv, ts
		yaml += fmt.Sprintf("  %s:\n    kind: sandbox\n    url: %s\n    secret: %s\n    fee_rate_bps: 30\n    timeout: 1s\n    breaker:\n      consecutive_failures: 3\n      open_for: 1m\n", name, o.channelURL(name, ts.URL), Secret)
	}
	yaml += o.ExtraYAML
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	e.Config = cfg
	// Every online channel of the config, built by its kind's factory (as `paygw serve` does):
	// the sandboxes above and whatever ExtraYAML adds (e.g. a wechatpay channel on a simulator).
	var chs []channel.Channel
	for _, name := range cfg.ChannelNames() {
		ch, err := channel.Build(cfg.Channels[name].Section())
		if err != nil {
			t.Fatal(err)
		}
		if ch != nil {
			chs = append(chs, ch)
		}
	}
	reg, err := channel.NewRegistry(chs...)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	if o.Log != nil {
		log = *o.Log
	}
	g, err := gateway.New(s, cfg, reg, gateway.Options{Now: o.Now, Log: log, Metrics: o.Metrics})
	if err != nil {
		t.Fatal(err)
	}
	e.Gateway = g
	srv := httpapi.New(g, s, httpapi.Options{Log: log, RateLimit: cfg.Server.RateLimit, RateBurst: cfg.Server.RateBurst,
		TrustedProxyHops: cfg.Server.TrustedProxyHops})
	srv.SetReady(true)
	mu.Lock()
	h = srv.Handler()
	mu.Unlock()
	e.Merchant, e.Client = e.NewMerchant(t, "Test Merchant", 60)
	return e
}

// NewMerchant onboards another merchant and returns its client.
func (e *Env) NewMerchant(t testing.TB, name string, rateBps int64) (paygw.Merchant, *client.Client) {
	t.Helper()
	m := paygw.Merchant{ID: paygw.NewID("mch"), Name: name, Status: "active", FeePlan: paygw.FeePlan{RateBps: rateBps},
		BankAccount: paygw.BankAccount{Name: name, Bank: "Test Bank", AccountNo: "6222021234567890123"}, CreatedAt: time.Now()}
	secret := "sk_test_" + m.ID
	if err := e.Store.CreateMerchant(context.Background(), m, secret); err != nil {
		t.Fatal(err)
	}
	c := client.New(e.Server.URL, m.ID, secret)
	return m, c
}

// Sweep runs the gateway's sweeper until fn reports done or the deadline passes.
func (e *Env) Sweep(t testing.TB, within time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, err := e.Gateway.Sweep(context.Background()); err != nil {
			t.Fatalf("sweep: %v", err)
		}
		if done() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not done within %s", within)
}

// Eventually polls cond until it holds or within passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
