package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel/wechatpay"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/storetest"
)

// BenchmarkCreateThroughGateway creates payments through the merchant API of a real gateway
// (httptest, SQLite or PostgreSQL per PAYGW_BENCH_DIALECT) whose route goes to the sandbox kind
// or to the wechatpay kind on its simulator, in the same run: the difference is the channel's
// protocol (HMAC against RSA signatures both ways). Reports p99 next to ns/op.
func BenchmarkCreateThroughGateway(b *testing.B) {
	os.Setenv("PAYGW_SECRET_KEY", hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	d := storetest.Dialects()[0]
	if os.Getenv("PAYGW_BENCH_DIALECT") == "postgres" {
		d = storetest.Dialects()[len(storetest.Dialects())-1]
	}
	keys := b.TempDir()
	if _, err := wechatpay.Keygen(keys, sandbox.KeygenInput{}); err != nil {
		b.Fatal(err)
	}
	o := wechatpay.SimOptions{}
	if err := wechatpay.LoadSimulatorKeys(keys, &o); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, method, channel string }{
		{"sandbox_wallet_qr", "wallet_qr", "sandbox"},
		{"wechatpay_wallet_qr", "wallet_qr", "wxpay"},
		{"wechatpay_wallet_jsapi", "wallet_jsapi", "wxpay"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sim, err := wechatpay.NewSimulator(o)
			if err != nil {
				b.Fatal(err)
			}
			srv := newBenchServer(b, sim)
			s := storetest.Open(b, d)
			extra := wxSection("wxpay", srv, keys, "5s") + fmt.Sprintf("routing:\n  %s: [{channel: %s}]\nrisk:\n  max_amount: 100000000\n", tc.method, tc.channel)
			e := gwtest.Start(b, s, gwtest.Options{ExtraYAML: extra})
			var n atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					body := map[string]any{"out_trade_no": fmt.Sprintf("B%09d", n.Add(1)), "amount": 100, "currency": "CNY",
						"pay_method": tc.method, "payer": map[string]any{"openid": "oBench"}}
					t0 := time.Now()
					p, _, err := e.Client.CreatePayment(context.Background(), body)
					if err != nil || p.Status != "processing" {
						b.Errorf("%v %+v", err, p)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if len(lat) > 0 {
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

func newBenchServer(b *testing.B, sim *wechatpay.Simulator) string {
	ts := httptest.NewServer(sim.Handler())
	b.Cleanup(ts.Close)
	return ts.URL
}
