package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// InsertPaymentWithNonce (one statement on PostgreSQL) records the payment and its nonce
// together or neither: a used nonce writes no payment, a duplicate out_trade_no records no nonce.
func TestInsertPaymentWithNonce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		exp := now.Add(15 * time.Minute)
		pay := func(out string) paygw.Payment {
			return paygw.Payment{ID: paygw.NewID("pay"), MerchantID: m.ID, OutTradeNo: out, Amount: 100, Currency: "CNY",
				PayMethod: paygw.PayMethodWalletQR, RequestHash: "h", Status: paygw.PaymentCreated, Channel: "sandbox",
				ExpiresAt: &exp, NextQueryAt: &exp, Metadata: []byte(`{"k":"v"}`), CreatedAt: now, UpdatedAt: now}
		}
		nonce := func(v string) *store.NonceUse {
			return &store.NonceUse{MerchantID: m.ID, Nonce: v, Expires: now.Add(301 * time.Second)}
		}
		p1 := pay("o1")
		if fresh, err := s.InsertPaymentWithNonce(ctx, p1, nonce("nonce-0001"), now); err != nil || !fresh {
			t.Fatalf("first: fresh=%v %v", fresh, err)
		}
		got, err := s.GetPayment(ctx, p1.ID)
		if err != nil || got.Version != 1 || got.Status != paygw.PaymentCreated || string(got.Metadata) != `{"k":"v"}` ||
			got.NextQueryAt == nil || !got.NextQueryAt.Equal(exp) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("stored payment %+v, %v", got, err)
		}
		// The same nonce again: replayed, and the second payment is not written.
		p2 := pay("o2")
		if fresh, err := s.InsertPaymentWithNonce(ctx, p2, nonce("nonce-0001"), now); err != nil || fresh {
			t.Fatalf("replayed nonce: fresh=%v %v", fresh, err)
		}
		if _, err := s.GetPayment(ctx, p2.ID); err == nil {
			t.Fatal("a payment was written under a replayed nonce")
		}
		// A duplicate out_trade_no with a new nonce: unique error, and the nonce stays unused.
		if _, err := s.InsertPaymentWithNonce(ctx, pay("o1"), nonce("nonce-0002"), now); !store.IsUnique(err, store.PaymentOutTradeNoKey...) {
			t.Fatalf("duplicate out_trade_no: %v", err)
		}
		if fresh, err := s.UseNonce(ctx, m.ID, "nonce-0002", now.Add(301*time.Second), now); err != nil || !fresh {
			t.Fatalf("the failed insert recorded its nonce: fresh=%v %v", fresh, err)
		}
		// Without a nonce (a deferred one already recorded elsewhere).
		if fresh, err := s.InsertPaymentWithNonce(ctx, pay("o3"), nil, now); err != nil || !fresh {
			t.Fatalf("no nonce: fresh=%v %v", fresh, err)
		}
		// An expired nonce may be used again.
		later := now.Add(10 * time.Minute)
		if fresh, err := s.InsertPaymentWithNonce(ctx, pay("o4"), &store.NonceUse{MerchantID: m.ID, Nonce: "nonce-0001",
			Expires: later.Add(301 * time.Second)}, later); err != nil || !fresh {
			t.Fatalf("expired nonce reused: fresh=%v %v", fresh, err)
		}
	})
}
