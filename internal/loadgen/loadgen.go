// Package loadgen drives paygw's merchant API with signed requests from N concurrent clients
// (closed loop, or open loop at a target rate) and reports throughput and latency percentiles,
// overall and per reporting interval.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygw/paygw/internal/client"
)

// Options configure a run.
type Options struct {
	URL, MerchantID, Secret string
	Concurrency             int
	Duration                time.Duration
	Requests                int // stop after this many (0: run for Duration)
	PayMethod               string
	Amount                  int64
	Currency                string
	Warmup                  time.Duration
	// Rate, when positive, runs open loop: payments are started at this many per second on a
	// fixed schedule whatever the answers take, by up to Concurrency clients. A payment whose
	// start time comes while every client is busy is not sent and counts as an error
	// ("not sent: all clients busy"). Latency is measured from the scheduled start, so a
	// server that falls behind shows it in the percentiles (no coordinated omission).
	Rate float64
	// NotifyURL, when set, is sent as every payment's notify_url: each payment then produces a
	// merchant notification for paygw to deliver.
	NotifyURL string
	// ReportEvery, when positive, closes an Interval every so often (Result.Intervals) and
	// passes it to OnInterval as it closes.
	ReportEvery time.Duration
	OnInterval  func(Interval)
}

// Interval is what one reporting interval measured.
type Interval struct {
	Index      int              `json:"index"`      // 1-based
	Start      float64          `json:"start_s"`    // seconds since the measured run began
	Seconds    float64          `json:"seconds"`    // length (the last may be shorter)
	Partial    bool             `json:"partial"`    // shorter than ReportEvery (the run ended)
	Requests   int64            `json:"requests"`   // answered, failed or not sent
	Succeeded  int64            `json:"succeeded"`  // as Result.Succeeded
	Errors     int64            `json:"errors"`     // Requests - Succeeded
	ErrorRate  float64          `json:"error_rate"` // Errors / Requests (0 when none)
	Throughput float64          `json:"throughput_per_s"`
	P50        float64          `json:"p50_ms"`
	P95        float64          `json:"p95_ms"`
	P99        float64          `json:"p99_ms"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
}

// Result is what a run measured.
type Result struct {
	Requests   int64            `json:"requests"`
	Succeeded  int64            `json:"succeeded"` // 201 with status succeeded (withhold/quick_pay) or processing (redirect)
	Errors     map[string]int64 `json:"errors"`
	Seconds    float64          `json:"seconds"`
	Throughput float64          `json:"throughput_per_s"` // successful payments per second
	P50        float64          `json:"p50_ms"`
	P95        float64          `json:"p95_ms"`
	P99        float64          `json:"p99_ms"`
	Max        float64          `json:"max_ms"`
	ErrorRate  float64          `json:"error_rate"`            // (Requests - Succeeded) / Requests
	Rate       float64          `json:"target_rate,omitempty"` // Options.Rate (open loop)
	Intervals  []Interval       `json:"intervals,omitempty"`   // with Options.ReportEvery
}

// FirstLast returns the first and the last full interval (the last partial one is skipped
// when a full one exists); ok is false without intervals.
func (r Result) FirstLast() (first, last Interval, ok bool) {
	if len(r.Intervals) == 0 {
		return Interval{}, Interval{}, false
	}
	first, last = r.Intervals[0], r.Intervals[len(r.Intervals)-1]
	if last.Partial && len(r.Intervals) > 1 {
		last = r.Intervals[len(r.Intervals)-2]
	}
	return first, last, true
}

// Run signs an agreement when the method needs one, then creates payments until done.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return Result{}, fmt.Errorf("rate %v: must be a positive number of payments per second (or 0 for closed loop)", o.Rate)
	}
	notify := ""
	if o.NotifyURL != "" {
		q, _ := json.Marshal(o.NotifyURL)
		notify = `,"notify_url":` + string(q)
	}
	c := client.New(o.URL, o.MerchantID, o.Secret)
	agreement := ""
	if o.PayMethod == "withhold" || o.PayMethod == "quick_pay" {
		a, err := c.SignAgreement(ctx, "LOAD-"+client.Nonce()[:12], o.PayMethod, "Load Test", "6222021234567890123", "13800000000")
		if err != nil {
			return Result{}, fmt.Errorf("sign agreement: %w", err)
		}
		if a.Status != "active" {
			return Result{}, fmt.Errorf("agreement is %s", a.Status)
		}
		agreement = a.ID
	}
	prefix := "L" + client.Nonce()[:10] + "-"
	var seq atomic.Int64
	body := func() []byte {
		n := seq.Add(1)
		b := `{"out_trade_no":"` + prefix + strconv.FormatInt(n, 10) + `","amount":` + strconv.FormatInt(o.Amount, 10) +
			`,"currency":"` + o.Currency + `","pay_method":"` + o.PayMethod + `","subject":"load test"`
		if agreement != "" {
			b += `,"agreement_id":"` + agreement + `"`
		}
		return []byte(b + notify + "}")
	}
	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		drive(wctx, c, o.Concurrency, 0, o.Rate, body, nil)
		cancel()
	}
	rctx := ctx
	var cancel context.CancelFunc = func() {}
	if o.Requests == 0 {
		rctx, cancel = context.WithTimeout(ctx, o.Duration)
	}
	defer cancel()
	rec := &recorder{errors: map[string]int64{}, cur: newBucket()}
	start := time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if o.ReportEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(o.ReportEvery)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-t.C:
					rec.closeInterval(start, now, false, o.OnInterval)
				}
			}
		}()
	}
	drive(rctx, c, o.Concurrency, int64(o.Requests), o.Rate, body, rec)
	end := time.Now()
	close(stop)
	wg.Wait()
	if o.ReportEvery > 0 && rec.cur.requests() > 0 {
		rec.closeInterval(start, end, end.Sub(rec.curStart(start)) < o.ReportEvery*99/100, o.OnInterval)
	}
	res := rec.result(end.Sub(start))
	res.Rate = o.Rate
	return res, nil
}

// bucket collects one reporting interval.
type bucket struct {
	lat       []time.Duration
	succeeded int64
	errors    map[string]int64
	begin     time.Duration // since start
}

func newBucket() *bucket { return &bucket{errors: map[string]int64{}} }

func (b *bucket) requests() int64 { return int64(len(b.lat)) + b.notSent() }

// notSent counts the payments never sent (they have no latency).
func (b *bucket) notSent() int64 { return b.errors[notSentKey] }

const notSentKey = "not sent: all clients busy"

type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	succeeded int64
	notSent   int64
	errors    map[string]int64
	cur       *bucket
	intervals []Interval
}

func (r *recorder) add(d time.Duration, ok bool, errKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if errKey == notSentKey {
		r.notSent++
		r.errors[errKey]++
		r.cur.errors[errKey]++
		return
	}
	r.lat = append(r.lat, d)
	r.cur.lat = append(r.cur.lat, d)
	if ok {
		r.succeeded++
		r.cur.succeeded++
	} else {
		r.errors[errKey]++
		r.cur.errors[errKey]++
	}
}

func (r *recorder) curStart(start time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return start.Add(r.cur.begin)
}

// closeInterval ends the current interval at now, records it and hands it to fn.
func (r *recorder) closeInterval(start, now time.Time, partial bool, fn func(Interval)) {
	r.mu.Lock()
	b := r.cur
	r.cur = newBucket()
	r.cur.begin = now.Sub(start)
	iv := Interval{Index: len(r.intervals) + 1, Start: b.begin.Seconds(), Seconds: (now.Sub(start) - b.begin).Seconds(),
		Partial: partial, Requests: b.requests(), Succeeded: b.succeeded}
	r.mu.Unlock()
	iv.Errors = iv.Requests - iv.Succeeded
	if iv.Requests > 0 {
		iv.ErrorRate = float64(iv.Errors) / float64(iv.Requests)
	}
	if iv.Seconds > 0 {
		iv.Throughput = float64(iv.Succeeded) / iv.Seconds
	}
	sort.Slice(b.lat, func(i, j int) bool { return b.lat[i] < b.lat[j] })
	iv.P50, iv.P95, iv.P99 = percentile(b.lat, .50), percentile(b.lat, .95), percentile(b.lat, .99)
	if len(b.errors) > 0 {
		iv.ErrorKinds = b.errors
	}
	r.mu.Lock()
	r.intervals = append(r.intervals, iv)
	r.mu.Unlock()
	if fn != nil {
		fn(iv)
	}
}

// percentile of sorted latencies, in milliseconds.
func percentile(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	i := int(p * float64(len(lat)-1))
	return float64(lat[i].Microseconds()) / 1000
}

func (r *recorder) result(elapsed time.Duration) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	pct := func(p float64) float64 { return percentile(r.lat, p) }
	res := Result{Requests: int64(len(r.lat)) + r.notSent, Succeeded: r.succeeded, Errors: r.errors, Seconds: elapsed.Seconds(),
		P50: pct(.50), P95: pct(.95), P99: pct(.99), Max: pct(1), Intervals: r.intervals}
	res.Throughput = float64(r.succeeded) / elapsed.Seconds()
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Requests-res.Succeeded) / float64(res.Requests)
	}
	return res
}

// drive sends payments from n clients until ctx ends or limit payments were started: closed
// loop when rate is 0 (each client sends its next as soon as its last is answered), else open
// loop at rate per second.
func drive(ctx context.Context, c *client.Client, n int, limit int64, rate float64, body func() []byte, rec *recorder) {
	var wg sync.WaitGroup
	if rate > 0 {
		starts := make(chan time.Time, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t0 := range starts {
					if !send(ctx, c, body(), t0, rec) {
						return
					}
				}
			}()
		}
		schedule(ctx, limit, rate, starts, rec)
		close(starts)
		wg.Wait()
		return
	}
	var sent atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if limit > 0 && sent.Add(1) > limit {
					return
				}
				if !send(ctx, c, body(), time.Now(), rec) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// schedule hands out start times every 1/rate seconds until ctx ends or limit were handed out.
// A start that finds every client busy is recorded as not sent rather than delayed, so the
// schedule never slows down to what the server manages.
func schedule(ctx context.Context, limit int64, rate float64, starts chan<- time.Time, rec *recorder) {
	begin := time.Now()
	step := float64(time.Second) / rate
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); limit == 0 || i < limit; i++ {
		at := begin.Add(time.Duration(float64(i) * step))
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		select {
		case starts <- at:
		default:
			if rec != nil {
				rec.add(0, false, notSentKey)
			}
		}
	}
}

// send creates one payment and records it; false means the run is over (ctx ended).
func send(ctx context.Context, c *client.Client, b []byte, t0 time.Time, rec *recorder) bool {
	req, err := c.Request(ctx, http.MethodPost, "/v1/payments", b)
	if err != nil {
		return false
	}
	resp, err := c.HTTP.Do(req)
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		if rec != nil {
			rec.add(d, false, "transport")
		}
		return true
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rec == nil {
		return true
	}
	ok := resp.StatusCode == http.StatusCreated && (contains(data, `"status":"succeeded"`) || contains(data, `"status":"processing"`))
	key := ""
	if !ok {
		key = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode == http.StatusCreated {
			key = "201 not succeeded"
		}
	}
	rec.add(d, ok, key)
	return true
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// FormatInterval is the one line `paygw loadgen --report-every` prints per interval.
func FormatInterval(iv Interval) string {
	s := fmt.Sprintf("interval %d  at %.0fs  %.1fs  requests %d  succeeded %d  %.0f payments/s  p50 %.1f  p95 %.1f  p99 %.1f ms  errors %d (%.4f%%)",
		iv.Index, iv.Start, iv.Seconds, iv.Requests, iv.Succeeded, iv.Throughput, iv.P50, iv.P95, iv.P99, iv.Errors, 100*iv.ErrorRate)
	if iv.Partial {
		s += "  partial"
	}
	return s
}

// FormatSummary is the first-versus-last block printed after a run with intervals: throughput
// and p99 of the first and the last full interval and their ratio (last/first), and the error
// rate of the run. Empty without intervals.
func FormatSummary(r Result) string {
	first, last, ok := r.FirstLast()
	if !ok {
		return ""
	}
	ratio := func(a, b float64) string {
		if a == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", b/a)
	}
	return fmt.Sprintf("first vs last interval (%d → %d):  throughput %.0f → %.0f payments/s (%s)  p99 %.1f → %.1f ms (%s)\nerror rate %.4f%% (%d of %d)\n",
		first.Index, last.Index, first.Throughput, last.Throughput, ratio(first.Throughput, last.Throughput),
		first.P99, last.P99, ratio(first.P99, last.P99), 100*r.ErrorRate, r.Requests-r.Succeeded, r.Requests)
}
