package notify_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/notify"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// step runs one claim-and-deliver round at the clock's time.
func step(t *testing.T, w *notify.Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return n
}

func TestFailTwiceThenSucceed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, secret := storetest.Merchant(t, s, "m", 60)
		rcv := newReceiver(t, func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		n := addNote(t, s, m.ID, rcv.URL+"/hook", t0)
		clk := newClock(t0)
		w := notify.NewWorker(s, testConfig(), quietLog(), nil, notify.WithClock(clk.Now), notify.WithID("w1"))

		if got := step(t, w); got != 1 {
			t.Fatalf("first round claimed %d", got)
		}
		// Not due again until the schedule's first step (1s) has passed.
		clk.Advance(999 * time.Millisecond)
		if got := step(t, w); got != 0 {
			t.Fatalf("claimed %d before the retry was due", got)
		}
		clk.Advance(time.Millisecond)
		step(t, w) // second attempt, fails
		clk.Advance(2 * time.Second)
		step(t, w) // third attempt, delivered
		clk.Advance(time.Hour)
		if got := step(t, w); got != 0 {
			t.Fatalf("a delivered notification was claimed again")
		}

		reqs := rcv.requests()
		if len(reqs) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(reqs))
		}
		checkSigned(t, reqs, secret)
		for i, r := range reqs {
			if r.EventID != n.ID || !bytes.Equal(r.Body, n.Body) {
				t.Errorf("request %d: event %s body %s; want %s and the frozen body", i+1, r.EventID, r.Body, n.ID)
			}
		}
		got := mustGet(t, s, n.ID)
		if got.Status != paygw.NotificationDelivered || got.Attempts != 3 || got.DeliveredAt == nil || got.LastStatus != 200 {
			t.Errorf("notification after delivery: %+v", got)
		}
		as, err := s.NotificationAttempts(context.Background(), n.ID)
		if err != nil || len(as) != 3 {
			t.Fatalf("attempts = %v, %v", as, err)
		}
		for i, want := range []int{500, 500, 200} {
			if as[i].Attempt != i+1 || as[i].StatusCode != want || as[i].Manual || as[i].Worker != "w1" || as[i].Response != "ok" {
				t.Errorf("attempt %d = %+v, want status %d", i+1, as[i], want)
			}
		}
	})
}

func TestAlwaysFailingEndsDeadThenReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, secret := storetest.Merchant(t, s, "m", 60)
		var up atomic.Bool
		rcv := newReceiver(t, func(int) int {
			if up.Load() {
				return http.StatusNoContent
			}
			return http.StatusServiceUnavailable
		})
		now, queued := addNote(t, s, m.ID, rcv.URL, t0), addNote(t, s, m.ID, rcv.URL, t0)
		clk := newClock(t0)
		cfg := testConfig()
		w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithClock(clk.Now))
		for i := 0; i < 10; i++ {
			step(t, w)
			clk.Advance(time.Minute)
		}
		for _, n := range []paygw.Notification{now, queued} {
			got := mustGet(t, s, n.ID)
			if got.Status != paygw.NotificationDead || got.Attempts != len(cfg.Schedule)+1 {
				t.Fatalf("after the schedule: status %s attempts %d, want dead after %d", got.Status, got.Attempts, len(cfg.Schedule)+1)
			}
		}
		up.Store(true)
		before := len(rcv.requests())

		// --now: delivered in this process, same event id, a manual attempt.
		res, err := w.Replay(ctx, notify.ReplayOptions{Filter: store.NotificationFilter{PaymentID: now.PaymentID}, Now: true})
		if err != nil || res.Selected != 1 || res.Delivered != 1 || res.Failed != 0 {
			t.Fatalf("replay --now = %+v, %v", res, err)
		}
		// default: re-queued for the workers, who record the next attempt as manual.
		res, err = w.Replay(ctx, notify.ReplayOptions{Filter: store.NotificationFilter{PaymentID: queued.PaymentID}})
		if err != nil || res.Selected != 1 || res.Requeued != 1 {
			t.Fatalf("replay = %+v, %v", res, err)
		}
		if got := step(t, w); got != 1 {
			t.Fatalf("worker claimed %d re-queued notifications, want 1", got)
		}
		reqs := rcv.requests()[before:]
		if len(reqs) != 2 {
			t.Fatalf("replays sent %d requests, want 2", len(reqs))
		}
		checkSigned(t, reqs, secret)
		for _, n := range []paygw.Notification{now, queued} {
			got := mustGet(t, s, n.ID)
			if got.Status != paygw.NotificationDelivered || got.Attempts != len(cfg.Schedule)+2 {
				t.Errorf("%s after replay: %s, %d attempts", n.ID, got.Status, got.Attempts)
			}
			as, _ := s.NotificationAttempts(ctx, n.ID)
			last := as[len(as)-1]
			if !last.Manual || last.StatusCode != 204 || last.Attempt != len(cfg.Schedule)+2 {
				t.Errorf("%s replay attempt = %+v, want manual 204", n.ID, last)
			}
		}
		var ids []string
		for _, r := range reqs {
			ids = append(ids, r.EventID)
		}
		if !(ids[0] == now.ID && ids[1] == queued.ID) {
			t.Errorf("replayed event ids %v, want the original ids %s %s", ids, now.ID, queued.ID)
		}
	})
}

func TestAbandonedClaimDeliveredAfterLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, secret := storetest.Merchant(t, s, "m", 60)
		rcv := newReceiver(t, func(int) int { return 200 })
		n := addNote(t, s, m.ID, rcv.URL, t0)
		cfg := testConfig()
		// A worker claims it and dies (kill -9): the claim is all that is left of it.
		if ds, err := s.ClaimNotifications(ctx, store.ClaimOptions{Holder: "killed", Limit: 10, Lease: cfg.Lease.D()}, t0); err != nil || len(ds) != 1 {
			t.Fatalf("claim = %v, %v", ds, err)
		}
		clk := newClock(t0.Add(cfg.Lease.D() - time.Second))
		w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithClock(clk.Now))
		if got := step(t, w); got != 0 {
			t.Fatalf("claimed %d while the dead worker's lease runs", got)
		}
		clk.Advance(time.Second)
		if got := step(t, w); got != 1 {
			t.Fatalf("claimed %d after the lease ended, want 1", got)
		}
		checkSigned(t, rcv.requests(), secret)
		if got := mustGet(t, s, n.ID); got.Status != paygw.NotificationDelivered || got.Attempts != 1 {
			t.Errorf("after lease: %+v", got)
		}
	})
}

// TestWorkersNeverDeliverTwiceAtOnce runs two workers (as two replicas would) on one queue and
// checks every notification is delivered exactly once, never by both at the same time.
func TestWorkersNeverDeliverTwiceAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ms := []string{}
		for _, name := range []string{"a", "b", "c"} {
			m, _ := storetest.Merchant(t, s, name, 60)
			ms = append(ms, m.ID)
		}
		var mu sync.Mutex
		inflight, count := map[string]int{}, map[string]int{}
		var overlaps atomic.Int64
		srv := newReceiver(t, func(int) int { return 200 })
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("Paygw-Event-Id")
			mu.Lock()
			inflight[id]++
			count[id]++
			if inflight[id] > 1 {
				overlaps.Add(1)
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inflight[id]--
			mu.Unlock()
		})
		const total = 400
		for i := 0; i < total; i++ {
			addNote(t, s, ms[i%len(ms)], srv.URL, t0)
		}
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, id := range []string{"w1", "w2"} {
			w := notify.NewWorker(s, testConfig(), quietLog(), nil, notify.WithID(id), notify.WithStatsInterval(0))
			wg.Add(1)
			go func() { defer wg.Done(); _ = w.Run(runCtx) }()
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			n, err := s.CountNotifications(ctx, store.NotificationFilter{Status: paygw.NotificationDelivered})
			if err != nil {
				t.Fatal(err)
			}
			if n == total || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		wg.Wait()
		if overlaps.Load() != 0 {
			t.Errorf("%d deliveries overlapped with another of the same event", overlaps.Load())
		}
		if len(count) != total {
			t.Errorf("%d of %d events delivered", len(count), total)
		}
		for id, c := range count {
			if c != 1 {
				t.Errorf("event %s delivered %d times", id, c)
			}
		}
	})
}

func TestBreakerIsolatesMerchants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		down, _ := storetest.Merchant(t, s, "down", 60)
		upM, _ := storetest.Merchant(t, s, "up", 60)
		bad := newReceiver(t, func(int) int { return http.StatusBadGateway })
		good := newReceiver(t, func(int) int { return http.StatusOK })
		var badIDs []string
		for i := 0; i < 6; i++ {
			badIDs = append(badIDs, addNote(t, s, down.ID, bad.URL, t0).ID)
			addNote(t, s, upM.ID, good.URL, t0.Add(time.Second))
		}
		cfg := testConfig()
		cfg.BreakerFailures = 2
		cfg.PerMerchant = 2
		clk := newClock(t0.Add(time.Minute))
		w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithClock(clk.Now))
		for i := 0; i < 6; i++ {
			step(t, w)
		}
		if n := len(good.requests()); n != 6 {
			t.Errorf("healthy merchant got %d of 6 notifications", n)
		}
		if n := len(bad.requests()); n != 2 {
			t.Errorf("dead endpoint got %d requests, want 2 before its breaker opened", n)
		}
		deferred := 0
		for _, id := range badIDs {
			n := mustGet(t, s, id)
			if n.Attempts == 0 {
				deferred++
				if !n.NextAttemptAt.Equal(clk.Now().Add(cfg.BreakerOpenFor.D())) {
					t.Errorf("deferred %s due %s, want the breaker's open time later", id, n.NextAttemptAt)
				}
			}
		}
		if deferred != 4 {
			t.Errorf("%d notifications deferred without an attempt, want 4", deferred)
		}
		_ = ctx
	})
}

func TestSafety(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		hit := newReceiver(t, func(int) int { return 200 })
		redirect := newReceiver(t, func(int) int { return http.StatusFound })
		redirect.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, hit.URL, http.StatusFound)
		})
		big := newReceiver(t, func(int) int { return 200 })
		big.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		})
		port := strings.TrimPrefix(hit.URL, "http://127.0.0.1")
		cases := []struct {
			name, url    string
			allowPrivate bool
			wantErr      string
		}{
			{"loopback literal refused", hit.URL, false, "refused address 127.0.0.1"},
			{"name resolving to loopback refused at dial", "http://localhost" + port, false, "refused address"},
			{"metadata refused even when private allowed", "http://169.254.169.254/latest", true, "link-local or cloud metadata"},
			{"ipv6 metadata", "http://[fd00:ec2::254]/", true, "link-local or cloud metadata"},
			{"not http", "ftp://example.com/x", true, "scheme must be http or https"},
			{"redirect not followed", redirect.URL, true, "HTTP 302 (redirects are not followed)"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				n := addNote(t, s, m.ID, tc.url, t0)
				cfg := testConfig()
				cfg.AllowPrivate = tc.allowPrivate
				w := notify.NewWorker(s, cfg, quietLog(), nil, notify.WithClock(newClock(t0).Now))
				if _, err := w.Replay(ctx, notify.ReplayOptions{Filter: store.NotificationFilter{PaymentID: n.PaymentID}, Now: true}); err != nil {
					t.Fatal(err)
				}
				got := mustGet(t, s, n.ID)
				if got.Status == paygw.NotificationDelivered || !strings.Contains(got.LastError, tc.wantErr) {
					t.Errorf("status %s, last error %q; want not delivered with %q", got.Status, got.LastError, tc.wantErr)
				}
			})
		}
		if n := len(hit.requests()); n != 0 {
			t.Errorf("refused or redirected notifications reached the target %d times", n)
		}
		n := addNote(t, s, m.ID, big.URL, t0)
		w := notify.NewWorker(s, testConfig(), quietLog(), nil)
		if _, err := w.Replay(ctx, notify.ReplayOptions{Filter: store.NotificationFilter{PaymentID: n.PaymentID}, Now: true}); err != nil {
			t.Fatal(err)
		}
		as, _ := s.NotificationAttempts(ctx, n.ID)
		if len(as) != 1 || len(as[0].Response) != 512 || as[0].StatusCode != 200 {
			t.Errorf("big response: %d attempts, captured %d bytes", len(as), len(as[0].Response))
		}
	})
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr         string
		allowPrivate bool
		ok           bool
	}{
		{"93.184.216.34", false, true},
		{"2606:2800:220:1:248:1893:25c8:1946", false, true},
		{"169.254.169.254", true, false},
		{"169.254.0.1", true, false},
		{"fe80::1", true, false},
		{"fd00:ec2::254", true, false},
		{"::ffff:169.254.169.254", true, false},
		{"64:ff9b::a9fe:a9fe", true, false},
		{"0.0.0.0", true, false},
		{"::", true, false},
		{"224.0.0.1", true, false},
		{"127.0.0.1", false, false},
		{"127.0.0.1", true, true},
		{"::1", false, false},
		{"10.1.2.3", false, false},
		{"172.16.0.1", false, false},
		{"192.168.1.1", false, false},
		{"100.64.0.1", false, false},
		{"fd12::1", false, false},
		{"10.1.2.3", true, true},
		{"::ffff:10.0.0.1", false, false},
		// Issue 14 item 10: every IANA special-purpose range that is not globally reachable.
		{"203.0.113.7", true, false},     // TEST-NET-3 (was dialled)
		{"192.0.2.1", true, false},       // TEST-NET-1
		{"198.51.100.1", true, false},    // TEST-NET-2
		{"198.18.0.1", true, false},      // benchmarking
		{"198.19.255.254", true, false},  // benchmarking, end of the /15
		{"198.20.0.1", false, true},      // just past it
		{"100.64.0.1", true, true},       // shared address space: a private network
		{"100.100.100.200", true, false}, // Alibaba Cloud metadata, inside 100.64/10
		{"0.1.2.3", true, false},         // this network
		{"192.0.0.8", true, false},       // IETF protocol assignments
		{"192.0.0.192", true, false},     // Oracle Cloud metadata, inside 192.0.0/24
		{"192.88.99.1", true, false},     // 6to4 relay anycast
		{"239.255.255.250", true, false}, // multicast
		{"240.0.0.1", true, false},       // reserved
		{"255.255.255.254", true, false}, // reserved
		{"255.255.255.255", true, false}, // broadcast
		{"192.31.196.1", false, true},    // AS112: globally reachable
		{"8.8.8.8", false, true},
		{"2001:db8::1", true, false},        // documentation
		{"3fff::1", true, false},            // documentation (RFC 9637)
		{"::1", true, true},                 // loopback when allowed
		{"fd12::1", true, true},             // unique local when private allowed
		{"fe80::1%eth0", true, false},       // link-local with a zone
		{"fec0::1", true, false},            // site-local (deprecated)
		{"ff02::1", true, false},            // multicast
		{"ff0e::1", true, false},            // global-scope multicast
		{"64:ff9b::cb00:7107", true, false}, // NAT64 of 203.0.113.7
		{"64:ff9b::808:808", false, true},   // NAT64 of 8.8.8.8
		{"64:ff9b::a00:1", false, false},    // NAT64 of 10.0.0.1: private
		{"64:ff9b:1::1", true, false},       // local-use NAT64
		{"2001::1", true, false},            // Teredo, inside 2001::/23
		{"2001:2::1", true, false},          // benchmarking
		{"2001:10::1", true, false},         // ORCHID
		{"2001:1ff::1", true, false},        // end of 2001::/23
		{"2001:200::1", false, true},        // just past it: global
		{"2002:a00:1::1", true, false},      // 6to4
		{"100::1", true, false},             // discard-only
		{"::5", true, false},                // IPv4-compatible (deprecated), inside ::/8
		{"::ffff:203.0.113.7", true, false}, // IPv4-mapped documentation
		{"5f00::1", true, false},            // SRv6 SIDs
		{"4000::1", true, false},            // unassigned, outside 2000::/3
	}
	for _, tt := range tests {
		err := notify.CheckAddr(netip.MustParseAddr(tt.addr), tt.allowPrivate)
		if (err == nil) != tt.ok {
			t.Errorf("CheckAddr(%s, allowPrivate=%v) = %v, want ok=%v", tt.addr, tt.allowPrivate, err, tt.ok)
		}
		if err != nil && !errors.Is(err, notify.ErrRefusedAddress) {
			t.Errorf("CheckAddr(%s): %v does not wrap ErrRefusedAddress", tt.addr, err)
		}
	}
}

// TestCheckURLNumericHosts: numeric host forms a resolver would read as an address (inet_aton:
// fewer than four parts, octal, hexadecimal, one 32-bit number) are decoded before any DNS lookup
// and refused, naming the address they stand for; nothing here is dialled.
func TestCheckURLNumericHosts(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		want         string // "" = accepted; else a substring of the error
	}{
		{"http://127.1/", false, "127.0.0.1"},
		{"http://127.1/", true, "127.0.0.1"}, // allowed address, but only in its dotted form
		{"http://0177.0.0.1/", false, "127.0.0.1"},
		{"http://2130706433/", false, "127.0.0.1"},
		{"http://0x7f000001/", false, "127.0.0.1"},
		{"http://0x7F.1/", false, "127.0.0.1"},
		{"http://127.0.1/", false, "127.0.0.1"},
		{"http://0/", true, "0.0.0.0"},
		{"http://3405803783/", true, "203.0.113.7"},
		{"http://0xa9fea9fe/", true, "169.254.169.254"},
		{"http://134744072/", false, "8.8.8.8"}, // decodes to a global address: still refused
		{"http://008.8.8.8/", false, "not a valid"},
		{"http://127.0.0.1./", true, "127.0.0.1"},
		{"http://8.8.8.8/", false, ""},
		{"http://127.0.0.1:8080/", true, ""},
		{"http://[::1]:8080/", true, ""},
		{"http://203.0.113.7/", true, "203.0.113.7"},
		{"http://[2001:db8::1]/", true, "2001:db8::1"},
		{"http://4294967296/", true, "not a valid"}, // numeric, beyond 32 bits
		{"http://merchant.example/", false, ""},
		{"http://1e3/", false, ""}, // a name
		{"http://0x/", true, "not a valid"},
		{"http://a.0x10/", true, "not a valid"}, // a numeric last label is never a host name
		{"http://pay.example.123x/", false, ""},
	}
	for _, tt := range tests {
		err := notify.CheckURL(tt.url, tt.allowPrivate)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckURL(%s, %v) = %v, want accepted", tt.url, tt.allowPrivate, err)
		case tt.want != "" && err == nil:
			t.Errorf("CheckURL(%s, %v) accepted, want refused (%s)", tt.url, tt.allowPrivate, tt.want)
		case tt.want != "" && (!strings.Contains(err.Error(), tt.want) || !errors.Is(err, notify.ErrRefusedAddress)):
			t.Errorf("CheckURL(%s, %v) = %v, want ErrRefusedAddress naming %s", tt.url, tt.allowPrivate, err, tt.want)
		}
	}
}

func TestNextAttempt(t *testing.T) {
	cfg := testConfig() // 1s, 2s, 3s
	tests := []struct {
		retry int
		want  time.Duration
		ok    bool
	}{{0, time.Second, true}, {1, 2 * time.Second, true}, {2, 3 * time.Second, true}, {3, 0, false}, {-1, 0, false}}
	for _, tt := range tests {
		got, ok := notify.NextAttempt(cfg.Schedule, tt.retry, t0)
		if ok != tt.ok || (ok && !got.Equal(t0.Add(tt.want))) {
			t.Errorf("NextAttempt(retry %d) = %s, %v; want +%s, %v", tt.retry, got, ok, tt.want, tt.ok)
		}
	}
}

func TestReplayDryRunAndNoFilter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m, _ := storetest.Merchant(t, s, "m", 60)
		rcv := newReceiver(t, func(int) int { return 200 })
		for i := 0; i < 3; i++ {
			addNote(t, s, m.ID, rcv.URL, t0.Add(time.Duration(i)*time.Second))
		}
		w := notify.NewWorker(s, testConfig(), quietLog(), nil)
		if _, err := w.Replay(ctx, notify.ReplayOptions{}); !errors.Is(err, notify.ErrNoFilter) {
			t.Errorf("no filter: err = %v, want ErrNoFilter", err)
		}
		res, err := w.Replay(ctx, notify.ReplayOptions{All: true, DryRun: true})
		if err != nil || res.Selected != 3 || len(res.Items) != 3 || !res.DryRun || res.Requeued != 0 {
			t.Errorf("dry run = %+v, %v", res, err)
		}
		if n := len(rcv.requests()); n != 0 {
			t.Errorf("dry run sent %d", n)
		}
		var started, done atomic.Int64
		res, err = w.Replay(ctx, notify.ReplayOptions{Filter: store.NotificationFilter{MerchantID: m.ID}, Now: true, Rate: 1000,
			OnStart: func(n int) { started.Store(int64(n)) }, OnDone: func(paygw.Notification, bool) { done.Add(1) }})
		if err != nil || res.Delivered != 3 || started.Load() != 3 || done.Load() != 3 {
			t.Errorf("replay --now = %+v, %v (progress %d/%d)", res, err, done.Load(), started.Load())
		}
	})
}

func TestMetrics(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	m, _ := storetest.Merchant(t, s, "m", 60)
	rcv := newReceiver(t, func(int) int { return 200 })
	addNote(t, s, m.ID, rcv.URL, t0)
	reg := prometheus.NewRegistry()
	clk := newClock(t0.Add(time.Minute))
	w := notify.NewWorker(s, testConfig(), quietLog(), reg, notify.WithClock(clk.Now))
	addNote(t, s, m.ID, rcv.URL, t0.Add(time.Second))
	w.RefreshStats(context.Background())
	step(t, w)
	// A second worker on the same registry shares the series instead of panicking.
	notify.NewWorker(s, testConfig(), quietLog(), reg)
	vals := metricValues(t, reg)
	want := map[string]float64{
		"paygw_notify_deliveries_total{delivered}": 2,
		"paygw_notify_attempt_duration_seconds":    2,
		"paygw_notify_queue_depth":                 2,
		"paygw_notify_queue_due":                   2,
		"paygw_notify_oldest_due_age_seconds":      60,
	}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("%s = %v, want %v", k, vals[k], v)
		}
	}
}

// FuzzCheckURL: merchant-supplied URLs never panic the check, and an accepted URL is http(s)
// with a host and, when its host is an IP literal, an allowed address.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://merchant.example/paygw", "http://127.0.0.1:8080/hook", "http://[fd00:ec2::254]/",
		"http://169.254.169.254/latest/meta-data", "ftp://x", "http://", "http://[::ffff:10.0.0.1]:80/", "://", "http://%zz",
		// issue 14 item 10
		"http://203.0.113.7/", "http://198.18.0.1/", "http://[2001:db8::1]/", "http://127.1/", "http://0177.0.0.1/",
		"http://2130706433/", "http://0x7f000001/", "http://[64:ff9b::cb00:7107]/", "http://100.100.100.200/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if err := notify.CheckURL(raw, false); err != nil {
			return
		}
		if !strings.HasPrefix(strings.ToLower(raw), "http://") && !strings.HasPrefix(strings.ToLower(raw), "https://") {
			t.Fatalf("accepted %q", raw)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted unparsable %q", raw)
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			if notify.CheckAddr(a, false) != nil {
				t.Fatalf("accepted %q: refused address", raw)
			}
		} else if last := u.Hostname()[strings.LastIndex(u.Hostname(), ".")+1:]; last != "" && strings.Trim(last, "0123456789") == "" {
			t.Fatalf("accepted %q: numeric host in a non-standard form", raw)
		}
	})
}

// TestRunKeepsCapAtEndpoint: with slots freed when the endpoint answers (before the attempt is
// recorded; the claim side is TestClaimAttemptedFreesSlots in store), Run still never has more
// than per_merchant_concurrency requests at the endpoint at once, and delivers them all.
func TestRunKeepsCapAtEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, _ := storetest.Merchant(t, s, "capped", 60)
		var mu sync.Mutex
		cur, peak, total := 0, 0, 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			cur++
			total++
			peak = max(peak, cur)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			cur--
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		const n = 60
		for i := 0; i < n; i++ {
			addNote(t, s, m.ID, srv.URL, t0.Add(-time.Minute).Add(time.Duration(i)*time.Millisecond))
		}
		cfg := testConfig()
		cfg.Workers, cfg.PerMerchant = 16, 3
		w := notify.NewWorker(s, cfg, quietLog(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := s.CountNotifications(context.Background(), store.NotificationFilter{MerchantID: m.ID, Status: paygw.NotificationDelivered})
			if err != nil {
				t.Fatal(err)
			}
			if c == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d delivered in 20 s", c, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if peak > cfg.PerMerchant || total != n {
			t.Fatalf("endpoint saw %d requests, at most %d at once; want %d, at most the cap %d", total, peak, n, cfg.PerMerchant)
		}
	})
}

// A queue that trickles (one notification due every 2 ms, a worker keeping up with an instant
// endpoint) is claimed and recorded in batches: before claimSpacing and recordGather, every
// answer woke a claim that found the one notification created since, and every outcome was
// recorded alone (~1 claim and ~1 record per delivery).
func TestRunBatchesATricklingQueue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m, _ := storetest.Merchant(t, s, "trickle", 60)
		rcv := newReceiver(t, func(int) int { return 200 })
		reg := prometheus.NewRegistry()
		w := notify.NewWorker(s, testConfig(), quietLog(), reg)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		// The notifications become due on a clock, one every 2 ms, whatever an insert costs: a
		// producer that inserted one at a time would trickle slower than claimSpacing on a loaded
		// machine (CI measured 23 ms an insert on PostgreSQL), and nothing would be left to batch.
		const n, every = 300, 2 * time.Millisecond
		start := time.Now()
		for added := 0; added < n; {
			due := min(n, int(time.Since(start)/every)+1)
			if due > added {
				addNotes(t, s, m.ID, rcv.URL, time.Now().Add(-time.Second), due-added)
				added = due
			}
			time.Sleep(time.Millisecond)
		}
		gwtest.Eventually(t, 20*time.Second, "every notification delivered", func() bool {
			c, err := s.CountNotifications(context.Background(), store.NotificationFilter{MerchantID: m.ID, Status: paygw.NotificationDelivered})
			return err == nil && c == n
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		vals := metricValues(t, reg)
		got := map[string]float64{"claim": vals["paygw_notify_statements_total{claim}"], "record": vals["paygw_notify_statements_total{record}"]}
		if got["claim"] > n/3 || got["record"] > n/3 || got["record"] == 0 {
			t.Fatalf("%v statements for %d deliveries; want at most a third as many claims and records", got, n)
		}
		t.Logf("%d deliveries: %v", n, got)
	})
}
