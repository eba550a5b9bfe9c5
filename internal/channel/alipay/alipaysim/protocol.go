package alipaysim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/sandbox"
)

// Key set file names (Keygen, the simulator's key directory).
const (
	FileAppKey       = "app_private_key.pem"    // the app private key (gateway: signs requests)
	FileAppPub       = "app_public_key.pem"     // its public half (simulator: verifies requests)
	FileAlipayPub    = "alipay_public_key.pem"  // "Alipay's" public key (gateway: verifies answers)
	FileAlipayKey    = "alipay_private_key.pem" // its private half (simulator only)
	FileSimulatorIDs = "simulator.json"         // {"app_id": …}
	// DefaultAppID is the app id of a generated key set.
	DefaultAppID = "2021000000000000"
)

func init() {
	sandbox.RegisterProtocol(alipay.Kind, sandbox.Protocol{New: newFront, Keygen: Keygen})
}

// Keygen writes a matching key set into dir (created 0700; private keys 0600, never
// overwritten): an app key pair, a simulator ("Alipay") key pair and the app id.
func Keygen(dir string, in sandbox.KeygenInput) (sandbox.KeySet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
	}
	var ks sandbox.KeySet
	write := func(name string, b []byte, mode os.FileMode) error {
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return fmt.Errorf("keygen: %w (a key set is never overwritten)", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("keygen: %w", err)
		}
		ks.Files = append(ks.Files, p)
		return f.Close()
	}
	for _, pair := range []struct{ priv, pub string }{{FileAppKey, FileAppPub}, {FileAlipayKey, FileAlipayPub}} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
		}
		priv, err := alipay.MarshalPrivateKeyPEM(k)
		if err != nil {
			return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
		}
		pub, err := alipay.MarshalPublicKeyPEM(&k.PublicKey)
		if err != nil {
			return sandbox.KeySet{}, fmt.Errorf("keygen: %w", err)
		}
		if err := write(pair.priv, priv, 0o600); err != nil {
			return sandbox.KeySet{}, err
		}
		if err := write(pair.pub, pub, 0o644); err != nil {
			return sandbox.KeySet{}, err
		}
	}
	ids, _ := json.MarshalIndent(map[string]string{"app_id": DefaultAppID}, "", "  ")
	if err := write(FileSimulatorIDs, append(ids, '\n'), 0o644); err != nil {
		return sandbox.KeySet{}, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	name, url := in.Channel, in.SimulatorURL
	if name == "" {
		name = "alipay"
	}
	if url == "" {
		url = "http://127.0.0.1:9092"
	}
	ks.GatewayConfig = fmt.Sprintf(`%s:
  kind: alipay
  url: %s/gateway.do
  app_id: "%s"
  app_private_key_file: %s
  alipay_public_key_file: %s
  pay_methods: [wallet_qr, wallet_h5, web_page, withhold]
  fee_rate_bps: 60
`, name, url, DefaultAppID, filepath.Join(abs, FileAppKey), filepath.Join(abs, FileAlipayPub))
	ks.SimulatorFlags = fmt.Sprintf("--protocol alipay --keys %s --fee-rate-bps 60", abs)
	return ks, nil
}

// LoadKeys reads a key directory written by Keygen into simulator options.
func LoadKeys(dir string, o *Options) error {
	b, err := os.ReadFile(filepath.Join(dir, FileSimulatorIDs))
	if err != nil {
		return fmt.Errorf("alipay simulator keys: %w", err)
	}
	var ids struct {
		AppID string `json:"app_id"`
	}
	if err := json.Unmarshal(b, &ids); err != nil || ids.AppID == "" {
		return errors.New("alipay simulator keys: " + FileSimulatorIDs + " needs app_id")
	}
	o.AppID = ids.AppID
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("alipay simulator keys: %w", err)
		}
		return b, nil
	}
	if b, err = read(FileAppPub); err != nil {
		return err
	}
	if o.AppPublicKey, err = alipay.ParsePublicKey(b); err != nil {
		return fmt.Errorf("alipay simulator keys: %s: %v", FileAppPub, err)
	}
	if b, err = read(FileAlipayKey); err != nil {
		return err
	}
	if o.PrivateKey, err = alipay.ParsePrivateKey(b); err != nil {
		return fmt.Errorf("alipay simulator keys: %s: %v", FileAlipayKey, err)
	}
	return nil
}

// FromCore maps the sandbox's shared options (fault flags, auto-pay, fee, clock) onto the
// simulator's. The sandbox's state file, refund delay and callback delay do not apply: Alipay
// refunds synchronously and the simulator keeps its state in memory.
func FromCore(core sandbox.Options, publicURL string) Options {
	o := Options{PublicURL: publicURL, FeeRateBps: core.FeeRateBps, AutoPay: core.AutoPay, Clock: core.Clock,
		Latency: core.Latency, FailureRate: core.FailureRate, ErrorRate: core.SystemErrorRate,
		TimeoutRate: core.TimeoutRate, TimeoutHang: core.TimeoutHang,
		DuplicateNotifications: core.DuplicateCallbacks, DropNotifications: core.DropCallbacks,
		StatementDropRate: core.StatementDropRate, StatementAmountSkewRate: core.StatementAmountSkewRate,
		Seed: core.Seed, Logger: core.Logger}
	if core.CallbackScale > 0 {
		o.NotifyScale = 1 / core.CallbackScale
	}
	return o
}

// front adapts Server to sandbox.Front.
type front struct{ *Server }

// Run serves notifications and auto-pay until ctx ends, then stops them.
func (f front) Run(ctx context.Context) error {
	<-ctx.Done()
	f.Close()
	return nil
}

func newFront(dir string, core sandbox.Options, publicURL string) (sandbox.Front, error) {
	o := FromCore(core, publicURL)
	if err := LoadKeys(dir, &o); err != nil {
		return nil, err
	}
	s, err := NewServer(o)
	if err != nil {
		return nil, err
	}
	return front{s}, nil
}
