package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/outcome"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

func attempt(id string, o outcome.Payment, now time.Time) *store.ChannelAttempt {
	return &store.ChannelAttempt{PaymentID: id, Channel: "sandbox", Operation: "pay", Outcome: string(o.Status),
		Latency: 7 * time.Millisecond, StartedAt: now, FinishedAt: now}
}

// Several payments' write sets applied together (one statement on PostgreSQL for those that can
// share it) write exactly what ApplyPayment writes for each, and a stale snapshot among them
// moves nothing but its attempt.
func TestApplyPaymentWriteSetsWritesWhatApplyPaymentWrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		withURL, without := merchantsWithAndWithoutURL(t, s)
		at := time.Date(2026, 12, 4, 1, 2, 3, 456789123, time.UTC)
		now := at.Add(time.Minute)
		cases := outcomeCases(withURL, without, at)
		var as, bs []paygw.Payment
		var want []paygw.Payment
		var wss []store.PaymentWriteSet
		for i, c := range cases {
			a := newPayment(t, s, c.m, fmt.Sprintf("a%d", i), c.notifyURL, at)
			b := newPayment(t, s, c.m, fmt.Sprintf("b%d", i), c.notifyURL, at)
			oa, ob := c.o, c.o
			oa.Attempt, ob.Attempt = attempt(a.ID, c.o, now), attempt(b.ID, c.o, now)
			pa, changed, err := outcome.ApplyPayment(ctx, s, a.ID, oa, now, shanghai)
			if err != nil || !changed {
				t.Fatalf("%s: ApplyPayment: changed=%v %v", c.name, changed, err)
			}
			ws, ok, err := outcome.WriteSetFrom(b, ob, now, shanghai)
			if err != nil || !ok {
				t.Fatalf("%s: WriteSetFrom: ok=%v %v", c.name, ok, err)
			}
			as, bs, want, wss = append(as, a), append(bs, b), append(want, pa), append(wss, ws)
		}
		// A snapshot the payment has moved on from (the channel's first answer was recorded).
		stale := newPayment(t, s, without, "stale", "", at)
		if _, err := s.MarkPaymentSent(ctx, stale.ID, store.ChannelUpdate{Channel: "sandbox", Status: paygw.PaymentProcessing}, at); err != nil {
			t.Fatal(err)
		}
		o := outcome.Payment{Status: paygw.PaymentSucceeded}
		o.Attempt = attempt(stale.ID, o, now)
		ws, _, err := outcome.WriteSetFrom(stale, o, now, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		wss = append(wss, ws)

		before := s.WriteSetStats()
		res := s.ApplyPaymentWriteSets(ctx, wss)
		for i, c := range cases {
			r := res[i]
			if r.Err != nil || !r.Moved {
				t.Fatalf("%s: moved=%v %v", c.name, r.Moved, r.Err)
			}
			pb := r.Payment
			pb.ID, pb.OutTradeNo = want[i].ID, want[i].OutTradeNo
			if fmt.Sprintf("%+v", want[i]) != fmt.Sprintf("%+v", pb) {
				t.Errorf("%s: returned payments differ:\n ApplyPayment          %+v\n ApplyPaymentWriteSets %+v", c.name, want[i], pb)
			}
			da, db := dump(t, s, as[i]), dump(t, s, bs[i])
			if strings.Join(da, "\n") != strings.Join(db, "\n") {
				t.Errorf("%s: writes differ:\nApplyPayment:\n  %s\nApplyPaymentWriteSets:\n  %s", c.name, strings.Join(da, "\n  "), strings.Join(db, "\n  "))
			}
		}
		if r := res[len(cases)]; r.Err != nil || r.Moved {
			t.Errorf("stale snapshot: moved=%v %v; want not moved, no error", r.Moved, r.Err)
		}
		staleWrites := dump(t, s, stale)
		if got := strings.Join(staleWrites, "\n"); strings.Contains(got, "posting") || strings.Contains(got, "notification") ||
			strings.Count(got, "attempt ") != 1 {
			t.Errorf("stale snapshot wrote:\n  %s\nwant its attempt only", strings.Join(staleWrites, "\n  "))
		}
		after := s.WriteSetStats()
		if s.Dialect() == store.Postgres {
			// The three successes and the stale one shared a statement; the two that give cap room
			// back were applied on their own.
			if after.Statements-before.Statements != 1 || after.Batched-before.Batched != 4 || after.Fallbacks != before.Fallbacks {
				t.Errorf("stats %+v → %+v; want one statement of 4 sets, no fallback", before, after)
			}
		} else if after != (store.BatchStats{}) {
			t.Errorf("SQLite stats %+v; want none (its writer groups transactions)", after)
		}
		ledgerOK(t, s)
	})
}

// A statement of several sets that the database refuses (one set breaks a constraint) changes
// nothing; each set is then applied on its own, so the bad one gets its error and the others move.
func TestApplyPaymentWriteSetsOneBadSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Shop", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		var wss []store.PaymentWriteSet
		for i := range 3 {
			p := newPayment(t, s, m, fmt.Sprintf("o%d", i), "http://127.0.0.1:9/n", now)
			o := outcome.Payment{Status: paygw.PaymentSucceeded}
			o.Attempt = attempt(p.ID, o, now)
			ws, _, err := outcome.WriteSetFrom(p, o, now, shanghai)
			if err != nil {
				t.Fatal(err)
			}
			wss = append(wss, ws)
		}
		bad := *wss[1].Settle
		bad.Kind = "bogus" // settle_pending.kind is payment or refund
		wss[1].Settle = &bad
		before := s.WriteSetStats()
		res := s.ApplyPaymentWriteSets(ctx, wss)
		for i, r := range res {
			if i == 1 {
				var ce *store.ConstraintError
				if !errors.As(r.Err, &ce) || r.Moved {
					t.Errorf("bad set: moved=%v %v; want a constraint error", r.Moved, r.Err)
				}
				continue
			}
			if r.Err != nil || !r.Moved || r.Payment.Status != paygw.PaymentSucceeded {
				t.Errorf("set %d: moved=%v %s %v; want succeeded", i, r.Moved, r.Payment.Status, r.Err)
			}
		}
		if n := count(t, s, `SELECT COUNT(*) FROM payments WHERE id = ? AND status = 'succeeded'`, wss[1].PaymentID); n != 0 {
			t.Errorf("the bad set's payment moved (%d)", n)
		}
		if after := s.WriteSetStats(); s.Dialect() == store.Postgres && after.Fallbacks-before.Fallbacks != 1 {
			t.Errorf("fallbacks %d → %d; want one", before.Fallbacks, after.Fallbacks)
		}
		ledgerOK(t, s)
	})
}

// Outcomes applied at the same moment by many callers (the gateway under load) share
// statements on PostgreSQL; each payment moves once with its whole write set, the balances are
// those of the postings, and a caller whose context has ended either has its outcome written
// (a statement had taken it) or learns that nothing was.
func TestConcurrentOutcomesShareStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Busy shop", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		const workers, each = 32, 8
		snaps := make([]paygw.Payment, workers*each)
		for i := range snaps {
			snaps[i] = newPayment(t, s, m, fmt.Sprintf("c%d", i), "http://127.0.0.1:9/n", now)
		}
		before := s.WriteSetStats()
		start := make(chan struct{})
		errs := make(chan error, len(snaps))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for k := range each {
					snap := snaps[w*each+k]
					cctx := ctx
					if k == 0 { // this caller gives up at once; its outcome is still written and answered
						c, cancel := context.WithCancel(ctx)
						cancel()
						cctx = c
					}
					o := outcome.Payment{Status: paygw.PaymentSucceeded, ChannelTradeNo: "ct-" + snap.OutTradeNo}
					o.Attempt = attempt(snap.ID, o, now)
					p, moved, err := outcome.ApplyPaymentFrom(cctx, s, snap, o, now, shanghai)
					switch {
					case k == 0 && err != nil:
						// Withdrawn before a statement took it (SQLite's writer, too, honours
						// cancellation before a transaction starts): nothing may have moved.
						if !errors.Is(err, context.Canceled) {
							errs <- fmt.Errorf("%s: %v", snap.ID, err)
						} else if cur, gerr := s.GetPayment(ctx, snap.ID); gerr != nil || cur.Status != paygw.PaymentCreated {
							errs <- fmt.Errorf("%s: answered canceled but %s (%v)", snap.ID, cur.Status, gerr)
						}
					case err != nil || !moved || p.Status != paygw.PaymentSucceeded || p.ChannelTradeNo != "ct-"+snap.OutTradeNo:
						errs <- fmt.Errorf("%s: moved=%v %s %q %v", snap.ID, moved, p.Status, p.ChannelTradeNo, err)
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
		succeeded := count(t, s, `SELECT COUNT(*) FROM payments WHERE merchant_id = ? AND status = 'succeeded'`, m.ID)
		journals := count(t, s, `SELECT COUNT(*) FROM ledger_journals j JOIN payments p ON p.id = j.ref_id WHERE p.merchant_id = ?`, m.ID)
		notes := count(t, s, `SELECT COUNT(*) FROM notifications WHERE merchant_id = ?`, m.ID)
		marks := count(t, s, `SELECT COUNT(*) FROM settle_pending WHERE merchant_id = ?`, m.ID)
		if succeeded < len(snaps)-workers {
			t.Errorf("succeeded %d of %d; only the %d callers that had gone away may have been withdrawn", succeeded, len(snaps), workers)
		}
		if journals != succeeded || notes != succeeded || marks != succeeded {
			t.Errorf("succeeded %d, journals %d, notifications %d, settle marks %d; want one of each per succeeded payment", succeeded, journals, notes, marks)
		}
		ledgerOK(t, s)
		if s.Dialect() == store.Postgres {
			after := s.WriteSetStats()
			if after.Requests-before.Requests != int64(succeeded) || after.Statements == before.Statements || after.Fallbacks != before.Fallbacks {
				t.Errorf("stats %+v → %+v; want the %d moved sets, some sharing statements, no fallback", before, after, succeeded)
			}
			t.Logf("%d sets in %d batches, %d statements of several", after.Requests-before.Requests, after.Batches-before.Batches, after.Statements-before.Statements)
		}
	})
}

// Two outcomes of one payment at the same moment (the pay call's answer and a query, say) never
// share a statement nor run in two at once: one moves the payment, the other finds it moved and
// answers the current row; one journal, one notification, both attempts.
func TestTwoOutcomesOfOnePaymentAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "Twice", 60)
		now := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
		const n = 24
		snaps := make([]paygw.Payment, n)
		for i := range snaps {
			snaps[i] = newPayment(t, s, m, fmt.Sprintf("t%d", i), "http://127.0.0.1:9/n", now)
		}
		var moved atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 * n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				snap := snaps[i%n]
				o := outcome.Payment{Status: paygw.PaymentSucceeded, ChannelTradeNo: "ct-" + snap.OutTradeNo}
				o.Attempt = attempt(snap.ID, o, now)
				p, ok, err := outcome.ApplyPaymentFrom(ctx, s, snap, o, now, shanghai)
				if err != nil || p.Status != paygw.PaymentSucceeded {
					t.Errorf("%s: %s %v", snap.ID, p.Status, err)
				}
				if ok {
					moved.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if moved.Load() != n {
			t.Errorf("%d outcomes moved a payment, want %d (one per payment)", moved.Load(), n)
		}
		for q, want := range map[string]int{
			`SELECT COUNT(*) FROM ledger_journals j JOIN payments p ON p.id = j.ref_id WHERE p.merchant_id = ?`:      n,
			`SELECT COUNT(*) FROM notifications WHERE merchant_id = ?`:                                               n,
			`SELECT COUNT(*) FROM channel_attempts a JOIN payments p ON p.id = a.payment_id WHERE p.merchant_id = ?`: 2 * n,
		} {
			if got := count(t, s, q, m.ID); got != want {
				t.Errorf("%s = %d; want %d", q, got, want)
			}
		}
		ledgerOK(t, s)
	})
}
