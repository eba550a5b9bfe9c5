package store_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// attempt claims notification id at at and records one attempt: delivered, failed (due again an
// hour later) or, when neither, the last one (dead). Production's path: claim, then RecordAttempts.
func attempt(t *testing.T, s *store.Store, id string, at time.Time, delivered, failed bool) {
	t.Helper()
	ctx := context.Background()
	d, ok, err := s.ClaimNotification(ctx, id, "w1", time.Minute, at)
	if err != nil || !ok {
		t.Fatalf("claim %s: ok=%v %v", id, ok, err)
	}
	r := store.AttemptResult{NotificationID: id, Holder: "w1", Attempt: d.Attempts + 1, StartedAt: at, StatusCode: 500}
	switch {
	case delivered:
		r.StatusCode, r.Delivered = 200, true
	case failed:
		r.NextAttemptAt = at.Add(time.Hour)
	}
	if lost, err := s.RecordAttempts(ctx, []store.AttemptResult{r}, at); err != nil || len(lost) != 0 {
		t.Fatalf("record attempt of %s: lost=%v %v", id, lost, err)
	}
}

// deliveredNote inserts a notification created at at that fails once and is delivered a minute
// later: two attempts.
func deliveredNote(t *testing.T, s *store.Store, merchantID string, at time.Time) paygw.Notification {
	t.Helper()
	n := insertNote(t, s, merchantID, paygw.NewID("pay"), paygw.EventPaymentSucceeded, at)
	attempt(t, s, n.ID, at, false, true)
	attempt(t, s, n.ID, at.Add(time.Minute), true, false)
	return n
}

// Issue 12: delivered notifications were kept forever. The purge deletes delivered ones whose
// delivery is older than the cutoff, with their attempts, and nothing else: not recent deliveries,
// not pending, failed or dead notifications of any age (operators replay those), not a delivered
// one an operator's --now replay holds a lease on.
func TestPurgeDeliveredNotifications(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		old := t0.Add(-90 * 24 * time.Hour)
		now := t0
		cutoff := now.Add(-30 * 24 * time.Hour)

		gone := []paygw.Notification{deliveredNote(t, s, m.ID, old), deliveredNote(t, s, m.ID, cutoff.Add(-2*time.Minute))}
		recent := deliveredNote(t, s, m.ID, cutoff.Add(time.Minute)) // delivered after the cutoff
		// Created long ago but delivered only recently (a replay): kept, delivery is what counts.
		replayed := insertNote(t, s, m.ID, paygw.NewID("pay"), paygw.EventPaymentSucceeded, old)
		attempt(t, s, replayed.ID, old, false, false)
		attempt(t, s, replayed.ID, now.Add(-time.Hour), true, false)
		pending := insertNote(t, s, m.ID, paygw.NewID("pay"), paygw.EventPaymentSucceeded, old)
		failed := insertNote(t, s, m.ID, paygw.NewID("pay"), paygw.EventPaymentSucceeded, old)
		attempt(t, s, failed.ID, old, false, true)
		dead := insertNote(t, s, m.ID, paygw.NewID("pay"), paygw.EventPaymentSucceeded, old)
		attempt(t, s, dead.ID, old, false, false)
		leased := deliveredNote(t, s, m.ID, old)
		if _, ok, err := s.ClaimNotification(ctx, leased.ID, "operator", time.Minute, now); err != nil || !ok {
			t.Fatalf("replay --now lease: %v %v", ok, err)
		}

		n, err := s.PurgeDeliveredNotifications(ctx, cutoff, now, 1000)
		if err != nil || n != len(gone) {
			t.Fatalf("purge = %d, %v; want %d", n, err, len(gone))
		}
		for _, g := range gone {
			if _, err := s.GetNotification(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("old delivered %s: %v, want not found", g.ID, err)
			}
			if as, err := s.NotificationAttempts(ctx, g.ID); err != nil || len(as) != 0 {
				t.Errorf("attempts of purged %s: %d left, %v", g.ID, len(as), err)
			}
		}
		kept := map[string]paygw.Notification{"recent delivered": recent, "replayed": replayed, "pending": pending,
			"failed": failed, "dead": dead, "leased": leased}
		for what, k := range kept {
			if _, err := s.GetNotification(ctx, k.ID); err != nil {
				t.Errorf("%s %s: %v, want kept", what, k.ID, err)
			}
		}
		if as, _ := s.NotificationAttempts(ctx, recent.ID); len(as) != 2 {
			t.Errorf("attempts of a kept notification: %d, want 2", len(as))
		}
		// Nothing more now; once the lease is over the leased one goes too.
		if n, err := s.PurgeDeliveredNotifications(ctx, cutoff, now, 1000); err != nil || n != 0 {
			t.Fatalf("second purge = %d, %v; want 0", n, err)
		}
		if n, err := s.PurgeDeliveredNotifications(ctx, cutoff, now.Add(2*time.Minute), 1000); err != nil || n != 1 {
			t.Fatalf("purge after the lease = %d, %v; want 1", n, err)
		}
		if total, _ := s.CountNotifications(ctx, store.NotificationFilter{}); total != len(kept)-1 {
			t.Errorf("%d notifications left, want %d", total, len(kept)-1)
		}
		if _, err := s.PurgeDeliveredNotifications(ctx, cutoff, now, 0); err == nil {
			t.Error("limit 0 accepted")
		}
	})
}

// A backlog larger than the limit takes several calls, each deleting at most limit, oldest
// delivery first, until none is left.
func TestPurgeDeliveredNotificationsBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		var ids []string
		for i := 0; i < 7; i++ {
			n := insertNote(t, s, m.ID, paygw.NewID("pay"), paygw.EventPaymentSucceeded, t0.Add(time.Duration(i)*time.Hour))
			attempt(t, s, n.ID, t0.Add(time.Duration(i)*time.Hour), true, false)
			ids = append(ids, n.ID)
		}
		keep := deliveredNote(t, s, m.ID, t0.Add(20*time.Hour))
		cutoff, now := t0.Add(10*time.Hour), t0.Add(24*time.Hour)
		var got []int
		for i := 0; i < 5; i++ {
			n, err := s.PurgeDeliveredNotifications(ctx, cutoff, now, 3)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
			if i == 0 {
				// The oldest three deliveries went first.
				for j, id := range ids {
					_, err := s.GetNotification(ctx, id)
					if (j < 3) != errors.Is(err, store.ErrNotFound) {
						t.Errorf("after the first batch, notification %d: %v", j, err)
					}
				}
			}
		}
		if want := []int{3, 3, 1, 0, 0}; !slices.Equal(got, want) {
			t.Errorf("batches deleted %v, want %v", got, want)
		}
		if total, _ := s.CountNotifications(ctx, store.NotificationFilter{}); total != 1 {
			t.Errorf("%d notifications left, want only the recent one", total)
		}
		if _, err := s.GetNotification(ctx, keep.ID); err != nil {
			t.Errorf("recent delivered: %v", err)
		}
	})
}

// The purge's selection reads the rows it deletes, not the notifications it keeps: with thousands
// of old pending and dead notifications and recent deliveries (statistics present), a batch that
// deletes 10 reads a bounded number of rows on PostgreSQL (EXPLAIN ANALYZE), and on SQLite reads
// notifications only through a range of notifications_delivered.
func TestPurgeDeliveredNotificationsUsesIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		old := t0.Add(-90 * 24 * time.Hour)
		now := t0
		const kept = 3000
		bulk := func(at time.Time) { insertNotes(t, s, m.ID, kept, at) }
		// Old notifications that are kept: dead ones, and pending ones.
		bulk(old)
		bulk(old.Add(time.Hour))
		finish := func(at time.Time, delivered bool) {
			o := store.ClaimOptions{Holder: "w1", Limit: 1000, Lease: time.Minute}
			for {
				ds, err := s.ClaimNotifications(ctx, o, at)
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) == 0 {
					return
				}
				rs := make([]store.AttemptResult, len(ds))
				for i, d := range ds {
					rs[i] = store.AttemptResult{NotificationID: d.ID, Holder: "w1", Attempt: 1, StartedAt: at, StatusCode: 200, Delivered: delivered}
				}
				if _, err := s.RecordAttempts(ctx, rs, at); err != nil {
					t.Fatal(err)
				}
			}
		}
		finish(old.Add(time.Hour), false) // 2×kept dead
		bulk(old)                         // kept pending
		// Recent deliveries, kept.
		bulk(now.Add(-time.Hour))
		finish(now.Add(-time.Hour), true)
		// Ten old deliveries, the purge's work.
		for i := 0; i < 10; i++ {
			deliveredNote(t, s, m.ID, old.Add(2*time.Hour))
		}
		if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		cutoff := now.Add(-30 * 24 * time.Hour)
		plan, err := s.ExplainPurge(ctx, cutoff, now, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dialect() == store.Postgres {
			// The plan's rows: 10 candidates, 20 attempts, 10 deletions and their lookups.
			if read := rowsRead(t, plan[0]); read > 200 {
				t.Errorf("the purge read %d rows to delete 10 among %d kept notifications:\n%s", read, 4*kept, plan[0])
			}
		} else {
			allowed := regexp.MustCompile(`USING (COVERING )?INDEX notifications_delivered \(delivered_at<\?\)$`)
			table := regexp.MustCompile(`^(SCAN|SEARCH) notifications\b`)
			for _, row := range plan {
				f := strings.SplitN(row, " ", 3)
				if table.MatchString(f[2]) && !allowed.MatchString(f[2]) {
					t.Errorf("the purge reads notifications beyond the delivered range: %q\n%s", f[2], strings.Join(plan, "\n"))
				}
			}
		}
		if n, err := s.PurgeDeliveredNotifications(ctx, cutoff, now, 1000); err != nil || n != 10 {
			t.Fatalf("purge = %d, %v; want 10", n, err)
		}
		if total, _ := s.CountNotifications(ctx, store.NotificationFilter{}); total != 4*kept {
			t.Errorf("%d notifications left, want %d", total, 4*kept)
		}
	})
}
