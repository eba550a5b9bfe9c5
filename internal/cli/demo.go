package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/demo"
)

func init() { register(newDemoCmd) }

type demoOpts struct {
	Dir         string
	Payments    int
	Concurrency int
	Seed        uint64
}

// Validate checks the flags.
func (o *demoOpts) Validate() error {
	if o.Dir == "" {
		return Usagef("--dir is required")
	}
	if o.Payments < 20 || o.Payments > 20000 {
		return Usagef("--payments %d: want 20..20000", o.Payments)
	}
	if o.Concurrency < 1 || o.Concurrency > 256 {
		return Usagef("--concurrency %d: want 1..256", o.Concurrency)
	}
	if ents, err := os.ReadDir(o.Dir); err == nil && len(ents) > 0 {
		return Usagef("--dir %s is not empty: the demo writes a fresh database there", o.Dir)
	}
	return nil
}

func newDemoCmd(app *App) *cobra.Command {
	var o demoOpts
	cmd := &cobra.Command{
		Use:   "demo --dir DIR",
		Short: "Run the whole daily cycle on this machine (make demo)",
		Long: `demo runs paygw end to end with this binary: it migrates DIR/paygw.db, starts 'paygw sandbox'
and 'paygw serve' on free loopback ports, onboards two merchants, takes --payments payments
(redirect and withhold, refunds, declines, closed checkouts, channel timeouts), receives the
notifications on a local receiver that verifies their signatures, injects one discrepancy into
the sandbox's statement, then runs reconcile, settle --allow-open-day, report daily and verify,
prints a summary and stops everything. The global --db and --config are not used: the demo
writes its own under DIR. Subprocess logs go to DIR/logs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("demo: find this binary: %w", err)
			}
			sum, err := demo.Run(cmd.Context(), demo.Options{
				Dir: o.Dir, Exe: exe, Payments: o.Payments, Concurrency: o.Concurrency, Seed: o.Seed,
				Progress: app.Stdout, Now: app.Now,
			})
			if err != nil {
				if sum != nil && sum.Logs != "" {
					return fmt.Errorf("%w\n(subprocess logs: %s)", err, sum.Logs)
				}
				return err
			}
			sum.Print(app.Stdout)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "demo-out", "output directory (must be empty or absent)")
	f.IntVar(&o.Payments, "payments", 300, "how many payments to take")
	f.IntVar(&o.Concurrency, "concurrency", 12, "concurrent merchant clients")
	f.Uint64Var(&o.Seed, "seed", 0, "seed for amounts, pay methods and sandbox faults (0: random)")
	return cmd
}
