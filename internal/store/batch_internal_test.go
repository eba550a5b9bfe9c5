package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type callerKey struct{}

// Under a steady stream of requests every caller gets its own result, no more than maxInFlight
// batches run at once, a batch never holds two requests of one key, no caller leads more than
// two batches (so its latency does not grow with the load behind it), and when the stream stops
// every place is given back.
func TestBatcher(t *testing.T) {
	var running, maxRunning atomic.Int32
	var mu sync.Mutex
	led := map[int]int{} // caller → batches it led
	sizes := map[int]int{}
	b := newBatcher(3, 8, func(q int) string { return fmt.Sprint(q % 50) }, func(ctx context.Context, qs []int) []int {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		seen := map[int]bool{}
		for _, q := range qs {
			if seen[q%50] {
				t.Errorf("batch %v holds two requests of key %d", qs, q%50)
			}
			seen[q%50] = true
		}
		mu.Lock()
		led[ctx.Value(callerKey{}).(int)]++
		sizes[len(qs)]++
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		out := make([]int, len(qs))
		for i, q := range qs {
			out[i] = q * 2
		}
		return out
	})
	const callers, each = 64, 40
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				q := c*each + k
				ctx := context.WithValue(context.Background(), callerKey{}, q)
				if c%7 == 0 { // a caller that has gone away is still written and answered
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					ctx = cctx
				}
				if r := b.do(ctx, q); r != q*2 {
					t.Errorf("request %d answered %d", q, r)
				}
			}
		}()
	}
	wg.Wait()
	if m := maxRunning.Load(); m > 3 {
		t.Errorf("%d batches ran at once, want at most 3", m)
	}
	for caller, n := range led {
		if n > 2 {
			t.Errorf("request %d led %d batches, want at most 2", caller, n)
		}
	}
	batches, items, queued := b.stats()
	if items != callers*each || queued != 0 || b.inFlight != 0 {
		t.Errorf("stats: %d batches, %d requests, %d queued, %d places held; want %d requests, none queued or held",
			batches, items, queued, b.inFlight, callers*each)
	}
	if batches >= items {
		t.Errorf("%d requests in %d batches: nothing was batched", items, batches)
	}
	t.Logf("%d requests in %d batches, sizes %v", items, batches, sizes)
}
