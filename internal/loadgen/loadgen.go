// Package loadgen drives paygw's merchant API with signed requests from N concurrent clients
// (closed loop) and reports throughput and latency percentiles.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
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
}

// Run signs an agreement when the method needs one, then creates payments until done.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
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
		return []byte(b + "}")
	}
	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		drive(wctx, c, o.Concurrency, 0, body, nil)
		cancel()
	}
	rctx := ctx
	var cancel context.CancelFunc = func() {}
	if o.Requests == 0 {
		rctx, cancel = context.WithTimeout(ctx, o.Duration)
	}
	defer cancel()
	rec := &recorder{errors: map[string]int64{}}
	start := time.Now()
	drive(rctx, c, o.Concurrency, int64(o.Requests), body, rec)
	return rec.result(time.Since(start)), nil
}

type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	succeeded int64
	errors    map[string]int64
}

func (r *recorder) add(d time.Duration, ok bool, errKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat = append(r.lat, d)
	if ok {
		r.succeeded++
	} else {
		r.errors[errKey]++
	}
}

func (r *recorder) result(elapsed time.Duration) Result {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	pct := func(p float64) float64 {
		if len(r.lat) == 0 {
			return 0
		}
		i := int(p * float64(len(r.lat)-1))
		return float64(r.lat[i].Microseconds()) / 1000
	}
	res := Result{Requests: int64(len(r.lat)), Succeeded: r.succeeded, Errors: r.errors, Seconds: elapsed.Seconds(),
		P50: pct(.50), P95: pct(.95), P99: pct(.99), Max: pct(1)}
	res.Throughput = float64(r.succeeded) / elapsed.Seconds()
	return res
}

func drive(ctx context.Context, c *client.Client, n int, limit int64, body func() []byte, rec *recorder) {
	var wg sync.WaitGroup
	var sent atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if limit > 0 && sent.Add(1) > limit {
					return
				}
				b := body()
				t0 := time.Now()
				req, err := c.Request(ctx, http.MethodPost, "/v1/payments", b)
				if err != nil {
					return
				}
				resp, err := c.HTTP.Do(req)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
						return
					}
					if rec != nil {
						rec.add(d, false, "transport")
					}
					continue
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rec == nil {
					continue
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
			}
		}()
	}
	wg.Wait()
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}
