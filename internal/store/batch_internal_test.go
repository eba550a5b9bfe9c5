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
// batches run at once, no key is in two running batches (nor twice in one), no caller leads
// more than two batches (so its latency does not grow with the load behind it), a caller that
// has gone away is either written and answered or withdrawn unwritten, and when the stream stops
// every place is given back.
func TestBatcher(t *testing.T) {
	var running, maxRunning atomic.Int32
	var mu sync.Mutex
	led := map[int]int{} // caller → batches it led
	busy := map[int]bool{}
	sizes := map[int]int{}
	written := map[int]bool{}
	b := newBatcher(3, 8, func(q int) []string { return []string{fmt.Sprint(q % 50)} }, func(ctx context.Context, qs []int) []int {
		defer enter(&running, &maxRunning)()
		mu.Lock()
		for _, q := range qs {
			if busy[q%50] {
				t.Errorf("key %d in two batches at once (batch %v)", q%50, qs)
			}
			busy[q%50] = true
			written[q] = true
		}
		led[ctx.Value(callerKey{}).(int)]++
		sizes[len(qs)]++
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		mu.Lock()
		for _, q := range qs {
			busy[q%50] = false
		}
		mu.Unlock()
		out := make([]int, len(qs))
		for i, q := range qs {
			out[i] = q * 2
		}
		return out
	}, func(error) int { return -1 })
	const callers, each = 64, 40
	var wg sync.WaitGroup
	var withdrawn atomic.Int64
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				q := c*each + k
				ctx := context.WithValue(context.Background(), callerKey{}, q)
				gone := c%7 == 0
				if gone {
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					ctx = cctx
				}
				switch r := b.do(ctx, q); {
				case r == q*2:
				case r == -1 && gone:
					withdrawn.Add(1)
					mu.Lock()
					if written[q] {
						t.Errorf("request %d was written and answered as withdrawn", q)
					}
					mu.Unlock()
				default:
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
	batches, items, _, queued := b.stats()
	if items != callers*each-withdrawn.Load() || queued != 0 || b.inFlight != 0 || len(b.running) != 0 {
		t.Errorf("stats: %d batches, %d requests (%d withdrawn), %d queued, %d places held, %d keys running; want all the others written, none left",
			batches, items, withdrawn.Load(), queued, b.inFlight, len(b.running))
	}
	if batches >= items {
		t.Errorf("%d requests in %d batches: nothing was batched", items, batches)
	}
	t.Logf("%d requests in %d batches (%d withdrawn), sizes %v", items, batches, withdrawn.Load(), sizes)
}

// A batch that panics answers each of its requests with the failure and gives its place back;
// the batcher goes on writing.
func TestBatcherPanic(t *testing.T) {
	b := newBatcher(1, 4, func(q int) []string { return []string{fmt.Sprint(q)} }, func(_ context.Context, qs []int) []int {
		for _, q := range qs {
			if q == 13 {
				panic("unlucky")
			}
		}
		return qs
	}, func(error) int { return -1 })
	if r := b.do(context.Background(), 13); r != -1 {
		t.Errorf("the panicking request answered %d, want the failure", r)
	}
	for q := range 5 {
		if r := b.do(context.Background(), q); r != q {
			t.Errorf("after the panic, request %d answered %d", q, r)
		}
	}
	if b.inFlight != 0 || len(b.running) != 0 {
		t.Errorf("%d places held, %d keys running after the panic", b.inFlight, len(b.running))
	}
}

// A statement that stalls does not hold every request behind it: a request that has waited
// stallAfter leads one batch beside it, and that extra place closes when its batch ends, so
// no more than maxInFlight+1 batches ever run.
func TestBatcherStall(t *testing.T) {
	release := make(chan struct{})
	var running, maxRunning atomic.Int32
	b := newBatcher(1, 8, func(q int) []string { return []string{fmt.Sprint(q)} }, func(_ context.Context, qs []int) []int {
		defer enter(&running, &maxRunning)()
		if qs[0] == 0 {
			<-release // the stalled statement
		}
		return qs
	}, func(error) int { return -1 })
	b.stallAfter = 20 * time.Millisecond
	stuck := make(chan int)
	go func() { stuck <- b.do(context.Background(), 0) }()
	for running.Load() != 1 { // wait until the stalled batch runs
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for q := 1; q <= 3; q++ { // written beside the stalled one, not after it
		if r := b.do(context.Background(), q); r != q {
			t.Fatalf("request %d answered %d", q, r)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("requests behind a stalled statement took %s", d)
	}
	if _, _, stalls, _ := b.stats(); stalls == 0 {
		t.Fatal("no batch was led on a stall's place")
	}
	b.mu.Lock()
	held := b.inFlight
	b.mu.Unlock()
	if held != 1 {
		t.Fatalf("%d places held while the stalled batch runs alone, want 1: a stall's place closes with its batch", held)
	}
	close(release)
	if r := <-stuck; r != 0 {
		t.Fatalf("the stalled request answered %d", r)
	}
	b.mu.Lock()
	held = b.inFlight
	b.mu.Unlock()
	if held != 0 {
		t.Fatalf("%d places held after the stall, want 0", held)
	}
	// Under a stream, at most one place beyond maxInFlight (a slow scheduler may open one).
	maxRunning.Store(0)
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 20 {
				if q := 100 + c*20 + k; b.do(context.Background(), q) != q {
					t.Errorf("request %d", q)
				}
			}
		}()
	}
	wg.Wait()
	if m := maxRunning.Load(); m > 2 {
		t.Errorf("%d batches ran at once, want at most 2", m)
	}
	if _, _, _, queued := b.stats(); queued != 0 || b.inFlight != 0 {
		t.Errorf("%d queued, %d places held after the stream", queued, b.inFlight)
	}
}

// enter counts a batch into running, raises maxRunning to the count if it is higher, and returns
// the batch's exit.
func enter(running, maxRunning *atomic.Int32) (exit func()) {
	n := running.Add(1)
	for {
		m := maxRunning.Load()
		if n <= m || maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	return func() { running.Add(-1) }
}
