package wechatpay

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/sandbox"
)

// BenchmarkRSA is the cost of one APIv3 signature and one verification (2048-bit keys): a
// payment through WeChat Pay costs two of each (our request and the channel's answer, signed by
// one side and verified by the other), plus one more signature for JSAPI's paySign.
func BenchmarkRSA(b *testing.B) {
	k := researchKey(b)
	msg := RequestMessage("POST", PathNative, "1700000000", Nonce(32), []byte(`{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"d","out_trade_no":"pay_01JD","notify_url":"https://m.example/n","amount":{"total":100,"currency":"CNY"}}`))
	sig, _ := Sign(k, msg)
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			Sign(k, msg)
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			Verify(&k.PublicKey, msg, sig)
		}
	})
}

// BenchmarkCreateThroughSimulator creates payments through each adapter against its simulator
// on loopback (parallel clients; the channel side runs in the same process), and reports the
// p99 latency next to ns/op: the sandbox's HMAC protocol against WeChat Pay APIv3's RSA.
func BenchmarkCreateThroughSimulator(b *testing.B) {
	b.Run("sandbox", func(b *testing.B) {
		srv, err := sandbox.NewServer(sandbox.Options{Secret: "bench-secret"})
		if err != nil {
			b.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		ch, err := sandbox.NewChannel("sandbox", ts.URL, "bench-secret")
		if err != nil {
			b.Fatal(err)
		}
		benchPay(b, ch, "wallet_qr")
	})
	for _, method := range []string{"wallet_qr", "wallet_jsapi"} {
		b.Run("wechatpay_"+method, func(b *testing.B) {
			dir := b.TempDir()
			if _, err := Keygen(dir, sandbox.KeygenInput{}); err != nil {
				b.Fatal(err)
			}
			o := SimOptions{}
			if err := LoadSimulatorKeys(dir, &o); err != nil {
				b.Fatal(err)
			}
			sim, err := NewSimulator(o)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(sim.Handler())
			defer ts.Close()
			mk, _ := ReadPrivateKey(dir + "/" + FileMerchantKey)
			pub, _ := ReadPublicKey(dir + "/" + FilePublicKey)
			key, _ := ReadAPIv3Key(dir + "/" + FileAPIv3Key)
			ch, err := NewChannel(Config{Name: "wxpay", BaseURL: ts.URL, MchID: o.MchID, AppID: o.AppID, MerchantSerialNo: o.MerchantSerialNo,
				MerchantKey: mk, PublicKeyID: o.PublicKeyID, PublicKey: pub, APIv3Key: key})
			if err != nil {
				b.Fatal(err)
			}
			benchPay(b, ch, method)
		})
	}
}

func benchPay(b *testing.B, ch channel.Channel, method string) {
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			_, err := ch.Pay(context.Background(), channel.PayRequest{PaymentID: fmt.Sprintf("pay_bench_%08d", n.Add(1)), Amount: 100,
				Currency: "CNY", PayMethod: method, Subject: "bench", NotifyURL: "http://127.0.0.1:1/n",
				ExpiresAt: time.Now().Add(time.Hour), PayerOpenID: "oBench", PayerIP: "203.0.113.7"})
			if err != nil {
				b.Error(err)
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
}
