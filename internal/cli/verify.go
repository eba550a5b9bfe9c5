package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/api/cliout"
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

// verifyJSON is cliout.Verify (the shape is declared once, in cliout).
type verifyJSON = cliout.Verify

// verifyCheckJSON is cliout.VerifyCheck (the shape is declared once, in cliout).
type verifyCheckJSON = cliout.VerifyCheck

// verifyProblemJSON is cliout.VerifyProblem (the shape is declared once, in cliout).
type verifyProblemJSON = cliout.VerifyProblem

func newVerifyCmd(app *App) *cobra.Command {
	var o verifyOpts
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the ledger: journals balance, balances equal postings, each payment and refund journaled once and settled at most once",
		Long:  verifyLong(),
		Args:  cobra.NoArgs,
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

// checkHelp says what each of store.LedgerChecks verifies; verify --help is generated from it so
// that the help and the checks that run cannot disagree.
var checkHelp = map[string]string{
	store.CheckJournalBalanced:   "every journal has postings and they sum to zero per currency",
	store.CheckAccountBalance:    "every account's stored balance equals the sum of its postings",
	store.CheckPaymentJournal:    "every succeeded payment has exactly one capture journal, no other payment has one",
	store.CheckRefundJournal:     "every succeeded refund has exactly one refund journal, no other refund has one",
	store.CheckSettledOnce:       "each payment and refund is in at most one settlement batch, as an item of its kind",
	store.CheckBatchTotals:       "each batch's counts and sums equal its items' and its net follows from them",
	store.CheckSettlementJournal: "a batch that moves money has its settlement journal",
	store.CheckPayoutJournal:     "a paid batch has exactly its payout journal",
	store.CheckReferences:        "postings, balances and payments point at journals, accounts, merchants and agreements that exist",
	store.CheckPending:           "every succeeded payment and refund is settled or waiting in the pending-settlement list",
	store.CheckAdjustment:        "each accepted amount or fee mismatch has its adjustment journal for the difference",
}

// verifyLong is verify's help: the checks it runs, generated from store.LedgerChecks.
func verifyLong() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verify checks the ledger invariants over the whole database. It runs %d checks:\n\n", len(store.LedgerChecks))
	for _, c := range store.LedgerChecks {
		h, ok := checkHelp[c]
		if !ok {
			h = "(no description)"
		}
		fmt.Fprintf(&b, "  %-20s %s\n", c, h)
	}
	b.WriteString("\nExit 0 when every check passes; exit 1 names each problem (check, object, detail).")
	return b.String()
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
