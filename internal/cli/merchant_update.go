package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/merchant"
	"github.com/paygw/paygw/internal/store"
)

func toAuditJSON(as []store.MerchantAudit) []cliout.Audit {
	out := make([]cliout.Audit, 0, len(as))
	for _, a := range as {
		out = append(out, cliout.Audit{At: a.At, By: a.Actor, Action: a.Action, Field: a.Field, Old: a.Old, New: a.New, Reason: a.Reason})
	}
	return out
}

func printAudit(w io.Writer, as []cliout.Audit) {
	if len(as) == 0 {
		return
	}
	fmt.Fprintln(w, "changes:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range as {
		change := a.Field
		if a.Field != "" {
			change = fmt.Sprintf("%s: %s -> %s", a.Field, orNone(a.Old), orNone(a.New))
		}
		if a.Reason != "" {
			change += " (" + a.Reason + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.At.Format(time.RFC3339), a.By, a.Action, change)
	}
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// actor is who an audited change is by: --by, else $USER, else "unknown".
func actor(app *App, by string) string {
	if by != "" {
		return by
	}
	if u := app.getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

type merchantUpdateOpts struct {
	Name, BankName, BankAccountName, BankAccount, NotifyURL string
	RateBps, Fixed, Min, Max                                int64
	NoMin, NoMax                                            bool
	By                                                      string
	JSON                                                    bool
}

func newMerchantUpdateCmd(app *App) *cobra.Command {
	var o merchantUpdateOpts
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a merchant's name, fee plan, bank account or notification URL (audited)",
		Long: `update changes only the fields whose flags are given. Every change is recorded in the
merchant's audit trail (who: --by or $USER; when; old -> new, account numbers masked) shown by
merchant show and merchant audit. Adding a bank account to an active merchant releases its
batches on hold: they go into the next payout file (or run paygw settle payout --date D).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			given := false
			for _, n := range []string{"name", "bank-name", "bank-account-name", "bank-account", "notify-url",
				"fee-rate-bps", "fee-fixed", "fee-min", "fee-max", "no-fee-min", "no-fee-max"} {
				given = given || f.Changed(n)
			}
			if !given {
				return Usagef("nothing to change: give at least one of --name, --fee-*, --bank-*, --notify-url")
			}
			u := merchant.Update{NoMin: o.NoMin, NoMax: o.NoMax, By: actor(app, o.By)}
			str := func(flag string, v *string) *string {
				if f.Changed(flag) {
					return v
				}
				return nil
			}
			num := func(flag string, v *int64) *int64 {
				if f.Changed(flag) {
					return v
				}
				return nil
			}
			u.Name, u.BankName, u.BankAccountName = str("name", &o.Name), str("bank-name", &o.BankName), str("bank-account-name", &o.BankAccountName)
			u.BankAccount, u.NotifyURL = str("bank-account", &o.BankAccount), str("notify-url", &o.NotifyURL)
			u.RateBps, u.Fixed, u.Min, u.Max = num("fee-rate-bps", &o.RateBps), num("fee-fixed", &o.Fixed), num("fee-min", &o.Min), num("fee-max", &o.Max)
			res, err := merchants(app).Update(cmd.Context(), args[0], u)
			if err != nil {
				return merchantErr(err)
			}
			return printMerchantChange(app, res, o.JSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "new merchant name (unique)")
	f.Int64Var(&o.RateBps, "fee-rate-bps", 0, "fee rate in basis points (applies to batches settled from now on)")
	f.Int64Var(&o.Fixed, "fee-fixed", 0, "fixed fee per payment, minor units")
	f.Int64Var(&o.Min, "fee-min", 0, "minimum fee per payment, minor units")
	f.Int64Var(&o.Max, "fee-max", 0, "maximum fee per payment, minor units")
	f.BoolVar(&o.NoMin, "no-fee-min", false, "remove the minimum fee")
	f.BoolVar(&o.NoMax, "no-fee-max", false, "remove the maximum fee")
	f.StringVar(&o.BankName, "bank-name", "", "settlement bank")
	f.StringVar(&o.BankAccountName, "bank-account-name", "", "settlement account holder")
	f.StringVar(&o.BankAccount, "bank-account", "", "settlement account number (stored encrypted, shown masked)")
	f.StringVar(&o.NotifyURL, "notify-url", "", "default notification URL")
	f.StringVar(&o.By, "by", "", "who makes the change, for the audit trail (default: $USER)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object")
	return cmd
}

// newMerchantStatusCmd is `merchant suspend ID --reason R` (suspend) or `merchant resume ID`.
func newMerchantStatusCmd(app *App, suspend bool) *cobra.Command {
	var by, reason string
	var asJSON bool
	use, short := "resume ID", "Let a suspended merchant use the API again and release its batches on hold"
	if suspend {
		use, short = "suspend ID", "Refuse a merchant's API calls (403 merchant_suspended); its money still settles, on hold"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, who := merchants(app), actor(app, by)
			var res merchant.Changed
			var err error
			if suspend {
				res, err = svc.Suspend(cmd.Context(), args[0], who, reason)
			} else {
				res, err = svc.Resume(cmd.Context(), args[0], who)
			}
			if err != nil {
				return merchantErr(err)
			}
			return printMerchantChange(app, res, asJSON)
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who makes the change, for the audit trail (default: $USER)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit trail)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// printMerchantChange presents a merchant after update, suspend or resume.
func printMerchantChange(app *App, res merchant.Changed, asJSON bool) error {
	j := toMerchantJSON(res.Merchant)
	released := res.Released
	j.ReleasedHolds = &released
	if asJSON {
		return writeJSON(app.Stdout, j)
	}
	printMerchant(app.Stdout, j)
	if len(res.Changes) == 0 {
		fmt.Fprintln(app.Stdout, "nothing changed")
	}
	for _, c := range res.Changes {
		fmt.Fprintf(app.Stdout, "changed:     %s: %s -> %s\n", c.Field, orNone(c.Old), orNone(c.New))
	}
	if released > 0 {
		fmt.Fprintf(app.Stdout, "released %d held batches: they go into the next payout file (or run `paygw settle payout --date D`)\n", released)
	}
	return nil
}

func newMerchantAuditCmd(app *App) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit ID",
		Short: "Show a merchant's change history (who, when, old -> new)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := s.GetMerchant(cmd.Context(), args[0]); errors.Is(err, store.ErrNotFound) {
				return Usagef("merchant %q not found", args[0])
			} else if err != nil {
				return err
			}
			as, err := s.MerchantAuditOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(app.Stdout, cliout.MerchantAudit{MerchantID: args[0], Audit: toAuditJSON(as)})
			}
			if len(as) == 0 {
				fmt.Fprintln(app.Stdout, "no recorded changes")
				return nil
			}
			printAudit(app.Stdout, toAuditJSON(as))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
