package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sign"
	"github.com/paygw/paygw/internal/store"
)

var t0 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// delivery is one request a receiver got.
type delivery struct {
	EventID   string
	Timestamp int64
	Signature string
	Body      []byte
}

// receiver is a merchant endpoint answering with a scripted status per request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	status func(n int) int // status of the n-th request (1-based)
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get("Paygw-Timestamp"), 10, 64)
		r.mu.Lock()
		r.got = append(r.got, delivery{EventID: req.Header.Get("Paygw-Event-Id"), Timestamp: ts,
			Signature: req.Header.Get("Paygw-Signature"), Body: body})
		n := len(r.got)
		r.mu.Unlock()
		w.WriteHeader(r.status(n))
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// checkSigned fails unless every request is signed with secret over its timestamp and body.
func checkSigned(t *testing.T, ds []delivery, secret string) {
	t.Helper()
	for i, d := range ds {
		if !sign.VerifyNotification([]string{secret}, d.Timestamp, d.Body, d.Signature) {
			t.Errorf("request %d: signature %q does not verify", i+1, d.Signature)
		}
	}
}

func testConfig() config.Notify {
	secs := func(ns ...int) []config.Duration {
		var out []config.Duration
		for _, n := range ns {
			out = append(out, config.Duration(time.Duration(n)*time.Second))
		}
		return out
	}
	return config.Notify{
		Schedule: secs(1, 2, 3), Workers: 8, PerMerchant: 4, Lease: config.Duration(30 * time.Second),
		Timeout: config.Duration(5 * time.Second), AllowPrivate: true, PollInterval: config.Duration(10 * time.Millisecond),
		BreakerFailures: 1000, BreakerOpenFor: config.Duration(time.Hour), ResponseCaptureSize: 512,
	}
}

func quietLog() zerolog.Logger { return zerolog.Nop() }

// addNote inserts a notification of merchantID to url, created at at, and returns it.
func addNote(t testing.TB, s *store.Store, merchantID, url string, at time.Time) paygw.Notification {
	t.Helper()
	return addNotes(t, s, merchantID, url, at, 1)[0]
}

// addNotes inserts k notifications of merchantID to url, created at at, in one transaction.
func addNotes(t testing.TB, s *store.Store, merchantID, url string, at time.Time, k int) []paygw.Notification {
	t.Helper()
	ns := make([]paygw.Notification, k)
	for i := range ns {
		id := paygw.NewID("evt")
		pay := paygw.NewID("pay")
		ns[i] = paygw.Notification{
			ID: id, MerchantID: merchantID, PaymentID: pay, Type: paygw.EventPaymentSucceeded, URL: url,
			Body:      []byte(`{"id":"` + id + `","type":"payment.succeeded","created_at":"2026-11-22T02:00:00Z","data":{"id":"` + pay + `","amount":1234}}`),
			CreatedAt: at,
		}
	}
	ctx := context.Background()
	err := s.Transact(ctx, func(tx *store.Tx) error {
		for _, n := range ns {
			if err := tx.InsertNotification(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert notifications: %v", err)
	}
	return ns
}

func mustGet(t *testing.T, s *store.Store, id string) paygw.Notification {
	t.Helper()
	n, err := s.GetNotification(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// metricValues gathers reg into name{label value}… → value: a counter's or gauge's value, a
// histogram's sample count.
func metricValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			switch {
			case mt.Counter != nil:
				vals[key] = mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				vals[key] = mt.GetGauge().GetValue()
			case mt.Histogram != nil:
				vals[key] = float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	return vals
}
