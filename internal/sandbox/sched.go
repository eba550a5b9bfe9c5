package sandbox

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

type taskKind int

const (
	taskCallback taskKind = iota + 1
	taskAutoPay
	taskRefund
)

// task is delayed background work: a callback attempt, an auto-pay or a refund completion.
type task struct {
	due     time.Time
	seq     uint64
	kind    taskKind
	key     string // out_trade_no or out_refund_no
	cbKind  string // payment | refund
	url     string
	attempt int  // callback attempts made so far
	dup     bool // a deliberate duplicate (DuplicateCallbacks)
}

type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(*task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}

// scheduler is a wall-clock timer queue with its own lock, drained by Run.
type scheduler struct {
	mu   sync.Mutex
	h    taskHeap
	seq  uint64
	wake chan struct{}
}

func (q *scheduler) init() { q.wake = make(chan struct{}, 1) }

// schedule queues t to run after d.
func (s *Server) schedule(t *task, d time.Duration) {
	q := &s.sched
	q.mu.Lock()
	q.seq++
	t.seq = q.seq
	t.due = time.Now().Add(d)
	heap.Push(&q.h, t)
	first := q.h[0] == t
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// next pops a due task, or returns how long to wait for one (-1: queue empty).
func (q *scheduler) next(now time.Time) (*task, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 {
		return nil, -1
	}
	if t := q.h[0]; !t.due.After(now) {
		heap.Pop(&q.h)
		return t, 0
	}
	return nil, q.h[0].due.Sub(now)
}

// Pending returns the number of queued background tasks (callbacks, auto-pays, refunds).
func (s *Server) Pending() int {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	return len(s.sched.h)
}

// Run performs the background work — callbacks with retries, auto-pay, refund completion and
// state-file saving — until ctx ends, then stops its workers, saves the state and returns nil.
// Call it once.
func (s *Server) Run(ctx context.Context) error {
	started := false
	s.runStarted.Do(func() { started = true })
	if !started {
		return fmt.Errorf("sandbox: Run called twice")
	}
	defer s.stopOnce.Do(func() { close(s.stopping) })

	work := make(chan *task)
	var wg sync.WaitGroup
	for range s.opts.CallbackWorkers {
		wg.Go(func() {
			for t := range work {
				s.runTask(ctx, t)
			}
		})
	}
	var tick <-chan time.Time
	if s.opts.StateFile != "" {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		tick = tk.C
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
loop:
	for {
		t, wait := s.sched.next(time.Now())
		if t != nil {
			select {
			case work <- t:
				continue
			case <-ctx.Done():
				break loop
			}
		}
		if wait < 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			break loop
		case <-s.sched.wake:
		case <-timer.C:
		case <-tick:
			if err := s.save(); err != nil {
				s.log.Error().Err(err).Msg("save state")
			}
		}
	}
	close(work)
	wg.Wait()
	if err := s.save(); err != nil {
		s.log.Error().Err(err).Msg("save state")
		return err
	}
	return nil
}

func (s *Server) runTask(ctx context.Context, t *task) {
	switch t.kind {
	case taskAutoPay:
		s.payTrade(t.key, true)
	case taskRefund:
		s.completeRefund(t.key)
	case taskCallback:
		s.deliver(ctx, t)
	}
}

// callbackBody builds the callback from the object's current state.
func (s *Server) callbackBody(t *task) ([]byte, string, bool) {
	cb := wireCallback{Kind: t.cbKind, NotifyTime: formatTime(time.Now())}
	s.mu.Lock()
	switch t.cbKind {
	case "payment":
		tr := s.trades[t.key]
		if tr == nil {
			s.mu.Unlock()
			return nil, "", false
		}
		w := tr.wire()
		cb.Trade, cb.NotifyID = &w, "N"+tr.TradeNo
	case "refund":
		r := s.refunds[t.key]
		if r == nil {
			s.mu.Unlock()
			return nil, "", false
		}
		w := r.wire()
		cb.Refund, cb.NotifyID = &w, "N"+r.RefundNo
	}
	s.mu.Unlock()
	b, err := json.Marshal(cb)
	return b, cb.NotifyID, err == nil
}

// deliver makes one callback attempt and schedules a retry or a duplicate.
func (s *Server) deliver(ctx context.Context, t *task) {
	var send func() error
	var notifyID string
	if s.opts.CallbackSender != nil {
		cb, ok := s.callbackOf(t)
		if !ok {
			return
		}
		notifyID = cb.NotifyID
		send = func() error { return s.opts.CallbackSender(ctx, t.url, cb) }
	} else {
		body, id, ok := s.callbackBody(t)
		if !ok {
			return
		}
		notifyID = id
		send = func() error { return s.post(ctx, t.url, body) }
	}
	t.attempt++
	var err error
	if s.chance(s.opts.DropCallbacks, "drop", notifyID, strconv.Itoa(t.attempt), strconv.FormatBool(t.dup)) {
		err = fmt.Errorf("dropped (simulated)")
	} else {
		err = send()
	}
	if err == nil {
		if !t.dup && s.chance(s.opts.DuplicateCallbacks, "dup", notifyID) {
			s.schedule(&task{kind: taskCallback, cbKind: t.cbKind, key: t.key, url: t.url, dup: true}, 0)
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	if t.dup || t.attempt >= s.opts.CallbackMaxAttempts {
		s.log.Warn().Err(err).Str("notify_id", notifyID).Int("attempts", t.attempt).Msg("callback given up")
		return
	}
	b := s.opts.CallbackBackoff
	s.log.Debug().Err(err).Str("notify_id", notifyID).Int("attempt", t.attempt).Msg("callback not acknowledged")
	s.schedule(t, b[min(t.attempt-1, len(b)-1)])
}

// post sends one signed callback; only HTTP 200 with the body "success" acknowledges it.
func (s *Server) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	setSignature(req.Header, s.secret, callbackMethod, "", time.Now(), body)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("callback post: %w", err)
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode != http.StatusOK || string(bytes.TrimSpace(ack)) != CallbackAckBody {
		return fmt.Errorf("callback answered %d %.40q", resp.StatusCode, ack)
	}
	return nil
}

// callbackMethod is the method slot of a callback's canonical string.
const callbackMethod = "CALLBACK"
