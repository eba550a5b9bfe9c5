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
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

func init() { register(newMerchantCmd) }

func toMerchantJSON(m paygw.Merchant) cliout.Merchant {
	return cliout.Merchant{
		ID: m.ID, Name: m.Name, Status: m.Status,
		FeePlan:     cliout.FeePlan{RateBps: m.FeePlan.RateBps, Fixed: m.FeePlan.Fixed, Min: m.FeePlan.Min, Max: m.FeePlan.Max},
		BankAccount: cliout.BankAccount{Name: m.BankAccount.Name, Bank: m.BankAccount.Bank, AccountNo: m.BankAccount.Masked()},
		NotifyURL:   m.NotifyURL, CreatedAt: m.CreatedAt.UTC(),
	}
}

func writeJSON(w io.Writer, v any) error { return cliout.Write(w, v) }

type merchantCreateOpts struct {
	Name, BankName, BankAccountName, BankAccount, NotifyURL string
	RateBps, Fixed, Min, Max                                int64
	minSet, maxSet                                          bool
	JSON                                                    bool
	By                                                      string
}

// request is the use case's input from the flags.
func (o *merchantCreateOpts) request(app *App) merchant.Create {
	plan := paygw.FeePlan{RateBps: o.RateBps, Fixed: o.Fixed}
	if o.minSet {
		plan.Min = &o.Min
	}
	if o.maxSet {
		plan.Max = &o.Max
	}
	return merchant.Create{Name: o.Name, FeePlan: plan, NotifyURL: o.NotifyURL, By: actor(app, o.By),
		BankAccount: paygw.BankAccount{Name: o.BankAccountName, Bank: o.BankName, AccountNo: o.BankAccount}}
}

// merchantFlags names the flag behind each input field of the merchant use case.
var merchantFlags = map[string]string{"name": "--name", "notify_url": "--notify-url", "bank_account": "--bank-account",
	"reason": "--reason", "grace": "--grace"}

// merchantErr turns the use case's refusal of its input into a usage error naming the flag.
func merchantErr(err error) error {
	var ie *merchant.InputError
	if !errors.As(err, &ie) {
		return err
	}
	if ie.Field == "" {
		return &UsageError{Err: err}
	}
	flag, ok := merchantFlags[ie.Field]
	if !ok {
		flag = ie.Field
	}
	return &UsageError{Err: fmt.Errorf("%s %s", flag, ie.Msg)}
}

// merchants is the merchant use case over the command's store.
func merchants(app *App) *merchant.Service { return merchant.New(app.Store, app.Now, app.Log) }

func newMerchantCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "merchant", Short: "Onboard and manage merchants (the secret is printed once)"}

	var co merchantCreateOpts
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a merchant and print its API secret (shown only here and by rotate-secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			co.minSet, co.maxSet = cmd.Flags().Changed("fee-min"), cmd.Flags().Changed("fee-max")
			c, err := merchants(app).Create(cmd.Context(), co.request(app))
			if err != nil {
				return merchantErr(err)
			}
			m, secret := c.Merchant, c.Secret
			j := toMerchantJSON(m)
			j.Secret = secret
			if co.JSON {
				return writeJSON(app.Stdout, j)
			}
			printMerchant(app.Stdout, j)
			fmt.Fprintf(app.Stdout, "secret:      %s\n(store it now: it is not shown again)\n", secret)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&co.Name, "name", "", "merchant name (required)")
	f.Int64Var(&co.RateBps, "fee-rate-bps", 0, "fee rate in basis points (60 = 0.60%)")
	f.Int64Var(&co.Fixed, "fee-fixed", 0, "fixed fee per payment, minor units")
	f.Int64Var(&co.Min, "fee-min", 0, "minimum fee per payment, minor units")
	f.Int64Var(&co.Max, "fee-max", 0, "maximum fee per payment, minor units")
	f.StringVar(&co.BankName, "bank-name", "", "settlement bank")
	f.StringVar(&co.BankAccountName, "bank-account-name", "", "settlement account holder")
	f.StringVar(&co.BankAccount, "bank-account", "", "settlement account number (stored encrypted)")
	f.StringVar(&co.NotifyURL, "notify-url", "", "default notification URL")
	f.BoolVar(&co.JSON, "json", false, "print one JSON object")
	f.StringVar(&co.By, "by", "", "who makes the change, for the audit trail (default: $USER)")
	cmd.AddCommand(create)
	cmd.AddCommand(newMerchantUpdateCmd(app), newMerchantStatusCmd(app, true), newMerchantStatusCmd(app, false),
		newMerchantAuditCmd(app))

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List merchants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			ms, err := s.ListMerchants(cmd.Context())
			if err != nil {
				return err
			}
			out := make([]cliout.Merchant, 0, len(ms))
			for _, m := range ms {
				out = append(out, toMerchantJSON(m))
			}
			if listJSON {
				return writeJSON(app.Stdout, cliout.MerchantList{Merchants: out})
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tFEE BPS\tFIXED\tCREATED")
			for _, m := range out {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", m.ID, m.Name, m.Status, m.FeePlan.RateBps, m.FeePlan.Fixed, m.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print one JSON object")
	cmd.AddCommand(list)

	var showJSON bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one merchant",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			m, err := s.GetMerchant(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return Usagef("merchant %q not found", args[0])
			}
			if err != nil {
				return err
			}
			audit, err := s.MerchantAuditOf(cmd.Context(), m.ID)
			if err != nil {
				return err
			}
			j := toMerchantJSON(m)
			j.Audit = toAuditJSON(audit)
			if showJSON {
				return writeJSON(app.Stdout, j)
			}
			printMerchant(app.Stdout, j)
			printAudit(app.Stdout, j.Audit)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print one JSON object")
	cmd.AddCommand(show)

	var rotJSON bool
	var rotBy string
	var grace time.Duration
	rotate := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Issue a new API secret; the previous one stays valid for --grace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := merchants(app).RotateSecret(cmd.Context(), args[0], grace, actor(app, rotBy))
			if err != nil {
				return merchantErr(err)
			}
			m, secret, until := r.Merchant, r.Secret, r.PreviousValidUntil
			j := toMerchantJSON(m)
			j.Secret, j.PreviousSecretExpires = secret, &until
			if rotJSON {
				return writeJSON(app.Stdout, j)
			}
			printMerchant(app.Stdout, j)
			fmt.Fprintf(app.Stdout, "secret:      %s\nprevious secret valid until %s\n", secret, until.Format(time.RFC3339))
			return nil
		},
	}
	rotate.Flags().DurationVar(&grace, "grace", 24*time.Hour, "how long the previous secret stays valid")
	rotate.Flags().BoolVar(&rotJSON, "json", false, "print one JSON object")
	rotate.Flags().StringVar(&rotBy, "by", "", "who makes the change, for the audit trail (default: $USER)")
	cmd.AddCommand(rotate)
	return cmd
}

func printMerchant(w io.Writer, m cliout.Merchant) {
	fmt.Fprintf(w, "id:          %s\nname:        %s\nstatus:      %s\n", m.ID, m.Name, m.Status)
	fmt.Fprintf(w, "fee plan:    %d bps + %d fixed", m.FeePlan.RateBps, m.FeePlan.Fixed)
	if m.FeePlan.Min != nil {
		fmt.Fprintf(w, ", min %d", *m.FeePlan.Min)
	}
	if m.FeePlan.Max != nil {
		fmt.Fprintf(w, ", max %d", *m.FeePlan.Max)
	}
	fmt.Fprintln(w)
	if m.BankAccount.AccountNo != "" {
		fmt.Fprintf(w, "bank:        %s %s %s\n", m.BankAccount.Bank, m.BankAccount.Name, m.BankAccount.AccountNo)
	} else {
		fmt.Fprintf(w, "bank:        (none: settled batches stay on hold)\n")
	}
	if m.NotifyURL != "" {
		fmt.Fprintf(w, "notify url:  %s\n", m.NotifyURL)
	}
	fmt.Fprintf(w, "created:     %s\n", m.CreatedAt.Format(time.RFC3339))
}
