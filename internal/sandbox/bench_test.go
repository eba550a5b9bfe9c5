package sandbox

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkWithhold measures parallel withholds through the adapter over loopback, each followed
// by a signed callback to a receiver that verifies and acknowledges it.
func BenchmarkWithhold(b *testing.B) {
	e := newEnv(b, Options{})
	agr := e.signAgreement(b, "agr_bench")
	go func() {
		for range e.recv.got { // drain
		}
	}()
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.withhold(fmt.Sprintf("pay_b%d", n.Add(1)), 1000, agr); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
