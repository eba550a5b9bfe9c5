package settle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// Why a batch is kept on hold (settle_holds.reason; both, comma-separated, when both apply).
const (
	HoldSuspended     = "merchant_suspended"
	HoldNoBankAccount = "no_bank_account"
)

// StatusOnHold is how a settled batch on hold is shown: its stored status stays settled (net
// > 0, not paid), and it stays out of every payout file until the hold is released.
const StatusOnHold = "on_hold"

// ErrOnHold is MarkPaid's answer for a batch on hold.
var ErrOnHold = errors.New("batch is on hold")

// HoldReason is why a merchant's settled batches cannot be paid out now, "" when they can.
func HoldReason(m store.SettleMerchant) string {
	var rs []string
	if m.Status == "suspended" {
		rs = append(rs, HoldSuspended)
	}
	if !m.HasAccount {
		rs = append(rs, HoldNoBankAccount)
	}
	return strings.Join(rs, ",")
}

// ReasonText is a hold reason for people: "no bank account", "merchant suspended".
func ReasonText(reason string) string {
	return strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(reason, HoldNoBankAccount, "no bank account"),
		HoldSuspended, "merchant suspended"), ",", ", ")
}

// Held is a batch on hold in a run's scope, of any date.
type Held struct {
	paygw.SettleBatch
	MerchantName string
	Reason       string
	HeldAt       time.Time
}

// payoutPlan decides what a payout file of one date carries, for the merchants in scope.
type payoutPlan struct {
	s       *store.Store
	date    string
	ms      map[string]store.SettleMerchant
	inScope func(merchantID string) bool
	hold    bool // write holds
	claim   bool // claim released batches for this date's file
	now     time.Time
	log     zerolog.Logger

	lines    []View // the payout file's lines
	held     []Held
	released []View // batches whose hold was lifted, carried by this date's file
}

// run walks the date's batches (updating their hold reason) and the holds in scope.
func (p *payoutPlan) run(ctx context.Context, batches []View) error {
	hs, err := p.s.PayoutHolds(ctx, p.date)
	if err != nil {
		return err
	}
	byBatch := map[string]store.HeldBatch{}
	for _, h := range hs {
		if p.inScope(h.Batch.MerchantID) {
			byBatch[h.BatchID] = h
		}
	}
	for i := range batches {
		v := &batches[i]
		var h *store.HeldBatch
		if hb, ok := byBatch[v.ID]; ok {
			h = &hb
			delete(byBatch, v.ID)
		}
		reason, err := p.decide(ctx, v, h)
		if err != nil {
			return err
		}
		v.HoldReason = reason
	}
	// Batches of other dates: held ones stay listed; released ones go into this file.
	rest := make([]store.HeldBatch, 0, len(byBatch))
	for _, h := range byBatch {
		rest = append(rest, h)
	}
	slices.SortFunc(rest, func(a, b store.HeldBatch) int {
		return cmp.Or(cmp.Compare(a.Batch.MerchantID, b.Batch.MerchantID), cmp.Compare(a.Batch.Currency, b.Batch.Currency),
			cmp.Compare(a.Batch.Date, b.Batch.Date))
	})
	for _, h := range rest {
		v := View{SettleBatch: h.Batch, MerchantName: p.ms[h.Batch.MerchantID].Name}
		if _, err := p.decide(ctx, &v, &h); err != nil {
			return err
		}
	}
	return nil
}

// decide places one batch: on hold (returns the reason), a line of this file, or neither (not
// payable, or carried by another date's file).
func (p *payoutPlan) decide(ctx context.Context, v *View, h *store.HeldBatch) (string, error) {
	if v.Status != StatusSettled {
		return "", nil
	}
	m, ok := p.ms[v.MerchantID]
	if !ok {
		return "", fmt.Errorf("batch %s: merchant %s not found", v.ID, v.MerchantID)
	}
	if reason := HoldReason(m); reason != "" {
		heldAt := p.now
		if h != nil && !h.Released() && h.Reason == reason {
			heldAt = h.HeldAt
		} else if p.hold {
			if err := p.s.HoldBatch(ctx, v.ID, v.MerchantID, reason, p.now); err != nil {
				return "", err
			}
		}
		p.held = append(p.held, Held{SettleBatch: v.SettleBatch, MerchantName: v.MerchantName, Reason: reason, HeldAt: heldAt})
		return reason, nil
	}
	switch {
	case h == nil:
		if v.Date == p.date {
			p.lines = append(p.lines, *v)
		}
		return "", nil
	case h.PayoutDate == p.date:
	case h.PayoutDate != "":
		return "", nil // in that date's payout file
	case p.claim:
		ok, err := p.s.ClaimHold(ctx, v.ID, p.date, p.now)
		if err != nil {
			return "", err
		}
		if !ok {
			p.log.Info().Str("batch_id", v.ID).Msg("released batch claimed by another payout file")
			return "", nil
		}
		p.log.Info().Str("merchant_id", v.MerchantID).Str("batch_id", v.ID).Str("batch_date", v.Date).
			Msg("released batch goes into this payout file")
	}
	p.lines = append(p.lines, *v)
	p.released = append(p.released, *v)
	return "", nil
}

// warn logs each batch on hold once per run, naming the merchant and why.
func (p *payoutPlan) warn() {
	for _, h := range p.held {
		p.log.Warn().Str("merchant_id", h.MerchantID).Str("batch_id", h.ID).Str("batch_date", h.Date).Str("currency", h.Currency).
			Int64("net", h.Net).Str("reason", h.Reason).Msg("batch on hold: left out of the payout file until the merchant can be paid")
	}
}

// HeldBackItem is what settlement left out for one merchant, currency, kind and reason.
type HeldBackItem struct {
	store.HeldBack
	MerchantName string
}

// heldBack lists what the run's scope left out up to date.
func heldBack(ctx context.Context, s *store.Store, opts Options, ms map[string]store.SettleMerchant, inScope func(string) bool,
	planned map[string]bool) ([]HeldBackItem, error) {
	rows, err := s.HeldBackOn(ctx, opts.Date, opts.Merchant, opts.RequireReconciled, planned)
	if err != nil {
		return nil, err
	}
	out := []HeldBackItem{}
	for _, r := range rows {
		if inScope(r.MerchantID) {
			out = append(out, HeldBackItem{HeldBack: r, MerchantName: ms[r.MerchantID].Name})
		}
	}
	return out, nil
}

// HeldBackText is a held-back reason for people.
func HeldBackText(reason string) string {
	switch reason {
	case store.HeldOpenDiscrepancy:
		return "open reconciliation discrepancy"
	case store.HeldNotReconciled:
		return "not reconciled"
	case store.HeldPaymentNotSettled:
		return "refund waits for its payment"
	case store.HeldAfterBatch:
		return "arrived after the date's batch: next date"
	}
	return reason
}
