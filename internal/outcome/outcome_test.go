package outcome_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var shanghai = time.FixedZone("CST", 8*3600)

// newPayment records a created payment (counted against a daily cap) and returns it as the
// gateway holds it after recording: the snapshot ApplyPaymentFrom computes from.
func newPayment(t *testing.T, s *store.Store, m paygw.Merchant, out, notifyURL string, at time.Time) paygw.Payment {
	t.Helper()
	ctx := context.Background()
	exp := at.Add(15*time.Minute + 123456789) // sub-microsecond digits: the store keeps microseconds
	p := paygw.Payment{ID: paygw.NewID("pay"), MerchantID: m.ID, OutTradeNo: out, Amount: 12345, Currency: "CNY",
		PayMethod: paygw.PayMethodWalletQR, Subject: "tea", NotifyURL: notifyURL, ExpiresAt: &exp, RequestHash: "h",
		Status: paygw.PaymentCreated, Channel: "sandbox", CreatedAt: store.Now(at), UpdatedAt: store.Now(at), Version: 1}
	err := s.Transact(ctx, func(tx *store.Tx) error {
		if err := tx.InsertPayment(ctx, p); err != nil {
			return err
		}
		ok, err := tx.ReserveDailyCap(ctx, p.ID, m.ID, "2026-12-04", "CNY", p.Amount, 1_000_000_000)
		if err == nil && !ok {
			err = fmt.Errorf("cap refused")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ledgerOK fails t unless the ledger holds its invariants (what `paygw verify` checks).
func ledgerOK(t *testing.T, s *store.Store) {
	t.Helper()
	if problems, err := s.LedgerCheck(context.Background(), 10); err != nil || len(problems) > 0 {
		t.Errorf("ledger check (paygw verify): %v %+v", err, problems)
	}
}

// count returns the single number query q (with ? placeholders) selects.
func count(t *testing.T, s *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().Get(&n, s.DB().Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// dump is everything an outcome wrote about a payment, with its ids replaced by placeholders
// so that two payments' writes can be compared.
func dump(t *testing.T, s *store.Store, p paygw.Payment) []string {
	t.Helper()
	db := s.DB()
	var out []string
	q := func(label, query string) {
		rows, err := db.Queryx(db.Rebind(query), p.ID)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		defer rows.Close()
		for rows.Next() {
			vals, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			line := label + fmt.Sprint(vals...)
			for _, b := range vals {
				if bs, ok := b.([]byte); ok {
					line += string(bs)
				}
			}
			out = append(out, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	q("payment ", `SELECT status, channel_trade_no, paid_at, business_date, fail_reason, next_query_at, version, cap_date FROM payments WHERE id = ?`)
	q("notification ", `SELECT id, type, url, body, status, attempts, next_attempt_at, created_at FROM notifications WHERE payment_id = ?`)
	q("posting ", `SELECT j.kind, p.account, p.currency, p.amount, j.created_at FROM ledger_journals j JOIN ledger_postings p ON p.journal_id = j.id
		WHERE j.ref_id = ? ORDER BY p.account`)
	q("settle ", `SELECT kind, business_date, out_no, currency, amount, done_at FROM settle_pending WHERE object_id = ?`)
	q("attempt ", `SELECT channel, operation, outcome, error, latency_ms FROM channel_attempts WHERE payment_id = ?`)
	var nid []string
	if err := db.Select(&nid, db.Rebind(`SELECT id FROM notifications WHERE payment_id = ?`), p.ID); err != nil {
		t.Fatal(err)
	}
	r := []string{p.ID, "PAY", p.OutTradeNo, "OUT"}
	for _, id := range nid {
		r = append(r, id, "EVT")
	}
	for i := range out {
		out[i] = strings.NewReplacer(r...).Replace(out[i])
	}
	return out
}

type outcomeCase struct {
	name      string
	m         paygw.Merchant
	notifyURL string
	o         outcome.Payment
}

// outcomeCases are the outcomes the write-set tests apply both ways: every effect, and a
// notification to the request's URL, to the merchant's default and to neither.
func outcomeCases(withURL, without paygw.Merchant, at time.Time) []outcomeCase {
	return []outcomeCase{
		{"succeeded, request url", without, "http://127.0.0.1:9/req", outcome.Payment{Status: paygw.PaymentSucceeded, ChannelTradeNo: "ct-1", PaidAt: at.Add(time.Second)}},
		{"succeeded, merchant default url", withURL, "", outcome.Payment{Status: paygw.PaymentSucceeded, PaidAt: at.Add(-time.Hour)}},
		{"succeeded, no url at all", without, "", outcome.Payment{Status: paygw.PaymentSucceeded}},
		{"failed releases the cap", withURL, "", outcome.Payment{Status: paygw.PaymentFailed, FailReason: "declined", ChannelTradeNo: "ct-2"}},
		{"closed", without, "http://127.0.0.1:9/req", outcome.Payment{Status: paygw.PaymentClosed, FailReason: "expired"}},
	}
}

// merchantsWithAndWithoutURL onboards two merchants, the first with a default notify URL.
func merchantsWithAndWithoutURL(t *testing.T, s *store.Store) (withURL, without paygw.Merchant) {
	t.Helper()
	ctx := context.Background()
	withURL, _ = storetest.Merchant(t, s, "With URL", 60)
	if err := s.Transact(ctx, func(tx *store.Tx) error {
		m, err := tx.GetMerchant(ctx, withURL.ID)
		if err != nil {
			return err
		}
		m.NotifyURL = "http://127.0.0.1:9/merchant-default"
		withURL = m
		return tx.UpdateMerchant(ctx, m, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	without, _ = storetest.Merchant(t, s, "Without URL", 60)
	return withURL, without
}

// ApplyPaymentFrom (the write set computed from the gateway's snapshot, one statement on
// PostgreSQL) writes exactly what ApplyPayment (primitives composed on the current row) writes.
func TestApplyPaymentFromWritesWhatApplyPaymentWrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		withURL, without := merchantsWithAndWithoutURL(t, s)
		at := time.Date(2026, 12, 4, 1, 2, 3, 456789123, time.UTC)
		for i, c := range outcomeCases(withURL, without, at) {
			t.Run(c.name, func(t *testing.T) {
				now := at.Add(time.Duration(i) * time.Minute)
				a := newPayment(t, s, c.m, fmt.Sprintf("a%d", i), c.notifyURL, at)
				b := newPayment(t, s, c.m, fmt.Sprintf("b%d", i), c.notifyURL, at)
				att := func(id string) *store.ChannelAttempt {
					return &store.ChannelAttempt{PaymentID: id, Channel: "sandbox", Operation: "pay", Outcome: string(c.o.Status),
						Latency: 7 * time.Millisecond, StartedAt: now, FinishedAt: now}
				}
				oa, ob := c.o, c.o
				oa.Attempt, ob.Attempt = att(a.ID), att(b.ID)
				pa, changedA, err := outcome.ApplyPayment(ctx, s, a.ID, oa, now, shanghai)
				if err != nil || !changedA {
					t.Fatalf("ApplyPayment: changed=%v %v", changedA, err)
				}
				pb, changedB, err := outcome.ApplyPaymentFrom(ctx, s, b, ob, now, shanghai)
				if err != nil || !changedB {
					t.Fatalf("ApplyPaymentFrom: changed=%v %v", changedB, err)
				}
				pb.ID, pb.OutTradeNo = pa.ID, pa.OutTradeNo
				if fmt.Sprintf("%+v", pa) != fmt.Sprintf("%+v", pb) {
					t.Errorf("returned payments differ:\n ApplyPayment     %+v\n ApplyPaymentFrom %+v", pa, pb)
				}
				da, db := dump(t, s, a), dump(t, s, b)
				if strings.Join(da, "\n") != strings.Join(db, "\n") {
					t.Errorf("writes differ:\nApplyPayment:\n  %s\nApplyPaymentFrom:\n  %s", strings.Join(da, "\n  "), strings.Join(db, "\n  "))
				}
			})
		}
		// Both failed/closed pairs gave their room back; the succeeded ones still count.
		used, err := s.DailyCapUsed(ctx, withURL.ID, "2026-12-04", "CNY")
		if err != nil || used != 2*12345 {
			t.Errorf("daily cap used by %s = %d, %v; want the two succeeded payments' 24690", withURL.Name, used, err)
		}
		ledgerOK(t, s)
	})
}

// A snapshot that is no longer current (the payment moved after the gateway recorded it) is not
// written from: the outcome is applied from the current row, once, and the attempt recorded once.
func TestApplyPaymentFromStaleSnapshotAndDuplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		snap := newPayment(t, s, m, "o1", "http://127.0.0.1:9/n", now)
		if _, err := s.MarkPaymentSent(ctx, snap.ID, store.ChannelUpdate{Channel: "sandbox", ChannelTradeNo: "ct-9",
			Status: paygw.PaymentProcessing}, now); err != nil {
			t.Fatal(err)
		}
		o := outcome.Payment{Status: paygw.PaymentSucceeded, PaidAt: now,
			Attempt: &store.ChannelAttempt{PaymentID: snap.ID, Channel: "sandbox", Operation: "pay", Outcome: "succeeded", StartedAt: now, FinishedAt: now}}
		p, changed, err := outcome.ApplyPaymentFrom(ctx, s, snap, o, now, shanghai)
		if err != nil || !changed {
			t.Fatalf("stale snapshot: changed=%v %v", changed, err)
		}
		if p.Status != paygw.PaymentSucceeded || p.ChannelTradeNo != "ct-9" || p.Version != 3 {
			t.Errorf("applied from the current row: status %s, channel_trade_no %q (kept from the sent update), version %d; want succeeded, ct-9, 3",
				p.Status, p.ChannelTradeNo, p.Version)
		}
		// The same outcome again (a duplicate): nothing changes, the current payment is answered.
		p2, changed, err := outcome.ApplyPaymentFrom(ctx, s, snap, o, now.Add(time.Second), shanghai)
		if err != nil || changed || p2.Status != paygw.PaymentSucceeded || p2.Version != 3 {
			t.Fatalf("duplicate: changed=%v status %s version %d %v", changed, p2.Status, p2.Version, err)
		}
		counts := map[string]string{
			"journals":      `SELECT COUNT(*) FROM ledger_journals WHERE ref_id = ?`,
			"notifications": `SELECT COUNT(*) FROM notifications WHERE payment_id = ?`,
			"settle marks":  `SELECT COUNT(*) FROM settle_pending WHERE object_id = ?`,
		}
		for what, q := range counts {
			if n := count(t, s, q, snap.ID); n != 1 {
				t.Errorf("%s = %d; want 1", what, n)
			}
		}
		if n := count(t, s, `SELECT COUNT(*) FROM channel_attempts WHERE payment_id = ?`, snap.ID); n != 2 {
			t.Errorf("attempts = %d; want 2 (one per call, none twice)", n)
		}
		ledgerOK(t, s)
	})
}
