// Package fee computes merchant fees by fee plan (DESIGN.md §4) and the fee a refund returns.
package fee

import (
	"fmt"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// Validate checks a fee plan's fields.
func Validate(p paygw.FeePlan) error {
	switch {
	case p.RateBps < 0 || p.RateBps > 10000:
		return fmt.Errorf("fee rate_bps %d out of range 0..10000", p.RateBps)
	case p.Fixed < 0:
		return fmt.Errorf("fee fixed %d is negative", p.Fixed)
	case p.Min != nil && *p.Min < 0:
		return fmt.Errorf("fee min %d is negative", *p.Min)
	case p.Max != nil && *p.Max < 0:
		return fmt.Errorf("fee max %d is negative", *p.Max)
	case p.Min != nil && p.Max != nil && *p.Min > *p.Max:
		return fmt.Errorf("fee min %d is above max %d", *p.Min, *p.Max)
	}
	return nil
}

// Payment returns the fee on a payment of amount minor units:
// clamp(round_half_up(amount × rate_bps ÷ 10000) + fixed, min, max).
func Payment(p paygw.FeePlan, amount int64) (int64, error) {
	f, err := money.Bps(amount, p.RateBps)
	if err != nil {
		return 0, err
	}
	if f, err = money.Add(f, p.Fixed); err != nil {
		return 0, err
	}
	if p.Min != nil && f < *p.Min {
		f = *p.Min
	}
	if p.Max != nil && f > *p.Max {
		f = *p.Max
	}
	return f, nil
}

// Refund returns the fee a refund gives back: round_half_up(paymentFee × refund ÷ paymentAmount),
// except that the refund completing a full refund returns whatever is left (paymentFee −
// returnedBefore), so fees never drift by a cent. refundedBefore and returnedBefore are the
// amount and fee of the payment's earlier succeeded refunds.
func Refund(paymentFee, paymentAmount, refundAmount, refundedBefore, returnedBefore int64) (int64, error) {
	if paymentAmount <= 0 {
		return 0, fmt.Errorf("refund fee: payment amount %d must be positive", paymentAmount)
	}
	if refundAmount <= 0 || refundedBefore < 0 || refundedBefore+refundAmount > paymentAmount {
		return 0, fmt.Errorf("refund fee: refund %d after %d exceeds payment %d", refundAmount, refundedBefore, paymentAmount)
	}
	if refundedBefore+refundAmount == paymentAmount {
		return paymentFee - returnedBefore, nil
	}
	f, err := money.MulDivHalfUp(paymentFee, refundAmount, paymentAmount)
	if err != nil {
		return 0, err
	}
	// Never return more than is left, whatever the rounding of earlier refunds did.
	if left := paymentFee - returnedBefore; f > left {
		f = left
	}
	return f, nil
}

// Channel returns the fee a channel charging rateBps is expected to take on amount.
func Channel(rateBps, amount int64) (int64, error) { return money.Bps(amount, rateBps) }
