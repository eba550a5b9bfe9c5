package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/fee"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// auditJSON is one recorded change to a merchant.
type auditJSON struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Action string    `json:"action"`
	Field  string    `json:"field,omitempty"`
	Old    string    `json:"old,omitempty"`
	New    string    `json:"new,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

func toAuditJSON(as []store.MerchantAudit) []auditJSON {
	out := make([]auditJSON, 0, len(as))
	for _, a := range as {
		out = append(out, auditJSON{At: a.At, By: a.Actor, Action: a.Action, Field: a.Field, Old: a.Old, New: a.New, Reason: a.Reason})
	}
	return out
}

func printAudit(w io.Writer, as []auditJSON) {
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

// ErrDuplicateName is a merchant name already taken by another merchant.
var errDuplicateName = errors.New("merchant name already used")

// uniqueName refuses a name another merchant (not except) has: names are shown in reports and
// payout files beside ids, and two merchants with one name cannot be told apart.
func uniqueName(ctx context.Context, tx *store.Tx, name, except string) error {
	id, err := tx.MerchantNamed(ctx, name, except)
	if err != nil {
		return err
	}
	if id != "" {
		return &UsageError{Err: fmt.Errorf("--name %q: %w by %s", name, errDuplicateName, id)}
	}
	return nil
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
			if f.Changed("name") && o.Name == "" {
				return Usagef("--name must not be empty")
			}
			if err := validNotifyURL(o.NotifyURL); err != nil {
				return err
			}
			if err := validAccount(o.BankAccount); err != nil {
				return err
			}
			change := func(m *paygw.Merchant) error {
				if f.Changed("name") {
					m.Name = o.Name
				}
				if f.Changed("bank-name") {
					m.BankAccount.Bank = o.BankName
				}
				if f.Changed("bank-account-name") {
					m.BankAccount.Name = o.BankAccountName
				}
				if f.Changed("bank-account") {
					m.BankAccount.AccountNo = o.BankAccount
				}
				if f.Changed("notify-url") {
					m.NotifyURL = o.NotifyURL
				}
				if f.Changed("fee-rate-bps") {
					m.FeePlan.RateBps = o.RateBps
				}
				if f.Changed("fee-fixed") {
					m.FeePlan.Fixed = o.Fixed
				}
				if f.Changed("fee-min") {
					v := o.Min
					m.FeePlan.Min = &v
				}
				if f.Changed("fee-max") {
					v := o.Max
					m.FeePlan.Max = &v
				}
				if o.NoMin {
					m.FeePlan.Min = nil
				}
				if o.NoMax {
					m.FeePlan.Max = nil
				}
				if err := fee.Validate(m.FeePlan); err != nil {
					return Usagef("fee plan: %v", err)
				}
				return nil
			}
			return runMerchantChange(cmd.Context(), app, args[0], "update", o.By, "", o.JSON, change)
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
	use, short, action, status := "resume ID", "Let a suspended merchant use the API again and release its batches on hold", "resume", "active"
	if suspend {
		use, short, action, status = "suspend ID", "Refuse a merchant's API calls (403 merchant_suspended); its money still settles, on hold", "suspend", "suspended"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if suspend && reason == "" {
				return Usagef("--reason is required: say why the merchant is suspended")
			}
			return runMerchantChange(cmd.Context(), app, args[0], action, by, reason, asJSON, func(m *paygw.Merchant) error {
				if m.Status == status {
					return Usagef("merchant %s is already %s", m.ID, status)
				}
				m.Status = status
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who makes the change, for the audit trail (default: $USER)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit trail)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// runMerchantChange applies change to a merchant in one transaction with its audit rows, and
// releases the merchant's holds when it can be paid again.
func runMerchantChange(ctx context.Context, app *App, id, action, by, reason string, asJSON bool, change func(*paygw.Merchant) error) error {
	s, err := app.Store(ctx)
	if err != nil {
		return err
	}
	now := app.Now().UTC()
	who := actor(app, by)
	var after paygw.Merchant
	var released int64
	var changes []store.MerchantAudit
	err = s.Transact(ctx, func(tx *store.Tx) error {
		before, err := tx.GetMerchant(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return Usagef("merchant %q not found", id)
		}
		if err != nil {
			return err
		}
		after = before
		if err := change(&after); err != nil {
			return err
		}
		if after.Name != before.Name {
			if err := uniqueName(ctx, tx, after.Name, id); err != nil {
				return err
			}
		}
		changes = diffMerchant(before, after)
		for i := range changes {
			changes[i].MerchantID, changes[i].At, changes[i].Actor, changes[i].Action, changes[i].Reason = id, now, who, action, reason
		}
		if len(changes) == 0 {
			return nil
		}
		if err := tx.UpdateMerchant(ctx, after, now); err != nil {
			return err
		}
		if err := tx.AddMerchantAudit(ctx, changes); err != nil {
			return err
		}
		if after.Status == "active" && after.BankAccount.AccountNo != "" {
			if released, err = tx.ReleaseHolds(ctx, id, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changes {
		app.Log.Info().Str("merchant_id", id).Str("by", who).Str("action", action).Str("field", c.Field).
			Str("old", c.Old).Str("new", c.New).Msg("merchant changed")
	}
	if released > 0 {
		app.Log.Info().Str("merchant_id", id).Int64("released", released).
			Msg("held batches released: they go into the next payout file (or run `paygw settle payout --date D`)")
	}
	if after.Status == "suspended" {
		app.Log.Warn().Str("merchant_id", id).Msg("merchant suspended: API calls answer 403 merchant_suspended; its batches settle on hold")
	} else if after.BankAccount.AccountNo == "" {
		app.Log.Warn().Str("merchant_id", id).Msg("merchant has no bank account: its settled batches stay on hold")
	}
	j := toMerchantJSON(after)
	j.ReleasedHolds = &released
	if asJSON {
		return writeJSON(app.Stdout, j)
	}
	printMerchant(app.Stdout, j)
	if len(changes) == 0 {
		fmt.Fprintln(app.Stdout, "nothing changed")
	}
	for _, c := range changes {
		fmt.Fprintf(app.Stdout, "changed:     %s: %s -> %s\n", c.Field, orNone(c.Old), orNone(c.New))
	}
	if released > 0 {
		fmt.Fprintf(app.Stdout, "released %d held batches: they go into the next payout file (or run `paygw settle payout --date D`)\n", released)
	}
	return nil
}

// diffMerchant lists the fields that differ, as shown to operators: the account number masked.
func diffMerchant(a, b paygw.Merchant) []store.MerchantAudit {
	var out []store.MerchantAudit
	add := func(field, old, new string) {
		if old != new {
			out = append(out, store.MerchantAudit{Field: field, Old: old, New: new})
		}
	}
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	add("name", a.Name, b.Name)
	add("status", a.Status, b.Status)
	add("fee_plan.rate_bps", strconv.FormatInt(a.FeePlan.RateBps, 10), strconv.FormatInt(b.FeePlan.RateBps, 10))
	add("fee_plan.fixed", strconv.FormatInt(a.FeePlan.Fixed, 10), strconv.FormatInt(b.FeePlan.Fixed, 10))
	add("fee_plan.min", opt(a.FeePlan.Min), opt(b.FeePlan.Min))
	add("fee_plan.max", opt(a.FeePlan.Max), opt(b.FeePlan.Max))
	add("bank_account.bank", a.BankAccount.Bank, b.BankAccount.Bank)
	add("bank_account.name", a.BankAccount.Name, b.BankAccount.Name)
	if a.BankAccount.AccountNo != b.BankAccount.AccountNo {
		out = append(out, store.MerchantAudit{Field: "bank_account.account_no", Old: a.BankAccount.Masked(), New: b.BankAccount.Masked()})
	}
	add("notify_url", a.NotifyURL, b.NotifyURL)
	return out
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
				return writeJSON(app.Stdout, map[string]any{"merchant_id": args[0], "audit": toAuditJSON(as)})
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
