package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var t0 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

// insertNote inserts a notification for merchantID created at at.
func insertNote(t *testing.T, s *store.Store, merchantID, paymentID, typ string, at time.Time) paygw.Notification {
	t.Helper()
	n := paygw.Notification{
		ID: paygw.NewID("evt"), MerchantID: merchantID, PaymentID: paymentID, Type: typ,
		URL: "http://127.0.0.1:1/hook", Body: []byte(`{"id":"x"}`), CreatedAt: at,
	}
	if err := s.Transact(context.Background(), func(tx *store.Tx) error { return tx.InsertNotification(context.Background(), n) }); err != nil {
		t.Fatalf("insert notification: %v", err)
	}
	return n
}

// insertNotes inserts n pending notifications of merchantID created at at, 1,000 per transaction.
func insertNotes(t *testing.T, s *store.Store, merchantID string, n int, at time.Time) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < n; start += 1000 {
		err := s.Transact(ctx, func(tx *store.Tx) error {
			for i := start; i < min(start+1000, n); i++ {
				note := paygw.Notification{ID: paygw.NewID("evt"), MerchantID: merchantID, PaymentID: paygw.NewID("pay"),
					Type: paygw.EventPaymentSucceeded, URL: "http://127.0.0.1:1/", Body: []byte("{}"), CreatedAt: at}
				if err := tx.InsertNotification(ctx, note); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestInsertNotificationUnique(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		n := insertNote(t, s, m.ID, "pay_1", paygw.EventPaymentSucceeded, t0)
		dup := n
		dup.ID = paygw.NewID("evt")
		err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertNotification(ctx, dup) })
		if !store.IsUnique(err) {
			t.Fatalf("second payment.succeeded of pay_1: err = %v, want a unique violation", err)
		}
		// A refund's notification is keyed by the refund, not the payment.
		r := dup
		r.RefundID, r.Type = "ref_1", paygw.EventRefundSucceeded
		if err := s.Transact(ctx, func(tx *store.Tx) error { return tx.InsertNotification(ctx, r) }); err != nil {
			t.Fatalf("refund notification: %v", err)
		}
		got, err := s.GetNotification(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != paygw.NotificationPending || !got.NextAttemptAt.Equal(t0) || string(got.Body) != `{"id":"x"}` {
			t.Errorf("stored %+v", got)
		}
	})
}

func TestClaimLeaseAndComplete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		n := insertNote(t, s, m.ID, "pay_1", paygw.EventPaymentSucceeded, t0)
		opts := store.ClaimOptions{Holder: "w1", Limit: 10, PerMerchant: 8, Lease: time.Minute}

		if ds, _ := s.ClaimNotifications(ctx, opts, t0.Add(-time.Second)); len(ds) != 0 {
			t.Fatalf("claimed %d before due", len(ds))
		}
		ds, err := s.ClaimNotifications(ctx, opts, t0)
		if err != nil || len(ds) != 1 || ds[0].ID != n.ID || ds[0].Holder != "w1" {
			t.Fatalf("claim = %+v, %v", ds, err)
		}
		// Leased: nobody else gets it until the lease ends.
		opts2 := opts
		opts2.Holder = "w2"
		if ds, _ := s.ClaimNotifications(ctx, opts2, t0.Add(59*time.Second)); len(ds) != 0 {
			t.Fatalf("w2 claimed a leased notification")
		}
		// w1 dies; after the lease w2 takes it over.
		ds2, err := s.ClaimNotifications(ctx, opts2, t0.Add(61*time.Second))
		if err != nil || len(ds2) != 1 {
			t.Fatalf("claim after lease = %v, %v", ds2, err)
		}
		// w1's late completion loses: its attempt is recorded, w2's state stands.
		lost, err := s.RecordAttempts(ctx, []store.AttemptResult{{NotificationID: n.ID, Holder: "w1", Attempt: 1,
			StartedAt: t0, StatusCode: 200, Delivered: true}}, t0.Add(62*time.Second))
		if err != nil || len(lost) != 1 {
			t.Fatalf("late completion: lost=%v err=%v", lost, err)
		}
		next := t0.Add(2 * time.Minute)
		lost, err = s.RecordAttempts(ctx, []store.AttemptResult{{NotificationID: n.ID, Holder: "w2", Attempt: 1,
			StartedAt: t0, StatusCode: 500, Error: "status 500", Response: "oops", NextAttemptAt: next}}, t0.Add(62*time.Second))
		if err != nil || len(lost) != 0 {
			t.Fatalf("complete: lost=%v err=%v", lost, err)
		}
		got, _ := s.GetNotification(ctx, n.ID)
		if got.Status != paygw.NotificationFailed || got.Attempts != 1 || !got.NextAttemptAt.Equal(next) || got.LastStatus != 500 {
			t.Errorf("after failure: %+v", got)
		}
		as, err := s.NotificationAttempts(ctx, n.ID)
		if err != nil || len(as) != 2 || as[1].Response != "oops" || as[1].StatusCode != 500 {
			t.Fatalf("attempts = %+v, %v", as, err)
		}
		// Dead when the schedule is exhausted (NextAttemptAt zero).
		ds, _ = s.ClaimNotifications(ctx, opts, next)
		if len(ds) != 1 || ds[0].Retry != 1 {
			t.Fatalf("reclaim: %+v", ds)
		}
		if _, err := s.RecordAttempts(ctx, []store.AttemptResult{{NotificationID: n.ID, Holder: "w1", Attempt: 2, StartedAt: next}}, next); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetNotification(ctx, n.ID); got.Status != paygw.NotificationDead || got.Attempts != 2 {
			t.Errorf("after last attempt: %+v", got)
		}
		if ds, _ := s.ClaimNotifications(ctx, opts, next.Add(time.Hour)); len(ds) != 0 {
			t.Errorf("claimed a dead notification")
		}
		// Requeue: pending again, schedule restarted, next attempt manual.
		k, err := s.RequeueNotifications(ctx, store.NotificationFilter{PaymentID: "pay_1"}, next.Add(time.Hour))
		if err != nil || k != 1 {
			t.Fatalf("requeue = %d, %v", k, err)
		}
		ds, _ = s.ClaimNotifications(ctx, opts, next.Add(time.Hour))
		if len(ds) != 1 || ds[0].Retry != 0 || !ds[0].Replay || ds[0].Attempts != 2 {
			t.Fatalf("claim after requeue: %+v", ds)
		}
	})
}

func TestClaimPerMerchantCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		slow, _ := storetest.Merchant(t, s, "slow", 60)
		fast, _ := storetest.Merchant(t, s, "fast", 60)
		// The slow merchant's 20 notifications are older: at the head of the queue.
		for i := 0; i < 20; i++ {
			insertNote(t, s, slow.ID, fmt.Sprintf("pay_s%d", i), paygw.EventPaymentSucceeded, t0.Add(time.Duration(i)*time.Millisecond))
		}
		for i := 0; i < 5; i++ {
			insertNote(t, s, fast.ID, fmt.Sprintf("pay_f%d", i), paygw.EventPaymentSucceeded, t0.Add(time.Second))
		}
		opts := store.ClaimOptions{Holder: "w1", Limit: 4, PerMerchant: 3, Lease: time.Minute}
		now := t0.Add(time.Minute)
		count := func(ds []store.Delivery) map[string]int {
			c := map[string]int{}
			for _, d := range ds {
				c[d.MerchantID]++
			}
			return c
		}
		// The slow merchant never passes its cap, and its backlog does not hold the fast one back:
		// once slow is at its cap, claims skip it.
		total := map[string]int{}
		for i := 0; i < 3; i++ {
			ds, err := s.ClaimNotifications(ctx, opts, now)
			if err != nil {
				t.Fatal(err)
			}
			for m, n := range count(ds) {
				total[m] += n
			}
		}
		if total[slow.ID] != 3 || total[fast.ID] != 3 {
			t.Fatalf("claimed per merchant = %v, want 3 each (the cap)", total)
		}
	})
}

func TestClaimConcurrentClaimersNeverShare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		const total = 300
		err := s.Transact(ctx, func(tx *store.Tx) error {
			for i := 0; i < total; i++ {
				n := paygw.Notification{ID: paygw.NewID("evt"), MerchantID: m.ID, PaymentID: fmt.Sprintf("pay_%d", i),
					Type: paygw.EventPaymentSucceeded, URL: "http://x", Body: []byte("{}"), CreatedAt: t0}
				if err := tx.InsertNotification(ctx, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(holder string) {
				defer wg.Done()
				for {
					ds, err := s.ClaimNotifications(ctx, store.ClaimOptions{Holder: holder, Limit: 7, Lease: time.Minute}, t0)
					if err != nil {
						errs <- err
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						if prev, ok := seen[d.ID]; ok {
							errs <- fmt.Errorf("%s claimed by %s and %s", d.ID, prev, holder)
						}
						seen[d.ID] = holder
					}
					mu.Unlock()
				}
			}(fmt.Sprintf("w%d", w))
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(seen) != total {
			t.Errorf("claimed %d of %d", len(seen), total)
		}
	})
}

func TestListCountRequeueFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := storetest.Merchant(t, s, "a", 60)
		b, _ := storetest.Merchant(t, s, "b", 60)
		for i := 0; i < 7; i++ {
			insertNote(t, s, a.ID, fmt.Sprintf("pay_a%d", i), paygw.EventPaymentSucceeded, t0.Add(time.Duration(i)*time.Hour))
		}
		insertNote(t, s, a.ID, "pay_a0", paygw.EventPaymentClosed, t0)
		insertNote(t, s, b.ID, "pay_b0", paygw.EventPaymentSucceeded, t0)
		tests := []struct {
			name string
			f    store.NotificationFilter
			want int
		}{
			{"all", store.NotificationFilter{}, 9},
			{"merchant", store.NotificationFilter{MerchantID: a.ID}, 8},
			{"payment", store.NotificationFilter{PaymentID: "pay_a0"}, 2},
			{"type", store.NotificationFilter{Type: paygw.EventPaymentClosed}, 1},
			{"status", store.NotificationFilter{Status: paygw.NotificationDead}, 0},
			{"window", store.NotificationFilter{MerchantID: a.ID, Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, 2},
		}
		for _, tt := range tests {
			n, err := s.CountNotifications(ctx, tt.f)
			if err != nil || n != tt.want {
				t.Errorf("%s: count = %d, %v; want %d", tt.name, n, err, tt.want)
			}
		}
		// Paging covers everything exactly once.
		var cur *store.NotificationCursor
		got := 0
		for {
			page, err := s.ListNotifications(ctx, store.NotificationFilter{MerchantID: a.ID}, cur, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got += len(page)
			last := page[len(page)-1]
			cur = &store.NotificationCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if got != 8 {
			t.Errorf("paged %d, want 8", got)
		}
		// A leased notification is not re-queued under its worker.
		if _, err := s.ClaimNotifications(ctx, store.ClaimOptions{Holder: "w", Limit: 1, Lease: time.Hour}, t0); err != nil {
			t.Fatal(err)
		}
		n, err := s.RequeueNotifications(ctx, store.NotificationFilter{MerchantID: a.ID}, t0.Add(time.Minute))
		if err != nil || n != 7 {
			t.Errorf("requeue = %d, %v; want 7 (one is leased)", n, err)
		}
		st, err := s.NotificationQueueStats(ctx, t0.Add(time.Minute))
		if err != nil || st.Waiting != 9 || st.Due < 1 || st.OldestDue.IsZero() {
			t.Errorf("stats = %+v, %v", st, err)
		}
		if _, err := s.GetNotification(ctx, "evt_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
	})
}

// TestClaimAttemptedFreesSlots: a notification its holder has attempted and not recorded yet is
// still leased (nobody else takes it) but no longer counts against its merchant's cap for that
// holder's claims; another holder still counts it.
func TestClaimAttemptedFreesSlots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "busy", 60)
		for i := 0; i < 10; i++ {
			insertNote(t, s, m.ID, fmt.Sprintf("pay_a%d", i), paygw.EventPaymentSucceeded, t0.Add(time.Duration(i)*time.Millisecond))
		}
		now := t0.Add(time.Minute)
		opts := store.ClaimOptions{Holder: "w1", Limit: 10, PerMerchant: 3, Lease: time.Minute}
		first, err := s.ClaimNotifications(ctx, opts, now)
		if err != nil || len(first) != 3 {
			t.Fatalf("first claim %d %v; want the cap, 3", len(first), err)
		}
		if again, err := s.ClaimNotifications(ctx, opts, now); err != nil || len(again) != 0 {
			t.Fatalf("claim at the cap took %d (%v); want 0", len(again), err)
		}
		attempted := []string{first[0].ID, first[1].ID}
		other := opts
		other.Holder, other.Attempted = "w2", attempted
		if got, err := s.ClaimNotifications(ctx, other, now); err != nil || len(got) != 0 {
			t.Fatalf("another holder naming w1's attempts took %d (%v); want 0", len(got), err)
		}
		opts.Attempted = attempted
		more, err := s.ClaimNotifications(ctx, opts, now)
		if err != nil || len(more) != 2 {
			t.Fatalf("claim with 2 attempted took %d (%v); want 2", len(more), err)
		}
		for _, d := range more {
			for _, f := range first {
				if d.ID == f.ID {
					t.Fatalf("%s claimed twice while leased", d.ID)
				}
			}
		}
	})
}
