package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/gctune"
	"github.com/paygw/paygw/internal/sandbox"
)

func init() { register(newSandboxCmd) }

type sandboxOpts struct {
	Addr, GatewayURL, Secret, PublicURL, StateFile, Channel string
	Protocol, Keys                                          string
	SystemErrors, CallbackScale                             float64
	FeeRateBps                                              int64
	AutoPay, Latency, CallbackDelay, TimeoutHang, RefundDel time.Duration
	FailureRate, TimeoutRate, DupCallbacks, DropCallbacks   float64
	StatementDrop, StatementSkew                            float64
	Seed                                                    uint64
}

func rate01(name string, v float64) error {
	if v < 0 || v > 1 {
		return Usagef("--%s %v: want a probability between 0 and 1", name, v)
	}
	return nil
}

func (o *sandboxOpts) Validate() error {
	if o.Protocol != "" {
		if _, err := sandbox.LookupProtocol(o.Protocol); err != nil {
			return Usagef("--protocol: %v", err)
		}
		if o.Keys == "" {
			return Usagef("--keys DIR is required with --protocol %s (write one with `paygw sandbox keygen --protocol %s --dir DIR`)", o.Protocol, o.Protocol)
		}
	} else if o.Secret == "" {
		return Usagef("--secret is required (shared with the channel's secret in paygw's config)")
	}
	if o.CallbackScale < 0 {
		return Usagef("--callback-scale %v: want a positive factor", o.CallbackScale)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return Usagef("--addr %q: %v", o.Addr, err)
	}
	for name, v := range map[string]float64{"failure-rate": o.FailureRate, "timeout-rate": o.TimeoutRate,
		"duplicate-callbacks": o.DupCallbacks, "drop-callbacks": o.DropCallbacks,
		"statement-drop-rate": o.StatementDrop, "statement-amount-skew-rate": o.StatementSkew,
		"system-error-rate": o.SystemErrors} {
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
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the simulated third-party payment channel (its own state, never paygw's database)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return runSandbox(cmd.Context(), app, o, cmd.Flags().Changed("fee-rate-bps"))
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
	f.StringVar(&o.Protocol, "protocol", "", "speak a real channel's wire protocol: "+strings.Join(sandbox.Protocols(), ", ")+" (default: the sandbox's own)")
	f.StringVar(&o.Keys, "keys", "", "key directory of the --protocol simulator (written by `paygw sandbox keygen`)")
	f.Float64Var(&o.SystemErrors, "system-error-rate", 0, "probability a pay is recorded but answered with a server error (unknown outcome)")
	f.Float64Var(&o.CallbackScale, "callback-scale", 1, "compress the protocol's real callback retry schedule by this factor (0.001: 15s -> 15ms)")
	cmd.AddCommand(newSandboxKeygenCmd(app))
	return cmd
}

type sandboxKeygenOpts struct {
	Protocol, Dir, Channel, SimulatorURL string
}

func (o *sandboxKeygenOpts) Validate() error {
	if _, err := sandbox.LookupProtocol(o.Protocol); err != nil {
		return Usagef("--protocol: %v", err)
	}
	if o.Dir == "" {
		return Usagef("--dir is required")
	}
	return nil
}

func newSandboxKeygenCmd(app *App) *cobra.Command {
	var o sandboxKeygenOpts
	cmd := &cobra.Command{
		Use:   "keygen --protocol NAME --dir DIR",
		Short: "Write a matching key set for a protocol simulator and paygw, and print the config of both sides",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			p, _ := sandbox.LookupProtocol(o.Protocol)
			ks, err := p.Keygen(o.Dir, sandbox.KeygenInput{Channel: o.Channel, SimulatorURL: o.SimulatorURL})
			if err != nil {
				return err
			}
			app.Log.Info().Strs("files", ks.Files).Str("protocol", o.Protocol).Msg("key set written")
			fmt.Fprintf(app.Stdout, "# paygw config (under channels:)\n%s\n# simulator\npaygw sandbox %s\n", ks.GatewayConfig, ks.SimulatorFlags)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Protocol, "protocol", "", "protocol: "+strings.Join(sandbox.Protocols(), ", "))
	f.StringVar(&o.Dir, "dir", "", "directory to write the key files into")
	f.StringVar(&o.Channel, "channel-name", "", "paygw's name for the channel (default per protocol)")
	f.StringVar(&o.SimulatorURL, "simulator-url", "", "the simulator's base URL as paygw dials it")
	return cmd
}

func runSandbox(ctx context.Context, app *App, o sandboxOpts, feeSet bool) error {
	// A server of the same kind as serve (HTTP, JSON, signatures per request, a small live heap):
	// the same collector defaults; GOGC and GOMEMLIMIT in the environment win.
	logGC(app.Log.Debug(), gctune.Apply(app.getenv, gctune.Settings{}, gctune.CgroupMemoryMax))
	core := sandbox.Options{
		Secret: o.Secret, GatewayURL: o.GatewayURL, ChannelName: o.Channel, PublicURL: o.PublicURL,
		FeeRateBps: o.FeeRateBps, AutoPay: o.AutoPay, RefundDelay: o.RefundDel, StateFile: o.StateFile,
		Latency: o.Latency, FailureRate: o.FailureRate, TimeoutRate: o.TimeoutRate, TimeoutHang: o.TimeoutHang,
		DuplicateCallbacks: o.DupCallbacks, DropCallbacks: o.DropCallbacks, CallbackDelay: o.CallbackDelay,
		Seed: o.Seed, StatementDropRate: o.StatementDrop, StatementAmountSkewRate: o.StatementSkew,
		SystemErrorRate: o.SystemErrors, CallbackScale: o.CallbackScale, Logger: app.Log,
	}
	var srv sandbox.Front
	var err error
	if o.Protocol == "" {
		srv, err = sandbox.NewServer(core)
	} else {
		if !feeSet {
			core.FeeRateBps = 0 // the protocol's own default (its channel's usual rate)
		}
		p, _ := sandbox.LookupProtocol(o.Protocol)
		srv, err = p.New(o.Keys, core, o.PublicURL)
	}
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
	app.Log.Info().Str("addr", ln.Addr().String()).Str("protocol", o.Protocol).Int64("fee_rate_bps", core.FeeRateBps).Msg("sandbox channel listening")
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
