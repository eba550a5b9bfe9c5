package cli

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/fee"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

func init() { register(newMerchantCmd) }

// merchantJSON is the --json form of a merchant. The bank account is masked; the secret is
// present only right after create and rotate-secret.
type merchantJSON struct {
	ID                    string      `json:"id"`
	Name                  string      `json:"name"`
	Secret                string      `json:"secret,omitempty"`
	PreviousSecretExpires *time.Time  `json:"previous_secret_expires_at,omitempty"`
	Status                string      `json:"status"`
	FeePlan               feePlanJSON `json:"fee_plan"`
	BankAccount           bankJSON    `json:"bank_account"`
	NotifyURL             string      `json:"notify_url,omitempty"`
	CreatedAt             time.Time   `json:"created_at"`
	// Audit is the merchant's change history (merchant show only).
	Audit []auditJSON `json:"audit,omitempty"`
	// ReleasedHolds counts the held batches an update or resume released (update, resume).
	ReleasedHolds *int64 `json:"released_holds,omitempty"`
}

type feePlanJSON struct {
	RateBps int64  `json:"rate_bps"`
	Fixed   int64  `json:"fixed"`
	Min     *int64 `json:"min"`
	Max     *int64 `json:"max"`
}

type bankJSON struct {
	Name      string `json:"name,omitempty"`
	Bank      string `json:"bank,omitempty"`
	AccountNo string `json:"account_no,omitempty"`
}

func toMerchantJSON(m paygw.Merchant) merchantJSON {
	return merchantJSON{
		ID: m.ID, Name: m.Name, Status: m.Status,
		FeePlan:     feePlanJSON{RateBps: m.FeePlan.RateBps, Fixed: m.FeePlan.Fixed, Min: m.FeePlan.Min, Max: m.FeePlan.Max},
		BankAccount: bankJSON{Name: m.BankAccount.Name, Bank: m.BankAccount.Bank, AccountNo: m.BankAccount.Masked()},
		NotifyURL:   m.NotifyURL, CreatedAt: m.CreatedAt.UTC(),
	}
}

// NewSecret returns a fresh merchant API secret (32 random bytes).
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "sk_" + base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

type merchantCreateOpts struct {
	Name, BankName, BankAccountName, BankAccount, NotifyURL string
	RateBps, Fixed, Min, Max                                int64
	minSet, maxSet                                          bool
	JSON                                                    bool
	By                                                      string
}

func (o *merchantCreateOpts) Validate() (paygw.FeePlan, error) {
	if o.Name == "" {
		return paygw.FeePlan{}, Usagef("--name is required")
	}
	plan := paygw.FeePlan{RateBps: o.RateBps, Fixed: o.Fixed}
	if o.minSet {
		plan.Min = &o.Min
	}
	if o.maxSet {
		plan.Max = &o.Max
	}
	if err := fee.Validate(plan); err != nil {
		return plan, Usagef("fee plan: %v", err)
	}
	if err := validNotifyURL(o.NotifyURL); err != nil {
		return plan, err
	}
	return plan, validAccount(o.BankAccount)
}

func validNotifyURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Usagef("--notify-url %q is not an http(s) URL", s)
	}
	return nil
}

func validAccount(s string) error {
	for _, c := range s {
		if c < '0' || c > '9' {
			return Usagef("--bank-account: digits only")
		}
	}
	return nil
}

func newMerchantCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "merchant", Short: "Onboard and manage merchants (the secret is printed once)"}

	var co merchantCreateOpts
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a merchant and print its API secret (shown only here and by rotate-secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			co.minSet, co.maxSet = cmd.Flags().Changed("fee-min"), cmd.Flags().Changed("fee-max")
			plan, err := co.Validate()
			if err != nil {
				return err
			}
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			m := paygw.Merchant{
				ID: paygw.NewID("mch"), Name: co.Name, Status: "active", FeePlan: plan,
				BankAccount: paygw.BankAccount{Name: co.BankAccountName, Bank: co.BankName, AccountNo: co.BankAccount},
				NotifyURL:   co.NotifyURL, CreatedAt: app.Now().UTC(),
			}
			secret := NewSecret()
			err = s.Transact(cmd.Context(), func(tx *store.Tx) error {
				if err := uniqueName(cmd.Context(), tx, m.Name, ""); err != nil {
					return err
				}
				if err := tx.CreateMerchant(cmd.Context(), m, secret); err != nil {
					return err
				}
				return tx.AddMerchantAudit(cmd.Context(), []store.MerchantAudit{{MerchantID: m.ID, At: m.CreatedAt,
					Actor: actor(app, co.By), Action: "create", Field: "name", New: m.Name}})
			})
			if err != nil {
				return err
			}
			app.Log.Info().Str("merchant_id", m.ID).Str("name", m.Name).Msg("merchant created")
			if m.BankAccount.AccountNo == "" {
				app.Log.Warn().Str("merchant_id", m.ID).Msg("merchant has no bank account: its settled batches stay on hold, " +
					"out of payout files, until `paygw merchant update ID --bank-account N` adds one")
			}
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
			out := make([]merchantJSON, 0, len(ms))
			for _, m := range ms {
				out = append(out, toMerchantJSON(m))
			}
			if listJSON {
				return writeJSON(app.Stdout, map[string]any{"merchants": out})
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
			if grace < 0 {
				return Usagef("--grace must not be negative")
			}
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			secret, now := NewSecret(), app.Now()
			err = s.Transact(cmd.Context(), func(tx *store.Tx) error {
				if err := tx.RotateSecret(cmd.Context(), args[0], secret, grace, now); err != nil {
					return err
				}
				return tx.AddMerchantAudit(cmd.Context(), []store.MerchantAudit{{MerchantID: args[0], At: now, Actor: actor(app, rotBy),
					Action: "rotate_secret", Field: "secret", Old: "(hidden)", New: "(hidden)",
					Reason: fmt.Sprintf("previous secret valid until %s", now.Add(grace).UTC().Format(time.RFC3339))}})
			})
			if errors.Is(err, store.ErrNotFound) {
				return Usagef("merchant %q not found", args[0])
			}
			if err != nil {
				return err
			}
			m, err := s.GetMerchant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			until := now.Add(grace).UTC()
			app.Log.Info().Str("merchant_id", m.ID).Time("previous_valid_until", until).Msg("secret rotated")
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

func printMerchant(w io.Writer, m merchantJSON) {
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
