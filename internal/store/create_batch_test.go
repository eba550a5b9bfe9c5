package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func newCreate(m paygw.Merchant, out string, now time.Time) paygw.Payment {
	exp := now.Add(15 * time.Minute)
	return paygw.Payment{ID: paygw.NewID("pay"), MerchantID: m.ID, OutTradeNo: out, Amount: 100, Currency: "CNY",
		PayMethod: paygw.PayMethodWalletQR, RequestHash: "h", Status: paygw.PaymentCreated, Channel: "sandbox",
		ExpiresAt: &exp, NextQueryAt: &exp, Metadata: []byte(`{"k":"v"}`), CreatedAt: now, UpdatedAt: now}
}

// Creates written as one batch each get InsertPaymentWithNonce's answer: on PostgreSQL in one
// statement (payments stored as a create of their own stores them), a nonce used before is a
// replay that writes no payment; a second use of an out_trade_no makes the database refuse the
// statement, and set by set it is the only one refused, with its nonce left unused.
func TestInsertPaymentsWithNoncesInOneStatement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		nonce := func(v string) store.NonceUse {
			return store.NonceUse{MerchantID: m.ID, Nonce: v, Expires: now.Add(301 * time.Second)}
		}
		if fresh, err := s.UseNonce(ctx, m.ID, "used", now.Add(301*time.Second), now); err != nil || !fresh {
			t.Fatal(fresh, err)
		}
		single := newCreate(m, "single", now)
		if fresh, err := s.InsertPaymentWithNonce(ctx, single, &store.NonceUse{MerchantID: m.ID, Nonce: "n-single", Expires: now.Add(time.Minute)}, now); err != nil || !fresh {
			t.Fatal(fresh, err)
		}
		ps := []paygw.Payment{newCreate(m, "a", now), newCreate(m, "b", now), newCreate(m, "c", now), newCreate(m, "d", now)}
		ps[2].ExpiresAt, ps[2].NextQueryAt, ps[2].Metadata = nil, nil, nil
		before := s.CreateStats()
		// b reuses a nonce of the same slot; d the single create's nonce under another expiry, so
		// in another slot (found among the live slots).
		fresh, errs := s.InsertPaymentsWithNonces(ctx, ps, []store.NonceUse{nonce("n-a"), nonce("used"), nonce("n-c"), nonce("n-single")}, now)
		for i, err := range errs {
			if err != nil || fresh[i] != (i == 0 || i == 2) {
				t.Fatalf("fresh %v, errors %v; want a and c fresh, b and d replayed", fresh, errs)
			}
		}
		for _, p := range []paygw.Payment{ps[1], ps[3]} {
			if _, err := s.GetPayment(ctx, p.ID); err == nil {
				t.Errorf("payment %s was written under a replayed nonce", p.OutTradeNo)
			}
		}
		// As stored, a batched create reads back as the single one did (times, nulls, metadata).
		want, err := s.GetPayment(ctx, single.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPayment(ctx, ps[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		got.ID, got.OutTradeNo = want.ID, want.OutTradeNo
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("batched create reads back\n %+v\nthe single one\n %+v", got, want)
		}
		// Stored without an expiry, a next query or metadata: NULLs, as the single create stores them.
		if c, err := s.GetPayment(ctx, ps[2].ID); err != nil || c.ExpiresAt != nil || c.NextQueryAt != nil || len(c.Metadata) != 0 || c.Version != 1 {
			t.Errorf("c: %+v %v", c, err)
		}
		if after := s.CreateStats(); s.Dialect() == store.Postgres && (after.Statements-before.Statements != 1 || after.Batched-before.Batched != 4) {
			t.Errorf("create stats %+v → %+v; want one statement of 4", before, after)
		}

		// A retry of out_trade_no "a" among new creates writes nothing in the shared statement
		// and is answered alone: a unique error (the gateway's idempotent reply), its nonce unused;
		// the others are written.
		ps = []paygw.Payment{newCreate(m, "e", now), newCreate(m, "a", now), newCreate(m, "f", now)}
		before = s.CreateStats()
		fresh, errs = s.InsertPaymentsWithNonces(ctx, ps, []store.NonceUse{nonce("n-e"), nonce("n-retry"), nonce("n-f")}, now)
		if errs[0] != nil || errs[2] != nil || !fresh[0] || !fresh[2] || !store.IsUnique(errs[1], store.PaymentOutTradeNoKey...) {
			t.Fatalf("fresh %v, errors %v; want e and f fresh, the retry of a refused as a duplicate", fresh, errs)
		}
		if ok, err := s.UseNonce(ctx, m.ID, "n-retry", now.Add(301*time.Second), now); err != nil || !ok {
			t.Errorf("the refused create recorded its nonce: fresh=%v %v", ok, err)
		}
		if after := s.CreateStats(); s.Dialect() == store.Postgres && (after.Fallbacks != before.Fallbacks || after.Statements-before.Statements != 1) {
			t.Errorf("create stats %+v → %+v; want one shared statement, none refused", before, after)
		}

		// Two creates of one out_trade_no in one batch: the first is written, the second answered
		// as the retry it is.
		ps = []paygw.Payment{newCreate(m, "g", now), newCreate(m, "g", now)}
		fresh, errs = s.InsertPaymentsWithNonces(ctx, ps, []store.NonceUse{nonce("n-g1"), nonce("n-g2")}, now)
		if errs[0] != nil || !fresh[0] || !store.IsUnique(errs[1], store.PaymentOutTradeNoKey...) {
			t.Fatalf("fresh %v, errors %v; want the first g written, the second a duplicate", fresh, errs)
		}
	})
}

// Creates made at the same moment by many callers share statements on PostgreSQL; of two
// callers using one nonce exactly one writes its payment.
func TestConcurrentCreatesShareStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Busy shop", 60)
		now := time.Now().UTC()
		const workers, each = 32, 8
		before := s.CreateStats()
		var fresh sync.Map // nonce → how many callers got fresh=true
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for k := range each {
					// Workers 2i and 2i+1 use the same nonces: a replay racing the original.
					v := fmt.Sprintf("n-%d-%d", w/2, k)
					p := newCreate(m, fmt.Sprintf("o-%d-%d", w, k), now)
					ok, err := s.InsertPaymentWithNonce(ctx, p, &store.NonceUse{MerchantID: m.ID, Nonce: v, Expires: now.Add(301 * time.Second)}, now)
					if err != nil {
						errs <- err
						continue
					}
					if ok {
						c, _ := fresh.LoadOrStore(v, new(atomic.Int32))
						c.(*atomic.Int32).Add(1)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		n := 0
		fresh.Range(func(k, v any) bool {
			n++
			if c := v.(*atomic.Int32).Load(); c != 1 {
				t.Errorf("nonce %s: %d payments written, want 1", k, c)
			}
			return true
		})
		var stored int
		if err := s.DB().Get(&stored, s.DB().Rebind(`SELECT COUNT(*) FROM payments WHERE merchant_id = ?`), m.ID); err != nil {
			t.Fatal(err)
		}
		if n != workers/2*each || stored != n {
			t.Errorf("%d nonces fresh, %d payments stored; want %d each", n, stored, workers/2*each)
		}
		if s.Dialect() == store.Postgres {
			after := s.CreateStats()
			if after.Requests-before.Requests != workers*each || after.Statements == before.Statements {
				t.Errorf("create stats %+v → %+v; want %d requests, some sharing statements", before, after, workers*each)
			}
			t.Logf("%d creates in %d batches, %d statements of several", after.Requests-before.Requests, after.Batches-before.Batches,
				after.Statements-before.Statements)
		}
	})
}
