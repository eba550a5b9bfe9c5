// Package merchant is the back-office use case of onboarding and changing merchants: it
// validates the input, generates and seals API secrets, keeps names unique, writes every change
// with its audit rows in one transaction, releases batches on hold once a merchant can be paid
// again, and warns about merchants whose money cannot be paid out. The CLI parses flags, calls
// it and presents the result.
package merchant

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/fee"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// InputError is input the use case refuses; nothing was changed. Field names the input
// ("name", "notify_url", "bank_account", "reason"; empty when the message says it all).
type InputError struct {
	Field string
	Msg   string
	Err   error // the rule broken, when callers may test for it (ErrDuplicateName)
}

// Unwrap returns the rule broken, if any.
func (e *InputError) Unwrap() error { return e.Err }

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + " " + e.Msg
}

// ErrDuplicateName is a merchant name already used by another merchant.
var ErrDuplicateName = errors.New("merchant name already used")

// Service onboards and changes merchants.
type Service struct {
	open func(context.Context) (*store.Store, error)
	now  func() time.Time
	log  zerolog.Logger
}

// New builds the service. open gives the store; it is called only once a request is valid, so
// bad input is refused before a database is opened (the CLI passes its App.Store). now is the
// clock of created_at and audit times.
func New(open func(context.Context) (*store.Store, error), now func() time.Time, log zerolog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{open: open, now: now, log: log.With().Str("component", "merchant").Logger()}
}

// NewSecret returns a fresh merchant API secret (32 random bytes).
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "sk_" + base64.RawURLEncoding.EncodeToString(b)
}

// Create is a new merchant: By is who onboards it, for the audit trail.
type Create struct {
	Name        string
	FeePlan     paygw.FeePlan
	BankAccount paygw.BankAccount
	NotifyURL   string
	By          string
}

// Validate checks the request without touching the database.
func (c Create) Validate() error {
	if c.Name == "" {
		return &InputError{Field: "name", Msg: "is required"}
	}
	if err := fee.Validate(c.FeePlan); err != nil {
		return &InputError{Msg: fmt.Sprintf("fee plan: %v", err)}
	}
	if err := ValidNotifyURL(c.NotifyURL); err != nil {
		return err
	}
	return ValidAccount(c.BankAccount.AccountNo)
}

// ValidNotifyURL refuses a notification URL that is not http(s) with a host (empty is none).
func ValidNotifyURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &InputError{Field: "notify_url", Msg: fmt.Sprintf("%q is not an http(s) URL", s)}
	}
	return nil
}

// ValidAccount refuses a bank account number that is not all digits (empty is none).
func ValidAccount(s string) error {
	for _, c := range s {
		if c < '0' || c > '9' {
			return &InputError{Field: "bank_account", Msg: "must be digits only"}
		}
	}
	return nil
}

// Created is a new merchant and its API secret, shown this once.
type Created struct {
	Merchant paygw.Merchant
	Secret   string
}

// Create onboards a merchant: a new id and secret (sealed by the store), the create audit row,
// a unique name. A merchant without a bank account is created with a warning: its settled
// batches stay on hold until one is added.
func (svc *Service) Create(ctx context.Context, c Create) (Created, error) {
	if err := c.Validate(); err != nil {
		return Created{}, err
	}
	m := paygw.Merchant{
		ID: paygw.NewID("mch"), Name: c.Name, Status: "active", FeePlan: c.FeePlan,
		BankAccount: c.BankAccount, NotifyURL: c.NotifyURL, CreatedAt: svc.now().UTC(),
	}
	s, err := svc.open(ctx)
	if err != nil {
		return Created{}, err
	}
	secret := NewSecret()
	err = s.Transact(ctx, func(tx *store.Tx) error {
		if err := uniqueName(ctx, tx, m.Name, ""); err != nil {
			return err
		}
		if err := tx.CreateMerchant(ctx, m, secret); err != nil {
			return err
		}
		return tx.AddMerchantAudit(ctx, []store.MerchantAudit{{MerchantID: m.ID, At: m.CreatedAt,
			Actor: c.By, Action: "create", Field: "name", New: m.Name}})
	})
	if err != nil {
		return Created{}, err
	}
	svc.log.Info().Str("merchant_id", m.ID).Str("name", m.Name).Msg("merchant created")
	if m.BankAccount.AccountNo == "" {
		svc.log.Warn().Str("merchant_id", m.ID).Msg("merchant has no bank account: its settled batches stay on hold, " +
			"out of payout files, until `paygw merchant update ID --bank-account N` adds one")
	}
	return Created{Merchant: m, Secret: secret}, nil
}

// uniqueName refuses a name another merchant (not except) has: names are shown in reports and
// payout files beside ids, and two merchants with one name cannot be told apart.
func uniqueName(ctx context.Context, tx *store.Tx, name, except string) error {
	id, err := tx.MerchantNamed(ctx, name, except)
	if err != nil {
		return err
	}
	if id != "" {
		return &InputError{Field: "name", Msg: fmt.Sprintf("%q: %v by %s", name, ErrDuplicateName, id), Err: ErrDuplicateName}
	}
	return nil
}

// Update changes the fields that are set (nil: unchanged). NoMin and NoMax remove the fee
// bounds. By is who makes the change.
type Update struct {
	Name, BankName, BankAccountName, BankAccount, NotifyURL *string
	RateBps, Fixed, Min, Max                                *int64
	NoMin, NoMax                                            bool
	By                                                      string
}

// Validate checks the request without touching the database.
func (u Update) Validate() error {
	if u.Name != nil && *u.Name == "" {
		return &InputError{Field: "name", Msg: "must not be empty"}
	}
	if u.NotifyURL != nil {
		if err := ValidNotifyURL(*u.NotifyURL); err != nil {
			return err
		}
	}
	if u.BankAccount != nil {
		return ValidAccount(*u.BankAccount)
	}
	return nil
}

func (u Update) apply(m *paygw.Merchant) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&m.Name, u.Name)
	set(&m.BankAccount.Bank, u.BankName)
	set(&m.BankAccount.Name, u.BankAccountName)
	set(&m.BankAccount.AccountNo, u.BankAccount)
	set(&m.NotifyURL, u.NotifyURL)
	if u.RateBps != nil {
		m.FeePlan.RateBps = *u.RateBps
	}
	if u.Fixed != nil {
		m.FeePlan.Fixed = *u.Fixed
	}
	if u.Min != nil {
		v := *u.Min
		m.FeePlan.Min = &v
	}
	if u.Max != nil {
		v := *u.Max
		m.FeePlan.Max = &v
	}
	if u.NoMin {
		m.FeePlan.Min = nil
	}
	if u.NoMax {
		m.FeePlan.Max = nil
	}
	if err := fee.Validate(m.FeePlan); err != nil {
		return &InputError{Msg: fmt.Sprintf("fee plan: %v", err)}
	}
	return nil
}

// Changed is a merchant after a change: the audit rows written (none: nothing changed) and
// how many batches on hold the change released.
type Changed struct {
	Merchant paygw.Merchant
	Changes  []store.MerchantAudit
	Released int64
}

// Update changes a merchant's name, fee plan, bank account or notification URL.
func (svc *Service) Update(ctx context.Context, id string, u Update) (Changed, error) {
	if err := u.Validate(); err != nil {
		return Changed{}, err
	}
	return svc.change(ctx, id, "update", u.By, "", u.apply)
}

// Suspend refuses a merchant's API calls from now on; its money still settles, on hold.
func (svc *Service) Suspend(ctx context.Context, id, by, reason string) (Changed, error) {
	if reason == "" {
		return Changed{}, &InputError{Field: "reason", Msg: "is required: say why the merchant is suspended"}
	}
	return svc.change(ctx, id, "suspend", by, reason, setStatus("suspended"))
}

// Resume lets a suspended merchant use the API again and releases its batches on hold.
func (svc *Service) Resume(ctx context.Context, id, by string) (Changed, error) {
	return svc.change(ctx, id, "resume", by, "", setStatus("active"))
}

func setStatus(status string) func(*paygw.Merchant) error {
	return func(m *paygw.Merchant) error {
		if m.Status == status {
			return &InputError{Msg: fmt.Sprintf("merchant %s is already %s", m.ID, status)}
		}
		m.Status = status
		return nil
	}
}

// change applies fn to a merchant in one transaction with its audit rows, and releases the
// merchant's holds when it can be paid again.
func (svc *Service) change(ctx context.Context, id, action, by, reason string, fn func(*paygw.Merchant) error) (Changed, error) {
	s, err := svc.open(ctx)
	if err != nil {
		return Changed{}, err
	}
	now := svc.now().UTC()
	var res Changed
	err = s.Transact(ctx, func(tx *store.Tx) error {
		res = Changed{}
		before, err := tx.GetMerchant(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return &InputError{Msg: fmt.Sprintf("merchant %q not found", id)}
		}
		if err != nil {
			return err
		}
		after := before
		if err := fn(&after); err != nil {
			return err
		}
		if after.Name != before.Name {
			if err := uniqueName(ctx, tx, after.Name, id); err != nil {
				return err
			}
		}
		res.Merchant = after
		res.Changes = Diff(before, after)
		for i := range res.Changes {
			c := &res.Changes[i]
			c.MerchantID, c.At, c.Actor, c.Action, c.Reason = id, now, by, action, reason
		}
		if len(res.Changes) == 0 {
			return nil
		}
		if err := tx.UpdateMerchant(ctx, after, now); err != nil {
			return err
		}
		if err := tx.AddMerchantAudit(ctx, res.Changes); err != nil {
			return err
		}
		if after.Status == "active" && after.BankAccount.AccountNo != "" {
			if res.Released, err = tx.ReleaseHolds(ctx, id, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Changed{}, err
	}
	for _, c := range res.Changes {
		svc.log.Info().Str("merchant_id", id).Str("by", by).Str("action", action).Str("field", c.Field).
			Str("old", c.Old).Str("new", c.New).Msg("merchant changed")
	}
	if res.Released > 0 {
		svc.log.Info().Str("merchant_id", id).Int64("released", res.Released).
			Msg("held batches released: they go into the next payout file (or run `paygw settle payout --date D`)")
	}
	if res.Merchant.Status == "suspended" {
		svc.log.Warn().Str("merchant_id", id).Msg("merchant suspended: API calls answer 403 merchant_suspended; its batches settle on hold")
	} else if res.Merchant.BankAccount.AccountNo == "" {
		svc.log.Warn().Str("merchant_id", id).Msg("merchant has no bank account: its settled batches stay on hold")
	}
	return res, nil
}

// Diff lists the fields that differ, as shown to operators: the account number masked.
func Diff(a, b paygw.Merchant) []store.MerchantAudit {
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

// Rotated is a merchant's new secret; the previous one stays valid until PreviousValidUntil.
type Rotated struct {
	Merchant           paygw.Merchant
	Secret             string
	PreviousValidUntil time.Time
}

// RotateSecret issues a new API secret; the previous one stays valid for grace.
func (svc *Service) RotateSecret(ctx context.Context, id string, grace time.Duration, by string) (Rotated, error) {
	if grace < 0 {
		return Rotated{}, &InputError{Field: "grace", Msg: "must not be negative"}
	}
	s, err := svc.open(ctx)
	if err != nil {
		return Rotated{}, err
	}
	secret, now := NewSecret(), svc.now()
	until := now.Add(grace).UTC()
	err = s.Transact(ctx, func(tx *store.Tx) error {
		if err := tx.RotateSecret(ctx, id, secret, grace, now); err != nil {
			return err
		}
		return tx.AddMerchantAudit(ctx, []store.MerchantAudit{{MerchantID: id, At: now, Actor: by,
			Action: "rotate_secret", Field: "secret", Old: "(hidden)", New: "(hidden)",
			Reason: fmt.Sprintf("previous secret valid until %s", until.Format(time.RFC3339))}})
	})
	if errors.Is(err, store.ErrNotFound) {
		return Rotated{}, &InputError{Msg: fmt.Sprintf("merchant %q not found", id)}
	}
	if err != nil {
		return Rotated{}, err
	}
	m, err := s.GetMerchant(ctx, id)
	if err != nil {
		return Rotated{}, err
	}
	svc.log.Info().Str("merchant_id", m.ID).Time("previous_valid_until", until).Msg("secret rotated")
	return Rotated{Merchant: m, Secret: secret, PreviousValidUntil: until}, nil
}
