package gateway

import (
	"context"
	"net/netip"
	"time"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// Risk applies config's risk rules: per-transaction maximum, per-merchant daily cap, per-payer
// velocity, and block lists of payer accounts (compared as keyed tokens) and client IPs.
type Risk struct {
	cfg      config.Risk
	store    *store.Store
	loc      *time.Location
	accounts map[string]bool // tokens of blocked payer accounts
	nets     []netip.Prefix
}

// NewRisk builds the rules.
func NewRisk(cfg config.Risk, s *store.Store, keys *store.Keyring, loc *time.Location) *Risk {
	r := &Risk{cfg: cfg, store: s, loc: loc, accounts: map[string]bool{}}
	for _, a := range cfg.BlockedAccounts {
		r.accounts[keys.Token(a)] = true
	}
	for _, s := range cfg.BlockedClientIPs {
		if p, err := netip.ParsePrefix(s); err == nil {
			r.nets = append(r.nets, p)
		} else if a, err := netip.ParseAddr(s); err == nil {
			r.nets = append(r.nets, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return r
}

// RiskInput is what the rules look at.
type RiskInput struct {
	MerchantID   string
	Amount       int64
	Currency     string
	ClientIP     string
	PayerToken   string // agreement's account token, when there is one
	PayerAccount string // masked account for velocity
	Now          time.Time
}

func rejected(rule, format string, args ...any) error {
	e := paygw.Errorf(paygw.CodeRiskRejected, "rule %s: "+format, append([]any{rule}, args...)...)
	return e
}

// Check returns a risk_rejected error naming the rule, or nil. The merchant daily cap is not
// checked here: it is reserved in the create's own transaction (reserveDailyCap), where a
// counter row makes it exact under concurrency.
func (r *Risk) Check(ctx context.Context, in RiskInput) error {
	if ip, err := netip.ParseAddr(in.ClientIP); err == nil {
		for _, n := range r.nets {
			if n.Contains(ip.Unmap()) {
				return rejected("blocked_client_ip", "client address is blocked")
			}
		}
	}
	if in.PayerToken != "" && r.accounts[in.PayerToken] {
		return rejected("blocked_payer_account", "payer account is blocked")
	}
	if r.cfg.MaxAmount > 0 && in.Amount > r.cfg.MaxAmount {
		return rejected("max_amount", "amount %d exceeds the per-transaction maximum %d", in.Amount, r.cfg.MaxAmount)
	}
	if r.cfg.PayerVelocity > 0 && in.PayerAccount != "" {
		n, err := r.store.PayerCount(ctx, in.MerchantID, in.PayerAccount, in.Now.Add(-r.cfg.VelocityWindow.D()))
		if err != nil {
			return err
		}
		if n >= r.cfg.PayerVelocity {
			return rejected("payer_velocity", "payer made %d payments within %s", n, r.cfg.VelocityWindow.D())
		}
	}
	return nil
}

// errDailyCap is the daily cap's refusal inside the create transaction.
var errDailyCap = rejected("merchant_daily_cap", "today's volume would exceed the merchant daily cap")

// reserveDailyCap counts a payment against its merchant's daily cap in the create's
// transaction; errDailyCap when it does not fit. The cap counts attempted amounts: a payment
// counts from its creation until it fails or closes (then its amount is released).
func (r *Risk) reserveDailyCap(ctx context.Context, tx *store.Tx, p paygw.Payment, now time.Time) error {
	if r.cfg.DailyCap <= 0 {
		return nil
	}
	ok, err := tx.ReserveDailyCap(ctx, p.ID, p.MerchantID, paygw.BusinessDate(now, r.loc), string(p.Currency), p.Amount, r.cfg.DailyCap)
	if err != nil {
		return err
	}
	if !ok {
		return errDailyCap
	}
	return nil
}
