package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Location().String() != "Asia/Shanghai" || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %s %s", c.Location(), c.PublicURL)
	}
	sb := c.Channels["sandbox"]
	if sb == nil || sb.URL != "http://127.0.0.1:9090" || sb.Format != "sandbox" || len(sb.PayMethods) != 4 {
		t.Fatalf("sandbox channel: %+v", sb)
	}
	if len(c.Notify.Schedule) != 15 || c.Notify.Schedule[0].D() != 15*time.Second || c.Notify.Schedule[14].D() != 6*time.Hour {
		t.Fatalf("notify schedule %v", c.Notify.Schedule)
	}
	if !c.Settle.Reconciled() || len(c.Routing["withhold"]) != 1 {
		t.Fatalf("settle/routing defaults")
	}
	if c.Server.MaxBodyBytes != 64<<10 {
		t.Fatal("body limit")
	}
	if strings.Contains(c.String(), "change-me") {
		t.Fatal("String() shows a secret")
	}
}

func TestParseAPIExample(t *testing.T) {
	c, err := Parse([]byte(`timezone: Asia/Shanghai
public_url: http://127.0.0.1:8080
channels:
  sandbox:
    kind: sandbox
    url: http://127.0.0.1:9090
    secret: change-me
    pay_methods: [wallet_qr, online_banking, quick_pay, withhold]
    fee_rate_bps: 30
notify:
  schedule: [15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 1h, 3h, 3h, 3h, 6h, 6h]
settle:
  require_reconciled: false
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Settle.Reconciled() || c.Channels["sandbox"].FeeRateBps != 30 {
		t.Fatalf("%+v", c.Settle)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{"timezone: Mars/Olympus", "timezone"},
		{"public_url: ftp://x", "public_url"},
		{"channels:\n  s:\n    fee_rate_bps: 10001", "channels.s.fee_rate_bps"},
		{"channels:\n  s:\n    kind: carrier-pigeon", "channels.s.kind"},
		{"channels:\n  s:\n    pay_methods: [cash]", "channels.s.pay_methods[0]"},
		{"channels:\n  s:\n    pay_methods: [wallet_jsapi]", "channels.s.pay_methods[0]"}, // the sandbox kind refuses it
		{"channels:\n  s:\n    mchid: \"1900000109\"", "channels.s.mchid"},                // not a sandbox key
		{"channels:\n  s:\n    url: ftp://x", "channels.s.url"},
		{"channels:\n  s:\n    format: mapped", "channels.s.mapping"},
		{"routing:\n  wallet_qr:\n    - {channel: nope}", "routing.wallet_qr[0].channel"},
		{"routing:\n  wallet_qr:\n    - {channel: sandbox, min_amount: 10, max_amount: 5}", "routing.wallet_qr[0].max_amount"},
		{"routing:\n  wallet_qr:\n    - {channel: sandbox, currencies: [XYZ]}", "routing.wallet_qr[0].currencies[0]"},
		{"risk:\n  blocked_client_ips: [not-an-ip]", "risk.blocked_client_ips[0]"},
		{"risk:\n  max_amount: -1", "risk.max_amount"},
		{"risk:\n  max_amount: 100000000001", "risk.max_amount"},
		{"risk:\n  merchant_daily_cap: 100000000001", "risk.merchant_daily_cap"},
		{"routing:\n  wallet_qr:\n    - {channel: sandbox, max_amount: 100000000001}", "routing.wallet_qr[0].max_amount"},
		{"notify:\n  schedule: [15s, 0s]", "notify.schedule[1]"},
		{"notify:\n  timeout: 30s", "notify.timeout"},
		{"notify:\n  retention: -1h", "notify.retention"},
		{"server:\n  gc_percent: -1", "server.gc_percent"},
		{"server:\n  memory_limit_mib: -5", "server.memory_limit_mib"},
		{"server:\n  memory_limit_mib: 9007199254740992", "server.memory_limit_mib"}, // would overflow in bytes
		{"sweeper:\n  schedule: [-1m]", "sweeper.schedule[0]"},
		{"reconcile:\n  pending_window: -5m", "reconcile.pending_window"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tt.want {
			t.Errorf("%q: got %v, want an error naming %s", tt.yaml, err, tt.want)
		}
	}
	// Unknown keys and malformed values are refused with their line.
	for _, bad := range []string{"timezon: UTC", "notify:\n  schedule: [15 seconds]", "settle:\n  require_reconciled: maybe"} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestNotifyRetention: notify.retention defaults to 30 days when absent, 0 is kept as "forever"
// (not replaced by the default), and a set value is read as written.
func TestNotifyRetention(t *testing.T) {
	if got := Default().Notify.KeepDelivered(); got != 720*time.Hour {
		t.Errorf("default retention %s, want 720h", got)
	}
	if got := (Notify{}).KeepDelivered(); got != 720*time.Hour {
		t.Errorf("retention of an unfinished Notify %s, want the default 720h", got)
	}
	for yaml, want := range map[string]time.Duration{
		"notify:\n  workers: 4":     720 * time.Hour,
		"notify:\n  retention: 0s":  0,
		"notify:\n  retention: 0":   0,
		"notify:\n  retention: 72h": 72 * time.Hour,
	} {
		c, err := Parse([]byte(yaml))
		if err != nil {
			t.Errorf("%q: %v", yaml, err)
			continue
		}
		if got := c.Notify.KeepDelivered(); got != want {
			t.Errorf("%q: retention %s, want %s", yaml, got, want)
		}
	}
	if _, err := Parse([]byte("notify:\n  retention: -1h")); err == nil || !strings.Contains(err.Error(), "notify.retention") {
		t.Errorf("negative retention: %v, want an error naming notify.retention", err)
	}
}

func TestLoadFixtures(t *testing.T) {
	for _, f := range []string{"demo.yaml", "production.yaml"} {
		if _, err := Load(filepath.Join("..", "..", "fixtures", "config", f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	c, err := Load("")
	if err != nil || c.Channels["sandbox"] == nil {
		t.Fatal("empty path is the defaults")
	}
}

// TestRiskDefaults: the defaults README documents are the real ones: max_amount 5,000,000 minor
// units and routes that take CNY only; the limits may go up to money.MaxAmount and no further.
func TestRiskDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Risk.MaxAmount != 5_000_000 || c.Risk.DailyCap != 0 || c.Risk.PayerVelocity != 0 || c.Risk.VelocityWindow.D() != time.Hour {
		t.Fatalf("risk defaults %+v", c.Risk)
	}
	for method, routes := range c.Routing {
		for _, r := range routes {
			if len(r.Currencies) != 1 || r.Currencies[0] != "CNY" {
				t.Errorf("default route %s %s currencies %v, want [CNY]", method, r.Channel, r.Currencies)
			}
		}
	}
	c, err = Parse([]byte("risk:\n  max_amount: 100000000000\n  merchant_daily_cap: 100000000000\n"))
	if err != nil || c.Risk.MaxAmount != 100_000_000_000 {
		t.Fatalf("max_amount at money.MaxAmount: %v %+v", err, c.Risk)
	}
}
