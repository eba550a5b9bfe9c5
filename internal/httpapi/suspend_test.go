package httpapi_test

import (
	"testing"
	"time"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// setStatus suspends or resumes a merchant as `paygw merchant suspend|resume` does.
func setStatus(t *testing.T, s *store.Store, id, status string) {
	t.Helper()
	err := s.Transact(ctx, func(tx *store.Tx) error {
		m, err := tx.GetMerchant(ctx, id)
		if err != nil {
			return err
		}
		m.Status = status
		return tx.UpdateMerchant(ctx, m, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSuspendedMerchantIsRefused: a suspended merchant's calls answer 403 merchant_suspended
// (before issue 10 they answered 401 unknown_merchant, as if it did not exist); resumed, it
// is served again. Another merchant is not affected.
func TestSuspendedMerchantIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var now time.Time
		clock := func() time.Time { return now }
		now = time.Now()
		e := gwtest.Start(t, s, gwtest.Options{Now: clock})
		_, other := e.NewMerchant(t, "Other", 60)
		c := *e.Client
		c.Now = clock
		other.Now = clock
		setStatus(t, s, e.Merchant.ID, "suspended")
		now = now.Add(3 * time.Second) // past the gateway's secret cache
		if _, err := c.GetPayment(ctx, "pay_missing"); apiCode(err) != "403 merchant_suspended" {
			t.Errorf("suspended merchant: %s, want 403 merchant_suspended", apiCode(err))
		}
		if _, _, err := c.CreatePayment(ctx, map[string]any{"out_trade_no": "s-1", "amount": 100, "currency": "CNY",
			"pay_method": "wallet_qr", "subject": "x"}); apiCode(err) != "403 merchant_suspended" {
			t.Errorf("suspended merchant create: %s, want 403 merchant_suspended", apiCode(err))
		}
		if _, err := other.GetPayment(ctx, "pay_missing"); apiCode(err) != "404 not_found" {
			t.Errorf("other merchant: %s", apiCode(err))
		}
		setStatus(t, s, e.Merchant.ID, "active")
		now = now.Add(3 * time.Second)
		if _, err := c.GetPayment(ctx, "pay_missing"); apiCode(err) != "404 not_found" {
			t.Errorf("resumed merchant: %s, want 404 not_found", apiCode(err))
		}
	})
}
