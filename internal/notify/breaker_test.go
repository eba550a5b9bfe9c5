package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/notify"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// Issue 10: with a receiver that refuses each event's first try, the breaker's half-open trials
// went to never-tried events (they were due before the deferred retries), so nothing was ever
// delivered while events kept arriving. The trial must be the oldest due notification, so the
// queue makes progress at least every other reopening. Real time: the breaker opens for 300 ms.
func TestBreakerTrialIsOldestDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, _ := storetest.Merchant(t, s, "flaky", 60)
		var mu sync.Mutex
		seen := map[string]bool{}
		var order []string // event of each request
		var at []time.Time // when it arrived
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(notify.HeaderEventID)
			mu.Lock()
			first := !seen[id]
			seen[id] = true
			order = append(order, id)
			at = append(at, time.Now())
			mu.Unlock()
			if first {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(rcv.Close)
		created := time.Now().Add(-time.Second)
		var ids []string
		for i := 0; i < 12; i++ {
			ids = append(ids, addNote(t, s, m.ID, rcv.URL, created).ID)
		}
		cfg := testConfig()
		cfg.Schedule = nil
		for i := 0; i < 30; i++ {
			cfg.Schedule = append(cfg.Schedule, config.Duration(50*time.Millisecond))
		}
		cfg.BreakerFailures = 1
		cfg.BreakerOpenFor = config.Duration(300 * time.Millisecond)
		w := notify.NewWorker(s, cfg, quietLog(), nil)

		delivered := func() int {
			n := 0
			for _, id := range ids {
				if mustGet(t, s, id).Status == paygw.NotificationDelivered {
					n++
				}
			}
			return n
		}
		deadline := time.Now().Add(15 * time.Second)
		for delivered() < len(ids) && time.Now().Before(deadline) {
			step(t, w)
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		// Requests come in bursts while the breaker is closed; a request after a silence of most
		// of the open period is a half-open trial. The trial is the oldest due notification: a
		// never-tried event can be it once (it was older than any retry), but then its own retry
		// is the oldest due and goes next, so two trials in a row never go to never-tried events.
		// Before the fix every trial did, and nothing was delivered until all events were tried.
		trials, freshInARow := 0, 0
		for i := 1; i < len(order); i++ {
			if at[i].Sub(at[i-1]) < 250*time.Millisecond {
				continue
			}
			trials++
			if slices.Contains(order[:i], order[i]) {
				freshInARow = 0
				continue
			}
			if freshInARow++; freshInARow == 2 {
				t.Errorf("half-open trials %d and %d both went to never-tried events, not to the due retry", trials-1, trials)
			}
		}
		if trials == 0 {
			t.Errorf("no half-open trial seen in %d requests", len(order))
		}
		if n := delivered(); n != len(ids) {
			t.Errorf("%d of %d delivered in 15 s", n, len(ids))
		}
		// Each event: one refused first try, one delivery; trials never wasted on a second refusal.
		if len(order) != 2*len(ids) {
			t.Errorf("%d requests for %d events, want %d", len(order), len(ids), 2*len(ids))
		}
	})
}

// Issue 12: one merchant's notifications were delivered at about one cap-full per poll interval,
// because the worker slept a whole poll when a claim found the merchant still at its cap while
// the finished deliveries were being recorded. A worker must claim the next due notifications as
// soon as recorded deliveries free the merchant's slots: with the poll interval at an hour, every
// notification is still delivered.
func TestOneMerchantNeverWaitsForThePoll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, _ := storetest.Merchant(t, s, "big", 60)
		rcv := newReceiver(t, func(int) int { return http.StatusOK })
		const n = 120
		for i := 0; i < n; i++ {
			addNote(t, s, m.ID, rcv.URL, time.Now().Add(-time.Second))
		}
		cfg := testConfig()
		cfg.Workers, cfg.PerMerchant = 16, 2
		cfg.PollInterval = config.Duration(time.Hour)
		w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithStatsInterval(0))
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		defer func() { stop(); <-done }()
		deadline := time.Now().Add(30 * time.Second)
		for len(rcv.requests()) < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := len(rcv.requests()); got < n {
			t.Fatalf("%d of %d delivered: the worker waited for the poll", got, n)
		}
	})
}
