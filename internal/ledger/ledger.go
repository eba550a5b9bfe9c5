// Package ledger turns business events into balanced double-entry journals (DESIGN.md §3).
// A posting's amount is positive for a debit and negative for a credit; a journal's postings
// sum to zero per currency, and NewJournal refuses one that does not.
package ledger

import (
	"fmt"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// Journal kinds; with RefID they form the journal's unique key, so an event posts at most once.
const (
	KindCapture    = "capture"    // payment succeeded
	KindRefund     = "refund"     // refund succeeded
	KindSettlement = "settlement" // settlement batch
	KindPayout     = "payout"     // payout confirmed
	// KindAmountAdjustment is an accepted amount mismatch (reconcile resolve --accept channel),
	// keyed by the adjustment (recon_adjustments).
	KindAmountAdjustment = "amount_adjustment"
	// KindFeeAdjustment is an accepted channel fee mismatch, keyed by the adjustment.
	KindFeeAdjustment = "fee_adjustment"
)

// Account names.
const (
	PlatformFeeRevenue = "platform:fee_revenue"
	PlatformCash       = "platform:cash"
)

// ChannelReceivable is what a channel owes the platform.
func ChannelReceivable(channel string) string { return "channel:" + channel + ":receivable" }

// ChannelFeeCost is what the platform pays a channel in fees beyond what paygw expected by
// the channel's configured rate: accepted fee mismatches post their difference here.
func ChannelFeeCost(channel string) string { return "channel:" + channel + ":fee_cost" }

// MerchantPending is what the platform owes a merchant for unsettled transactions.
func MerchantPending(merchantID string) string { return "merchant:" + merchantID + ":pending" }

// MerchantPayable is what the platform owes a merchant for settled batches not yet paid out.
func MerchantPayable(merchantID string) string { return "merchant:" + merchantID + ":payable" }

// Posting is one line of a journal (the domain's type: the store writes it without importing
// this package).
type Posting = paygw.Posting

// Journal is a balanced set of postings caused by one event.
type Journal = paygw.Journal

// ErrUnbalanced is returned for a journal whose postings do not sum to zero per currency.
var ErrUnbalanced = paygw.ErrUnbalanced

// NewJournal builds a journal, dropping zero postings and refusing an unbalanced or empty one.
func NewJournal(kind, refID string, postings ...Posting) (Journal, error) {
	j := Journal{Kind: kind, RefID: refID}
	for _, p := range postings {
		if p.Amount != 0 {
			j.Postings = append(j.Postings, p)
		}
	}
	if err := j.Check(); err != nil {
		return Journal{}, err
	}
	return j, nil
}

// Capture is the journal of a succeeded payment: channel receivable / merchant pending.
func Capture(paymentID, channel, merchantID string, cur money.Currency, amount int64) (Journal, error) {
	return NewJournal(KindCapture, paymentID,
		line(ChannelReceivable(channel), cur, amount),
		line(MerchantPending(merchantID), cur, -amount))
}

// Refund is the journal of a succeeded refund: merchant pending / channel receivable.
func Refund(refundID, channel, merchantID string, cur money.Currency, amount int64) (Journal, error) {
	return NewJournal(KindRefund, refundID,
		line(MerchantPending(merchantID), cur, amount),
		line(ChannelReceivable(channel), cur, -amount))
}

// Settlement is the journal of a settlement batch: merchant pending (gross − refunded) is
// debited, fee revenue credited with the fee and merchant payable with the rest. The carried-in
// amount needs no posting: it is already a debit balance on merchant payable.
func Settlement(batchID, merchantID string, cur money.Currency, gross, refunded, fee int64) (Journal, error) {
	return NewJournal(KindSettlement, batchID,
		line(MerchantPending(merchantID), cur, gross-refunded),
		line(PlatformFeeRevenue, cur, -fee),
		line(MerchantPayable(merchantID), cur, -(gross-refunded-fee)))
}

// Payout is the journal of a confirmed payout: merchant payable / platform cash.
func Payout(batchID, merchantID string, cur money.Currency, net int64) (Journal, error) {
	if net <= 0 {
		return Journal{}, fmt.Errorf("payout %s: net %d must be positive", batchID, net)
	}
	return NewJournal(KindPayout, batchID,
		line(MerchantPayable(merchantID), cur, net),
		line(PlatformCash, cur, -net))
}

// AmountAdjustment is the journal of adjustment adjID, an accepted amount mismatch: delta is the difference for the merchant (the channel's amount − ours on a payment, ours −
// the channel's on a refund). A positive delta debits channel receivable (the channel holds more
// of the merchant's money) and credits merchant pending; a negative one the reverse. The
// merchant's next settlement moves it from pending to payable like any payment.
func AmountAdjustment(adjID, channel, merchantID string, cur money.Currency, delta int64) (Journal, error) {
	if delta == 0 || delta == minInt64 {
		return Journal{}, fmt.Errorf("amount adjustment %s: delta %d", adjID, delta)
	}
	return NewJournal(KindAmountAdjustment, adjID,
		line(ChannelReceivable(channel), cur, delta),
		line(MerchantPending(merchantID), cur, -delta))
}

// FeeAdjustment is the journal of adjustment adjID, an accepted fee mismatch: delta is how much more the platform pays the channel in fees than expected (negative: less). The
// channel keeps it out of what it remits, so it is debited to channel fee cost and credited to
// channel receivable. Merchant accounts are untouched: the merchant's fee follows its own plan.
func FeeAdjustment(adjID, channel string, cur money.Currency, delta int64) (Journal, error) {
	if delta == 0 || delta == minInt64 {
		return Journal{}, fmt.Errorf("fee adjustment %s: delta %d", adjID, delta)
	}
	return NewJournal(KindFeeAdjustment, adjID,
		line(ChannelFeeCost(channel), cur, delta),
		line(ChannelReceivable(channel), cur, -delta))
}

const minInt64 = -1 << 63

// line is a posting: debit when amount > 0, credit when < 0.
func line(account string, cur money.Currency, amount int64) Posting {
	return Posting{Account: account, Currency: cur, Amount: amount}
}
