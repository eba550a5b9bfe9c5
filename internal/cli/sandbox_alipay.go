package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/channel/alipay/alipaysim"
)

// alipaySandboxOpts are the flags of `paygw sandbox --protocol alipay` beyond the shared ones.
type alipaySandboxOpts struct {
	AppID, AppPublicKeyFile, PrivateKeyFile string
	NotifyScale, ErrorRate                  float64
}

func addAlipaySandboxFlags(f *pflag.FlagSet, o *alipaySandboxOpts) {
	f.StringVar(&o.AppID, "app-id", "", "alipay: the app id the simulator serves (channels.NAME.app_id)")
	f.StringVar(&o.AppPublicKeyFile, "app-public-key-file", "", "alipay: the app public key (PEM) that verifies paygw's requests")
	f.StringVar(&o.PrivateKeyFile, "private-key-file", "", "alipay: the simulator's private key (PEM) that signs answers and notifications")
	f.Float64Var(&o.NotifyScale, "notify-scale", 1, "alipay: divide Alipay's notification retry schedule (4m,10m,10m,1h,2h,6h,15h) by this")
	f.Float64Var(&o.ErrorRate, "error-rate", 0, "alipay: probability a pay call answers ACQ.SYSTEM_ERROR (unknown outcome)")
}

// protocolFlags refuses flags the chosen protocol does not use, naming them.
func protocolFlags(f *pflag.FlagSet, protocol string) error {
	only := map[string]string{
		"state-file": "sandbox", "refund-delay": "sandbox", "callback-delay": "sandbox", "gateway-url": "sandbox",
		"channel-name": "sandbox", "secret": "sandbox",
		"app-id": "alipay", "app-public-key-file": "alipay", "private-key-file": "alipay", "notify-scale": "alipay", "error-rate": "alipay",
	}
	var err error
	f.Visit(func(fl *pflag.Flag) {
		if p, ok := only[fl.Name]; ok && p != protocol && err == nil {
			err = Usagef("--%s is for --protocol %s, not %s", fl.Name, p, protocol)
		}
	})
	return err
}

func readPEM(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, Usagef("--%s is required with --protocol alipay", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Usagef("--%s: %v", flag, err)
	}
	return b, nil
}

func runAlipaySandbox(ctx context.Context, app *App, o sandboxOpts, ao alipaySandboxOpts) error {
	if ao.AppID == "" {
		return Usagef("--app-id is required with --protocol alipay")
	}
	if err := rate01("error-rate", ao.ErrorRate); err != nil {
		return err
	}
	if ao.NotifyScale <= 0 {
		return Usagef("--notify-scale %v: want a positive number", ao.NotifyScale)
	}
	b, err := readPEM("app-public-key-file", ao.AppPublicKeyFile)
	if err != nil {
		return err
	}
	pub, err := alipay.ParsePublicKey(b)
	if err != nil {
		return Usagef("--app-public-key-file %s: %v", ao.AppPublicKeyFile, err)
	}
	if b, err = readPEM("private-key-file", ao.PrivateKeyFile); err != nil {
		return err
	}
	priv, err := alipay.ParsePrivateKey(b)
	if err != nil {
		return Usagef("--private-key-file %s: %v", ao.PrivateKeyFile, err)
	}
	fee := o.FeeRateBps
	if fee == 30 && !o.feeSet {
		fee = 60
	}
	srv, err := alipaysim.NewServer(alipaysim.Options{AppID: ao.AppID, AppPublicKey: pub, PrivateKey: priv,
		PublicURL: o.PublicURL, FeeRateBps: fee, AutoPay: o.AutoPay, NotifyScale: ao.NotifyScale,
		Latency: o.Latency, FailureRate: o.FailureRate, ErrorRate: ao.ErrorRate, TimeoutRate: o.TimeoutRate,
		TimeoutHang: o.TimeoutHang, DuplicateNotifications: o.DupCallbacks, DropNotifications: o.DropCallbacks,
		StatementDropRate: o.StatementDrop, StatementAmountSkewRate: o.StatementSkew, Seed: o.Seed, Logger: app.Log})
	if err != nil {
		return Usagef("sandbox: %v", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	app.Log.Info().Str("addr", ln.Addr().String()).Str("protocol", "alipay").Str("app_id", ao.AppID).
		Int64("fee_rate_bps", fee).Msg("alipay simulator listening; gateway at /gateway.do")
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// alipayKeysetOpts are the flags of `paygw sandbox keyset --protocol alipay`.
type alipayKeysetOpts struct {
	Dir, AppID, URL, Channel string
}

// alipayKeyset writes an app key pair and a simulator ("Alipay") key pair under dir and returns
// the config of both sides. Existing files are never overwritten.
func alipayKeyset(o alipayKeysetOpts) (string, error) {
	if o.Dir == "" {
		return "", Usagef("--dir is required")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return "", err
	}
	files := map[string]string{}
	for _, who := range []string{"app", "alipay"} {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		privPEM, err := alipay.MarshalPrivateKeyPEM(key)
		if err != nil {
			return "", err
		}
		pubPEM, err := alipay.MarshalPublicKeyPEM(&key.PublicKey)
		if err != nil {
			return "", err
		}
		for name, body := range map[string][]byte{who + "_private_key.pem": privPEM, who + "_public_key.pem": pubPEM} {
			p := filepath.Join(o.Dir, name)
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return "", Usagef("--dir: %v (a key set is never overwritten)", err)
			}
			if _, err := f.Write(body); err != nil {
				f.Close()
				return "", err
			}
			if err := f.Close(); err != nil {
				return "", err
			}
			abs, _ := filepath.Abs(p)
			files[name] = abs
		}
	}
	return fmt.Sprintf(`# paygw config (channels section):
channels:
  %s:
    kind: alipay
    url: %s
    app_id: "%s"
    app_private_key_file: %s
    alipay_public_key_file: %s
    pay_methods: [wallet_qr, wallet_h5, web_page, withhold]
    fee_rate_bps: 60
# simulator:
#   paygw sandbox --protocol alipay --addr 127.0.0.1:9091 --app-id %s \
#     --app-public-key-file %s --private-key-file %s
`, o.Channel, o.URL, o.AppID, files["app_private_key.pem"], files["alipay_public_key.pem"],
		o.AppID, files["app_public_key.pem"], files["alipay_private_key.pem"]), nil
}

func newAlipayKeysetCmd(app *App) *cobra.Command {
	var o alipayKeysetOpts
	var protocol string
	cmd := &cobra.Command{
		Use:   "keyset",
		Short: "Write a matching key set for paygw and a protocol simulator, and print the config of both sides",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if protocol != "alipay" {
				return Usagef("--protocol %q: keyset knows alipay", protocol)
			}
			out, err := alipayKeyset(o)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(app.Stdout, out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&protocol, "protocol", "alipay", "the simulator protocol")
	f.StringVar(&o.Dir, "dir", "", "directory for the key files (created 0700; files 0600, never overwritten)")
	f.StringVar(&o.AppID, "app-id", "2021000000000000", "the app id both sides use")
	f.StringVar(&o.URL, "url", "http://127.0.0.1:9091/gateway.do", "the simulator's gateway URL as paygw reaches it")
	f.StringVar(&o.Channel, "channel-name", "alipay", "paygw's name for the channel")
	return cmd
}
