package sandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

const testSecret = "test-secret"

// fakeClock is a settable business clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// env is a running sandbox on loopback with an adapter and a callback receiver.
type env struct {
	srv  *Server
	ts   *httptest.Server
	ch   *Channel
	recv *receiver
}

// newEnv starts a sandbox with opts (Secret defaults to testSecret, retries to 5ms) and Run.
func newEnv(t testing.TB, opts Options, chOpts ...Option) *env {
	t.Helper()
	if opts.Secret == "" {
		opts.Secret = testSecret
	}
	if opts.CallbackBackoff == nil {
		opts.CallbackBackoff = []time.Duration{5 * time.Millisecond}
	}
	if opts.RefundDelay == 0 {
		opts.RefundDelay = 5 * time.Millisecond
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		ts.Close()
	})
	ch, err := NewChannel("sandbox", ts.URL, testSecret, chOpts...)
	if err != nil {
		t.Fatalf("NewChannel: %v", err)
	}
	return &env{srv: srv, ts: ts, ch: ch, recv: newReceiver(t, ch)}
}

// receiver is the gateway side of callbacks: it verifies them with the adapter and acks.
type receiver struct {
	url       string
	failFirst atomic.Int32 // answer "fail" to this many verified attempts first
	attempts  atomic.Int32 // verified attempts
	rejected  atomic.Int32 // callbacks that failed verification
	got       chan channel.Callback
}

func newReceiver(t testing.TB, ch *Channel) *receiver {
	r := &receiver{got: make(chan channel.Callback, 1000)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		cb, err := ch.ParseCallback(req.Header, body)
		if err != nil {
			r.rejected.Add(1)
			ch.CallbackAck(w, false)
			return
		}
		if n := r.attempts.Add(1); n <= r.failFirst.Load() {
			ch.CallbackAck(w, false)
			return
		}
		r.got <- cb
		ch.CallbackAck(w, true)
	}))
	t.Cleanup(ts.Close)
	r.url = ts.URL + "/v1/channels/sandbox/notify"
	return r
}

// next waits for the next acknowledged callback.
func (r *receiver) next(t testing.TB) channel.Callback {
	t.Helper()
	select {
	case cb := <-r.got:
		return cb
	case <-time.After(10 * time.Second):
		t.Fatal("no callback arrived")
		return channel.Callback{}
	}
}

// eventually polls cond until it holds, failing the test after a generous bound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// signAgreement signs a withhold agreement and returns its number.
func (e *env) signAgreement(t testing.TB, id string) string {
	t.Helper()
	res, err := e.ch.Sign(context.Background(), channel.SignRequest{AgreementID: id, PayMethod: MethodWithhold,
		PayerName: "Zhang San", AccountNo: "6222020200112340123", Phone: "13812340000"})
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if res.Status != channel.StatusSucceeded || res.AgreementNo == "" {
		t.Fatalf("Sign: %+v", res)
	}
	return res.AgreementNo
}

// withhold charges an agreement.
func (e *env) withhold(id string, amount int64, agreementNo string) (channel.PayResult, error) {
	return e.ch.Pay(context.Background(), channel.PayRequest{PaymentID: id, Amount: amount, Currency: "CNY",
		PayMethod: MethodWithhold, Subject: "withhold " + id, NotifyURL: e.recv.url, AgreementNo: agreementNo})
}

// newHTTPServer serves srv on loopback until the test ends.
func newHTTPServer(t testing.TB, srv *Server) *httptest.Server {
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}
