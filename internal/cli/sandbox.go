package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/sandbox"
)

func init() { register(newSandboxCmd) }

type sandboxOpts struct {
	Addr, GatewayURL, Secret, PublicURL, StateFile, Channel string
	FeeRateBps                                              int64
	AutoPay, Latency, CallbackDelay, TimeoutHang, RefundDel time.Duration
	FailureRate, TimeoutRate, DupCallbacks, DropCallbacks   float64
	StatementDrop, StatementSkew                            float64
	Seed                                                    uint64
	Protocol                                                string // sandbox (paygw's own) or alipay
	feeSet                                                  bool
}

func rate01(name string, v float64) error {
	if v < 0 || v > 1 {
		return Usagef("--%s %v: want a probability between 0 and 1", name, v)
	}
	return nil
}

func (o *sandboxOpts) Validate() error {
	if o.Secret == "" {
		return Usagef("--secret is required (shared with the channel's secret in paygw's config)")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return Usagef("--addr %q: %v", o.Addr, err)
	}
	for name, v := range map[string]float64{"failure-rate": o.FailureRate, "timeout-rate": o.TimeoutRate,
		"duplicate-callbacks": o.DupCallbacks, "drop-callbacks": o.DropCallbacks,
		"statement-drop-rate": o.StatementDrop, "statement-amount-skew-rate": o.StatementSkew} {
		if err := rate01(name, v); err != nil {
			return err
		}
	}
	if o.FeeRateBps < 0 || o.FeeRateBps > 10000 {
		return Usagef("--fee-rate-bps %d: want 0..10000", o.FeeRateBps)
	}
	return nil
}

func newSandboxCmd(app *App) *cobra.Command {
	var o sandboxOpts
	var ao alipaySandboxOpts
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the simulated third-party payment channel (its own state, never paygw's database)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := protocolFlags(cmd.Flags(), o.Protocol); err != nil {
				return err
			}
			if o.Protocol == "alipay" {
				o.feeSet = cmd.Flags().Changed("fee-rate-bps")
				if o.Secret == "" {
					o.Secret = "-" // alipay signs with keys, not a shared secret
				}
				if err := o.Validate(); err != nil {
					return err
				}
				return runAlipaySandbox(cmd.Context(), app, o, ao)
			}
			if o.Protocol != "sandbox" {
				return Usagef("--protocol %q: want sandbox or alipay", o.Protocol)
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return runSandbox(cmd.Context(), app, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", ":9090", "listen address")
	f.StringVar(&o.GatewayURL, "gateway-url", "http://127.0.0.1:8080", "paygw's base URL for callbacks when a request names none")
	f.StringVar(&o.Secret, "secret", "", "HMAC secret shared with paygw (channels.NAME.secret)")
	f.StringVar(&o.PublicURL, "public-url", "", "the sandbox's own base URL for pay_url (default: from the request)")
	f.StringVar(&o.Channel, "channel-name", "sandbox", "paygw's name for this channel")
	f.StringVar(&o.StateFile, "state-file", "", "persist state to this file (JSON lines) across restarts")
	f.Int64Var(&o.FeeRateBps, "fee-rate-bps", 30, "the sandbox's fee in basis points")
	f.DurationVar(&o.AutoPay, "auto-pay", 0, "pay every redirect payment by itself after this delay (e.g. 2s)")
	f.DurationVar(&o.RefundDel, "refund-delay", time.Second, "how long a refund stays processing")
	f.DurationVar(&o.Latency, "latency", 0, "added latency on every answer")
	f.Float64Var(&o.FailureRate, "failure-rate", 0, "probability a pay/withhold is declined")
	f.Float64Var(&o.TimeoutRate, "timeout-rate", 0, "probability a pay is executed but its answer hangs (unknown outcome)")
	f.DurationVar(&o.TimeoutHang, "timeout-hang", 30*time.Second, "how long a timed-out answer hangs")
	f.Float64Var(&o.DupCallbacks, "duplicate-callbacks", 0, "probability a callback is sent twice")
	f.Float64Var(&o.DropCallbacks, "drop-callbacks", 0, "probability a callback attempt is dropped")
	f.DurationVar(&o.CallbackDelay, "callback-delay", 0, "delay before the first callback attempt")
	f.Float64Var(&o.StatementDrop, "statement-drop-rate", 0, "probability a statement row is left out")
	f.Float64Var(&o.StatementSkew, "statement-amount-skew-rate", 0, "probability a statement row's amount is off")
	f.Uint64Var(&o.Seed, "seed", 0, "seed for repeatable faults (0: random)")
	f.StringVar(&o.Protocol, "protocol", "sandbox", "wire protocol: sandbox (paygw's own) or alipay (Alipay OpenAPI, RSA2)")
	addAlipaySandboxFlags(f, &ao)
	cmd.AddCommand(newAlipayKeysetCmd(app))
	return cmd
}

func runSandbox(ctx context.Context, app *App, o sandboxOpts) error {
	srv, err := sandbox.NewServer(sandbox.Options{
		Secret: o.Secret, GatewayURL: o.GatewayURL, ChannelName: o.Channel, PublicURL: o.PublicURL,
		FeeRateBps: o.FeeRateBps, AutoPay: o.AutoPay, RefundDelay: o.RefundDel, StateFile: o.StateFile,
		Latency: o.Latency, FailureRate: o.FailureRate, TimeoutRate: o.TimeoutRate, TimeoutHang: o.TimeoutHang,
		DuplicateCallbacks: o.DupCallbacks, DropCallbacks: o.DropCallbacks, CallbackDelay: o.CallbackDelay,
		Seed: o.Seed, StatementDropRate: o.StatementDrop, StatementAmountSkewRate: o.StatementSkew,
		Logger: app.Log,
	})
	if err != nil {
		return Usagef("sandbox: %v", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	app.Log.Info().Str("addr", ln.Addr().String()).Int64("fee_rate_bps", o.FeeRateBps).Msg("sandbox channel listening")
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
	}
	stop()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
