package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/store"
)

func init() { register(newVerifyCmd) }

type verifyOpts struct {
	Limit int
	JSON  bool
}

func (o *verifyOpts) Validate() error {
	if o.Limit < 1 {
		return Usagef("--limit %d: must be at least 1", o.Limit)
	}
	return nil
}

// verifyJSON is verify's --json output.
type verifyJSON struct {
	OK       bool                `json:"ok"`
	Checks   []verifyCheckJSON   `json:"checks"`
	Problems []verifyProblemJSON `json:"problems"`
}

type verifyCheckJSON struct {
	Name     string `json:"name"`
	Problems int    `json:"problems"`
}

type verifyProblemJSON struct {
	Check  string `json:"check"`
	Ref    string `json:"ref"`
	Detail string `json:"detail"`
}

func newVerifyCmd(app *App) *cobra.Command {
	var o verifyOpts
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the ledger: journals balance, balances equal postings, each payment and refund journaled once and settled at most once",
		Long: `verify checks the ledger invariants over the whole database: every journal balances, every
account balance equals the sum of its postings, every succeeded payment and refund has exactly
one journal, each is in at most one settlement batch, batch totals equal their items, and
settled and paid batches have their settlement and payout journals. Exit 1 names what is wrong.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return runVerify(cmd.Context(), app, o)
		},
	}
	cmd.Flags().IntVar(&o.Limit, "limit", 100, "report at most this many problems per check")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	return cmd
}

func runVerify(ctx context.Context, app *App, o verifyOpts) error {
	s, err := app.Store(ctx)
	if err != nil {
		return err
	}
	problems, err := s.LedgerCheck(ctx, o.Limit)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	res := verifyJSON{OK: len(problems) == 0, Problems: make([]verifyProblemJSON, 0, len(problems))}
	for _, p := range problems {
		counts[p.Check]++
		res.Problems = append(res.Problems, verifyProblemJSON{Check: p.Check, Ref: p.Ref, Detail: p.Detail})
	}
	for _, c := range store.LedgerChecks {
		res.Checks = append(res.Checks, verifyCheckJSON{Name: c, Problems: counts[c]})
	}
	if o.JSON {
		if err := writeJSON(app.Stdout, res); err != nil {
			return err
		}
	} else {
		for _, c := range res.Checks {
			mark := "ok"
			if c.Problems > 0 {
				mark = fmt.Sprintf("%d problems", c.Problems)
			}
			fmt.Fprintf(app.Stdout, "%-20s %s\n", c.Name, mark)
		}
		for _, p := range res.Problems {
			fmt.Fprintf(app.Stdout, "  %s: %s: %s\n", p.Check, p.Ref, p.Detail)
		}
	}
	if !res.OK {
		return fmt.Errorf("verify: %d problems found (%v)", len(problems), counts)
	}
	app.Log.Info().Msg("verify: ledger consistent")
	return nil
}
