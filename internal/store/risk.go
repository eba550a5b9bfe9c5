package store

import (
	"context"
	"fmt"
)

// ReserveDailyCap adds a payment's amount to its merchant's counter for (business date,
// currency) unless the counter would pass limit, and remembers on the payment the date it was
// counted under, so that a failure or close releases it. One conditional upsert decides: the
// counter row is locked by the update, so concurrent creates are serialised on it and exactly
// the ones that fit pass. ok=false: the cap would be exceeded and nothing changed.
func (t *Tx) ReserveDailyCap(ctx context.Context, paymentID, merchantID, date, currency string, amount, limit int64) (bool, error) {
	if amount > limit {
		return false, nil
	}
	n, err := exec(ctx, t.tx, t.dialect, `INSERT INTO risk_daily_totals (merchant_id, business_date, currency, amount)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (merchant_id, business_date, currency) DO UPDATE SET amount = risk_daily_totals.amount + excluded.amount
		WHERE risk_daily_totals.amount <= ? - excluded.amount`,
		merchantID, date, currency, amount, limit)
	if err != nil {
		return false, fmt.Errorf("reserve daily cap: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if _, err := exec(ctx, t.tx, t.dialect, `UPDATE payments SET cap_date = ? WHERE id = ?`, date, paymentID); err != nil {
		return false, fmt.Errorf("reserve daily cap: %w", err)
	}
	return true, nil
}

// ReleaseDailyCap gives back to the daily cap the amount of a payment that failed or closed
// (a no-op for a payment the cap did not count).
func (t *Tx) ReleaseDailyCap(ctx context.Context, paymentID, merchantID, currency string, amount int64) error {
	_, err := exec(ctx, t.tx, t.dialect, `UPDATE risk_daily_totals SET amount = amount - ?
		WHERE merchant_id = ? AND currency = ? AND amount >= ?
			AND business_date = (SELECT cap_date FROM payments WHERE id = ?)`,
		amount, merchantID, currency, amount, paymentID)
	if err != nil {
		return fmt.Errorf("release daily cap %s: %w", paymentID, err)
	}
	return nil
}

// DailyCapUsed returns a merchant's counted amount for a business date and currency.
func (s *Store) DailyCapUsed(ctx context.Context, merchantID, date, currency string) (int64, error) {
	var v []int64
	if err := sel(ctx, s.db, s.dialect, &v, `SELECT amount FROM risk_daily_totals
		WHERE merchant_id = ? AND business_date = ? AND currency = ?`, merchantID, date, currency); err != nil {
		return 0, fmt.Errorf("daily cap used: %w", err)
	}
	if len(v) == 0 {
		return 0, nil
	}
	return v[0], nil
}
