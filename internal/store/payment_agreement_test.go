package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// A payment by a method that needs an agreement is recorded only while its agreement is active
// in the database, by every insert (alone, in a batch, in a transaction): a terminated one,
// another merchant's, a pending one or none is ErrAgreementInactive, with nothing written (the
// nonce stays unused). The gateway relies on it to keep agreements in memory.
func TestPaymentNeedsActiveAgreement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		other, _ := storetest.Merchant(t, s, "Other", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		agreement := func(id string, mid string, st paygw.AgreementStatus) {
			t.Helper()
			if err := s.InsertAgreement(ctx, paygw.Agreement{ID: id, MerchantID: mid, OutAgreementNo: id,
				PayMethod: paygw.PayMethodWithhold, Status: st, Channel: "sandbox", ChannelNo: "C" + id,
				AccountToken: "tok", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		agreement("agr_live", m.ID, paygw.AgreementActive)
		agreement("agr_ending", m.ID, paygw.AgreementActive)
		agreement("agr_pending", m.ID, paygw.AgreementPending)
		agreement("agr_theirs", other.ID, paygw.AgreementActive)
		withhold := func(out, agr string) paygw.Payment {
			p := newCreate(m, out, now)
			p.PayMethod, p.AgreementID, p.PayerAccount = paygw.PayMethodWithhold, agr, "tok"
			return p
		}
		nonce := func(v string) store.NonceUse {
			return store.NonceUse{MerchantID: m.ID, Nonce: v, Expires: now.Add(301 * time.Second)}
		}
		unused := func(what, v string) {
			t.Helper()
			if fresh, err := s.UseNonce(ctx, m.ID, v, now.Add(301*time.Second), now); err != nil || !fresh {
				t.Errorf("%s: its nonce was recorded: fresh=%v %v", what, fresh, err)
			}
		}
		absent := func(what string, p paygw.Payment) {
			t.Helper()
			if _, err := s.GetPayment(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: the payment was written (%v)", what, err)
			}
		}
		for i, p := range []paygw.Payment{withhold("w-live", "agr_live"), withhold("w-ending", "agr_ending")} {
			n := nonce("ok-" + p.OutTradeNo)
			if fresh, err := s.InsertPaymentWithNonce(ctx, p, &n, now); err != nil || !fresh {
				t.Fatalf("%d: active agreement: fresh=%v %v", i, fresh, err)
			}
		}
		if ok, err := s.UpdateAgreementStatus(ctx, "agr_ending", paygw.AgreementActive, paygw.AgreementTerminated, "", now); err != nil || !ok {
			t.Fatal(ok, err)
		}
		for _, tc := range []struct{ name, agr string }{
			{"terminated", "agr_ending"}, {"pending", "agr_pending"}, {"another merchant's", "agr_theirs"},
			{"unknown", "agr_nobody"}, {"none", ""},
		} {
			// Alone (one statement on PostgreSQL, a transaction on SQLite).
			p := withhold("one-"+tc.name, tc.agr)
			n := nonce("one-" + tc.name)
			if fresh, err := s.InsertPaymentWithNonce(ctx, p, &n, now); !errors.Is(err, store.ErrAgreementInactive) || fresh {
				t.Errorf("%s alone: fresh=%v %v, want ErrAgreementInactive", tc.name, fresh, err)
			}
			absent(tc.name+" alone", p)
			unused(tc.name+" alone", n.Nonce)
			// Without a nonce, and inside a caller's transaction.
			q := withhold("tx-"+tc.name, tc.agr)
			if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertPayment(ctx, q) }); !errors.Is(err, store.ErrAgreementInactive) {
				t.Errorf("%s in a transaction: %v, want ErrAgreementInactive", tc.name, err)
			}
			absent(tc.name+" in a transaction", q)
			// In a batch beside payments that go through (one statement on PostgreSQL).
			ps := []paygw.Payment{newCreate(m, "b1-"+tc.name, now), withhold("b2-"+tc.name, tc.agr), withhold("b3-"+tc.name, "agr_live")}
			ns := []store.NonceUse{nonce("b1-" + tc.name), nonce("b2-" + tc.name), nonce("b3-" + tc.name)}
			fresh, errs := s.InsertPaymentsWithNonces(ctx, ps, ns, now)
			if errs[0] != nil || !fresh[0] || errs[2] != nil || !fresh[2] {
				t.Errorf("%s in a batch: the others: fresh %v, errors %v", tc.name, fresh, errs)
			}
			if !errors.Is(errs[1], store.ErrAgreementInactive) || fresh[1] {
				t.Errorf("%s in a batch: fresh=%v %v, want ErrAgreementInactive", tc.name, fresh[1], errs[1])
			}
			absent(tc.name+" in a batch", ps[1])
			unused(tc.name+" in a batch", ns[1].Nonce)
		}
		// A method that needs no agreement may still name one (its payer), whatever its state.
		p := newCreate(m, "qr-ended", now)
		p.AgreementID = "agr_ending"
		if fresh, err := s.InsertPaymentWithNonce(ctx, p, nil, now); err != nil || !fresh {
			t.Errorf("wallet_qr naming a terminated agreement: fresh=%v %v", fresh, err)
		}
	})
}
