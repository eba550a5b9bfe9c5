package gateway_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestCallbackDuringPayJoinsIt: the sandbox calls back as soon as it charges, and (with 300 ms
// of latency) answers the pay call later, so the callback arrives while the gateway is still
// waiting for that answer. The callback waits for the call's outcome instead of racing it for
// the payment's row ("joined"), and the payment is finished once, by the call's write set.
func TestCallbackDuringPayJoinsIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		reg := prometheus.NewRegistry()
		m := gateway.NewMetrics(reg)
		e := gwtest.Start(t, s, gwtest.Options{Sandbox: sandbox.Options{Latency: 300 * time.Millisecond}, Metrics: m})
		agr := sign(t, e.Client, "AGR-JOIN", "6222020000000001")
		p, st, err := e.Client.CreatePayment(ctx, withholdReq("JOIN1", 100, agr))
		if err != nil || st != 201 || p.Status != "succeeded" {
			t.Fatalf("create: %d %v %+v", st, apiCode(err), p)
		}
		callbacks := func() map[string]float64 {
			out := map[string]float64{}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() != "paygw_channel_callbacks_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "result" {
							out[l.GetValue()] += m.GetCounter().GetValue()
						}
					}
				}
			}
			return out
		}
		gwtest.Eventually(t, 5*time.Second, "the callback answered", func() bool { return len(callbacks()) > 0 })
		if got := callbacks(); got["joined"] != 1 || len(got) != 1 {
			t.Fatalf("callbacks by result %v; want one joined (it waited for the pay call)", got)
		}
		got, err := s.GetPayment(ctx, p.ID)
		if err != nil || got.Status != "succeeded" || got.Version != 2 {
			t.Fatalf("payment %s version %d (%v); want succeeded at version 2 (one move)", got.Status, got.Version, err)
		}
		if n, err := s.JournalCount(ctx, "capture", p.ID); err != nil || n != 1 {
			t.Fatalf("capture journals %d %v", n, err)
		}
	})
}
