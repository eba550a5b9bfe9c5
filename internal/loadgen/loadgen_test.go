package loadgen_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/loadgen"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// merchantAPI is a loopback stand-in for paygw's create-payment endpoint: it answers after
// delay, fails every failEvery-th payment with 500 (0: never) and keeps every notify_url sent.
type merchantAPI struct {
	delay     time.Duration
	failEvery int64
	n         atomic.Int64
	mu        sync.Mutex
	notify    map[string]int
}

func (m *merchantAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/payments" || r.Header.Get("Paygw-Merchant") == "" {
		http.Error(w, "unexpected "+r.URL.Path, http.StatusNotFound)
		return
	}
	var body struct {
		NotifyURL *string `json:"notify_url"`
	}
	data, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	if body.NotifyURL == nil {
		m.notify["<absent>"]++
	} else {
		m.notify[*body.NotifyURL]++
	}
	m.mu.Unlock()
	n := m.n.Add(1)
	time.Sleep(m.delay)
	if m.failEvery > 0 && n%m.failEvery == 0 {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"id":"pay_x","status":"processing"}`))
}

func TestOpenLoopKeepsTheRateReportsIntervalsAndSendsNotifyURL(t *testing.T) {
	api := &merchantAPI{delay: 20 * time.Millisecond, failEvery: 10, notify: map[string]int{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var seen []loadgen.Interval
	const notifyURL = `http://127.0.0.1:9/notify?m="q"&x=1`
	res, err := loadgen.Run(context.Background(), loadgen.Options{URL: srv.URL, MerchantID: "mch_1", Secret: "s",
		Concurrency: 16, Duration: 2 * time.Second, PayMethod: "wallet_qr", Amount: 100, Currency: "CNY",
		Rate: 200, NotifyURL: notifyURL, ReportEvery: 500 * time.Millisecond,
		OnInterval: func(iv loadgen.Interval) { seen = append(seen, iv) }})
	if err != nil {
		t.Fatal(err)
	}
	// Closed loop, 16 clients at 20 ms would send ~1600 in 2 s; open loop at 200/s sends ~400.
	if res.Requests < 360 || res.Requests > 410 {
		t.Errorf("requests = %d, want ~400 (200/s for 2 s)", res.Requests)
	}
	// Payments still in flight when the run ends are not counted (up to one per client).
	if seen := api.n.Load(); seen < res.Requests || seen > res.Requests+16 {
		t.Errorf("server saw %d payments, loadgen counted %d", seen, res.Requests)
	}
	if len(api.notify) != 1 || api.notify[notifyURL] != int(api.n.Load()) {
		t.Errorf("notify_url per payment = %v, want every one %q", api.notify, notifyURL)
	}
	if res.ErrorRate < 0.08 || res.ErrorRate > 0.12 || res.Errors["500"] != res.Requests-res.Succeeded {
		t.Errorf("error rate %.3f, errors %v of %d, want ~0.1, all 500", res.ErrorRate, res.Errors, res.Requests)
	}
	if res.P50 < 20 {
		t.Errorf("p50 %.1f ms, below the server's 20 ms delay", res.P50)
	}
	if len(res.Intervals) < 4 || len(res.Intervals) > 5 || len(seen) != len(res.Intervals) {
		t.Fatalf("intervals %d (callback saw %d), want 4 (or 4 and a partial fifth)", len(res.Intervals), len(seen))
	}
	var sum int64
	for i, iv := range res.Intervals {
		sum += iv.Requests
		if iv.Index != i+1 || iv.Errors != iv.Requests-iv.Succeeded {
			t.Errorf("interval %d: %+v", i, iv)
		}
		if !iv.Partial && (iv.Requests < 80 || iv.Requests > 120 || iv.Throughput < 140 || iv.Throughput > 200 || iv.P99 < 20) {
			t.Errorf("full interval %d: %+v, want ~100 requests, ~180 ok/s, p99 ≥ 20 ms", iv.Index, iv)
		}
	}
	if sum != res.Requests {
		t.Errorf("intervals sum to %d requests, run has %d", sum, res.Requests)
	}
	first, last, ok := res.FirstLast()
	if !ok || first.Index != 1 || last.Partial {
		t.Errorf("FirstLast = %+v, %+v, %v", first, last, ok)
	}
	sum2 := loadgen.FormatSummary(res)
	if !strings.Contains(sum2, "first vs last interval (1 → 4)") || !strings.Contains(sum2, "error rate ") {
		t.Errorf("summary:\n%s", sum2)
	}
	if l := loadgen.FormatInterval(res.Intervals[0]); !strings.HasPrefix(l, "interval 1  at 0s  ") || !strings.Contains(l, "payments/s") {
		t.Errorf("interval line: %s", l)
	}
}

// A server slower than the rate allows: open loop does not slow down to it; the starts that
// find every client busy are counted as errors, and latency includes the wait for a client.
func TestOpenLoopCountsStartsItCouldNotSend(t *testing.T) {
	api := &merchantAPI{delay: 200 * time.Millisecond, notify: map[string]int{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Options{URL: srv.URL, MerchantID: "mch_1", Secret: "s",
		Concurrency: 2, Duration: time.Second, PayMethod: "wallet_qr", Amount: 100, Currency: "CNY", Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	notSent := res.Errors["not sent: all clients busy"]
	if res.Requests < 90 || res.Requests > 105 || notSent < 70 || res.Succeeded+notSent != res.Requests {
		t.Errorf("requests %d, succeeded %d, errors %v: want ~100 scheduled, most not sent", res.Requests, res.Succeeded, res.Errors)
	}
	if res.ErrorRate < 0.7 {
		t.Errorf("error rate %.2f, want the unsent counted", res.ErrorRate)
	}
	if res.Intervals != nil {
		t.Errorf("intervals without ReportEvery: %v", res.Intervals)
	}
}

func TestRejectsABadRate(t *testing.T) {
	_, err := loadgen.Run(context.Background(), loadgen.Options{URL: "http://127.0.0.1:9", Rate: -1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("err = %v", err)
	}
}

// Against the real gateway on both engines: every payment loadgen creates carries the notify_url
// and produces a notification to deliver.
func TestNotifyURLReachesTheGateway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{ExtraYAML: "notify:\n  allow_private_addresses: true\n"})
		const notifyURL = "http://127.0.0.1:9/paygw-notify"
		res, err := loadgen.Run(context.Background(), loadgen.Options{URL: e.Server.URL, MerchantID: e.Merchant.ID,
			Secret: e.Client.Secret, Concurrency: 4, Requests: 20, PayMethod: "withhold", Amount: 100, Currency: "CNY",
			Rate: 50, NotifyURL: notifyURL})
		if err != nil {
			t.Fatal(err)
		}
		if res.Succeeded != 20 || res.Requests != 20 {
			t.Fatalf("loadgen: %+v", res)
		}
		var n, withURL int
		if err := s.DB().Get(&n, `SELECT count(*) FROM payments WHERE merchant_id = `+s.Rebind("?"), e.Merchant.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DB().Get(&withURL, s.Rebind(`SELECT count(*) FROM notifications WHERE merchant_id = ? AND url = ?`), e.Merchant.ID, notifyURL); err != nil {
			t.Fatal(err)
		}
		if n != 20 || withURL != 20 {
			t.Errorf("payments %d, notifications to %s: %d; want 20 and 20", n, notifyURL, withURL)
		}
	})
}
