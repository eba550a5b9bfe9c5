package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// The child process of the kill tests reads what to do from these variables.
const (
	childDSNEnv     = "PAYGW_GW_TEST_CHILD_DSN"
	childChannelEnv = "PAYGW_GW_TEST_CHILD_CHANNEL" // the channel URL (the parent's holding proxy)
	childOpEnv      = "PAYGW_GW_TEST_CHILD_OP"      // "refund MERCHANT PAYMENT" | "sign MERCHANT"
)

// TestHelperGatewayProcess is the gateway process the kill tests kill with SIGKILL while it
// waits for the channel's answer; it is skipped unless started by them.
func TestHelperGatewayProcess(t *testing.T) {
	dsn := os.Getenv(childDSNEnv)
	if dsn == "" {
		t.Skip("helper process for the kill tests")
	}
	s, err := store.Open(context.Background(), dsn, store.Options{Keys: storetest.TestKeys()})
	if err != nil {
		t.Fatal(err)
	}
	chURL := os.Getenv(childChannelEnv)
	cfg, err := config.Parse([]byte(fmt.Sprintf("timezone: Asia/Shanghai\npublic_url: http://127.0.0.1:1\n"+
		"sweeper:\n  schedule: [100ms, 200ms, 500ms]\nchannels:\n  sandbox:\n    kind: sandbox\n    url: %s\n    secret: %s\n    timeout: 1m\n",
		chURL, gwtest.Secret)))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sandbox.NewChannel("sandbox", chURL, gwtest.Secret, sandbox.WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := channel.NewRegistry(ch)
	g, err := gateway.New(s, cfg, reg, gateway.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	var op, merchant, target string
	fmt.Sscan(os.Getenv(childOpEnv), &op, &merchant, &target)
	ctx := context.Background()
	switch op {
	case "refund":
		_, _, err = g.CreateRefund(ctx, merchant, target, gateway.CreateRefund{OutRefundNo: "R-KILL", Amount: []byte("400")})
	case "sign":
		var req gateway.SignAgreement
		req.OutAgreementNo, req.PayMethod = "AG-KILL", "withhold"
		req.Payer.Name, req.Payer.AccountNo, req.Payer.Phone = "Zhang San", "6222021234560123", "13800000000"
		_, _, err = g.SignAgreement(ctx, merchant, req)
	}
	t.Fatalf("the parent should have killed this process before the channel answered (err %v)", err)
}

// holdingProxy forwards requests to the sandbox; the first request to path is forwarded (the
// sandbox executes it) but its answer is held until release is called (or the test ends), and
// arrived is closed when it came.
func holdingProxy(t *testing.T, target, path string) (proxyURL string, arrived <-chan struct{}, release func()) {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	arrivedc, releasec := make(chan struct{}), make(chan struct{})
	var once, held, released sync.Once
	release = func() { released.Do(func() { close(releasec) }) }
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := false
		if r.URL.Path == path {
			held.Do(func() { first = true })
		}
		if !first {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r) // the sandbox has executed it
		once.Do(func() { close(arrivedc) })
		<-releasec
		res := rec.Result()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	}))
	t.Cleanup(func() { release(); ts.Close() })
	return ts.URL, arrivedc, release
}

// killChild starts the helper process for op and kills it (SIGKILL) once its channel request
// has reached the sandbox and before the answer gets back.
func killChild(t *testing.T, dsn, chURL, op string, arrived <-chan struct{}) {
	child := exec.Command(os.Args[0], "-test.run=^TestHelperGatewayProcess$")
	child.Env = append(os.Environ(), childDSNEnv+"="+dsn, childChannelEnv+"="+chURL, childOpEnv+"="+op)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		_ = child.Process.Kill()
		t.Fatal("the child never called the channel")
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
}

// TestRefundKilledBeforeChannelAnswer: the gateway process dies (kill -9) after recording a
// refund and sending it to the channel, before the answer. The channel refunded it and its
// callback is lost; the sweeper of another process must find the refund and finish it by query
// (before: stored with next_query_at NULL, it stayed processing forever with its amount reserved).
func TestRefundKilledBeforeChannelAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			e := gwtest.Start(t, s, gwtest.Options{Sandbox: sandbox.Options{DropCallbacks: 1}})
			agr := sign(t, e.Client, "AG-K", "6222021234560123")
			p, _, err := e.Client.CreatePayment(ctx, withholdReq("PK", 1000, agr))
			if err != nil || p.Status != "succeeded" {
				t.Fatalf("payment: %v %+v", err, p)
			}
			proxy, arrived, _ := holdingProxy(t, e.SandboxTS["sandbox"].URL, sandbox.PathRefund)
			killChild(t, dsn, proxy, "refund "+e.Merchant.ID+" "+p.ID, arrived)

			r, err := s.GetRefundByOutRefundNo(ctx, e.Merchant.ID, "R-KILL")
			if err != nil {
				t.Fatalf("the refund was not recorded before the channel call: %v", err)
			}
			if r.Status != paygw.RefundProcessing || r.NextQueryAt == nil {
				t.Fatalf("after the kill: %s, next query %v; want processing with a query scheduled", r.Status, r.NextQueryAt)
			}
			e.Sweep(t, 10*time.Second, func() bool {
				got, _ := s.GetRefund(ctx, r.ID)
				return got.Status == paygw.RefundSucceeded
			})
			got, _ := e.Client.GetPayment(ctx, p.ID)
			if got.Status != "partially_refunded" || got.RefundedAmount != 400 {
				t.Fatalf("payment after the sweep: %s refunded %d", got.Status, got.RefundedAmount)
			}
		})
	}
}

// TestAgreementKilledBeforeChannelAnswer: the gateway process dies (kill -9) after recording an
// agreement and sending the sign request, before the answer. The channel bound the account; the
// sweeper of another process must find the pending agreement and make it active by query
// (before: pending forever, and withhold on it answered 409).
func TestAgreementKilledBeforeChannelAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			e := gwtest.Start(t, s, gwtest.Options{})
			proxy, arrived, _ := holdingProxy(t, e.SandboxTS["sandbox"].URL, sandbox.PathSignAgreement)
			killChild(t, dsn, proxy, "sign "+e.Merchant.ID, arrived)

			a, err := s.GetAgreementByOutNo(ctx, e.Merchant.ID, "AG-KILL")
			if err != nil {
				t.Fatalf("the agreement was not recorded before the channel call: %v", err)
			}
			if a.Status != paygw.AgreementPending || a.NextQueryAt == nil {
				t.Fatalf("after the kill: %s, next query %v; want pending with a query scheduled", a.Status, a.NextQueryAt)
			}
			e.Sweep(t, 10*time.Second, func() bool {
				got, _ := s.GetAgreementByOutNo(ctx, e.Merchant.ID, "AG-KILL")
				return got.Status == paygw.AgreementActive
			})
			p, _, err := e.Client.CreatePayment(ctx, withholdReq("PAK", 100, a.ID))
			if err != nil || p.Status != "succeeded" {
				t.Fatalf("withhold on the recovered agreement: %v %+v", err, p)
			}
		})
	}
}
