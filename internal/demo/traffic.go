package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/client"
)

// shop is one demo merchant as the traffic sees it.
type shop struct {
	ID, Name, Secret string
	Client           *client.Client
	Agreements       []string // withhold agreement ids
}

// order is one payment the demo makes and what became of it.
type order struct {
	Shop      int
	OutNo     string
	Method    string
	Amount    int64
	Close     bool // the merchant closes it right away (payer abandoned the checkout)
	Payment   api.Payment
	Refunds   []api.Refund
	Err       error
	createdIn time.Duration
}

var redirectMethods = []string{"wallet_qr", "online_banking"}

// plan lays out n payments over the shops: about 55% redirect (paid by the sandbox's auto-pay),
// 45% withhold on the shops' agreements, one redirect in 17 abandoned and closed.
func plan(n int, shops []*shop, seed uint64) []*order {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	run := strconv.FormatUint(seed%1000000, 36)
	out := make([]*order, n)
	redirects := 0
	for i := range out {
		o := &order{Shop: i % len(shops), OutNo: fmt.Sprintf("DEMO-%s-%04d", run, i+1)}
		// Amounts between 1.00 and 800.00, mostly small, always whole cents.
		o.Amount = 100 + rng.Int64N(20000)
		if rng.IntN(5) == 0 {
			o.Amount += rng.Int64N(60000)
		}
		if rng.IntN(20) < 11 {
			o.Method = redirectMethods[rng.IntN(len(redirectMethods))]
			redirects++
			o.Close = redirects%17 == 5
		} else {
			o.Method = "withhold"
		}
		out[i] = o
	}
	return out
}

// signAgreements signs k withhold agreements per shop.
func signAgreements(ctx context.Context, shops []*shop, k int) error {
	for si, s := range shops {
		for j := 0; j < k; j++ {
			a, err := s.Client.SignAgreement(ctx, fmt.Sprintf("AGR-%d-%d-%s", si+1, j+1, client.Nonce()[:6]), "withhold",
				fmt.Sprintf("Payer %d-%d", si+1, j+1), fmt.Sprintf("62220200%011d", si*100+j+1), fmt.Sprintf("1380000%04d", si*100+j+1))
			if err != nil {
				return fmt.Errorf("%s: sign agreement: %w", s.Name, err)
			}
			if a.Status != "active" {
				return fmt.Errorf("%s: agreement %s is %s, want active", s.Name, a.ID, a.Status)
			}
			s.Agreements = append(s.Agreements, a.ID)
		}
	}
	return nil
}

// pool runs f over items with n workers.
func pool[T any](ctx context.Context, items []T, n int, f func(context.Context, T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				f(ctx, it)
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		ch <- it
	}
	close(ch)
	wg.Wait()
}

// createPayments sends every order (closing the abandoned ones) with n concurrent clients.
func createPayments(ctx context.Context, shops []*shop, orders []*order, n int) {
	pool(ctx, orders, n, func(ctx context.Context, o *order) {
		s := shops[o.Shop]
		req := map[string]any{"out_trade_no": o.OutNo, "amount": o.Amount, "currency": "CNY", "pay_method": o.Method,
			"subject": "Demo order " + o.OutNo, "expires_in": 900}
		if o.Method == "withhold" {
			req["agreement_id"] = s.Agreements[int(hash(o.OutNo))%len(s.Agreements)]
		}
		t0 := time.Now()
		p, _, err := s.Client.CreatePayment(ctx, req)
		o.createdIn = time.Since(t0)
		if err != nil {
			o.Err = err
			return
		}
		o.Payment = p
		if o.Close && p.Status == "processing" {
			var cp api.Payment
			if _, err := s.Client.Do(ctx, http.MethodPost, "/v1/payments/"+p.ID+"/close", nil, &cp); err == nil {
				o.Payment = cp
			}
			// A close refused because the payer paid first is fine: the payment simply succeeds.
		}
	})
}

func finalPayment(status string) bool {
	switch status {
	case "succeeded", "failed", "closed", "partially_refunded", "refunded":
		return true
	}
	return false
}

// awaitPayments polls until every created payment is final, or within passes.
func awaitPayments(ctx context.Context, shops []*shop, orders []*order, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var open []*order
		for _, o := range orders {
			if o.Err == nil && !finalPayment(o.Payment.Status) {
				open = append(open, o)
			}
		}
		if len(open) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d payments still not final after %s (e.g. %s is %s)", len(open), within, open[0].Payment.ID, open[0].Payment.Status)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
		refresh(ctx, shops, open, n)
	}
}

// refresh re-reads payments from the API.
func refresh(ctx context.Context, shops []*shop, orders []*order, n int) {
	pool(ctx, orders, n, func(ctx context.Context, o *order) {
		if p, err := shops[o.Shop].Client.GetPayment(ctx, o.Payment.ID); err == nil {
			o.Payment = p
		}
	})
}

// refundPlan picks the payments to refund: one succeeded payment in six, skipping skip; a
// third of them in full, the rest partly, half of those twice.
func refundPlan(orders []*order, skip string) []*order {
	var out []*order
	k := 0
	for _, o := range orders {
		if o.Err != nil || o.Payment.Status != "succeeded" || o.Payment.ID == skip {
			continue
		}
		if k++; k%6 == 0 {
			out = append(out, o)
		}
	}
	return out
}

// createRefunds refunds the planned payments.
func createRefunds(ctx context.Context, shops []*shop, orders []*order, n int) error {
	var mu sync.Mutex
	var errs []error
	pool(ctx, orders, n, func(ctx context.Context, o *order) {
		c := shops[o.Shop].Client
		amounts := []int64{o.Amount}
		switch hash(o.OutNo) % 3 {
		case 1:
			amounts = []int64{o.Amount / 3}
		case 2:
			amounts = []int64{o.Amount / 3, o.Amount / 4}
		}
		for j, a := range amounts {
			if a <= 0 {
				continue
			}
			r, _, err := c.Refund(ctx, o.Payment.ID, fmt.Sprintf("R-%s-%d", o.OutNo, j+1), a)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("refund %s: %w", o.Payment.ID, err))
				mu.Unlock()
				return
			}
			mu.Lock()
			o.Refunds = append(o.Refunds, r)
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}

// awaitRefunds polls until every refund is final, or within passes.
func awaitRefunds(ctx context.Context, shops []*shop, orders []*order, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	type ref struct {
		o *order
		i int
	}
	for {
		var open []ref
		for _, o := range orders {
			for i, r := range o.Refunds {
				if r.Status != "succeeded" && r.Status != "failed" {
					open = append(open, ref{o, i})
				}
			}
		}
		if len(open) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			r := open[0].o.Refunds[open[0].i]
			return fmt.Errorf("%d refunds still not final after %s (e.g. %s is %s)", len(open), within, r.ID, r.Status)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
		pool(ctx, open, n, func(ctx context.Context, x ref) {
			var r api.Refund
			if _, err := shops[x.o.Shop].Client.Do(ctx, http.MethodGet, "/v1/refunds/"+x.o.Refunds[x.i].ID, nil, &r); err == nil {
				x.o.Refunds[x.i] = r
			}
		})
	}
}

// expectedEvents is what the merchants must be notified of, by event type, given final objects.
func expectedEvents(orders []*order) map[string]int {
	exp := map[string]int{}
	for _, o := range orders {
		if o.Err != nil {
			continue
		}
		switch o.Payment.Status {
		case "succeeded", "partially_refunded", "refunded":
			exp["payment.succeeded"]++
		case "failed":
			exp["payment.failed"]++
		case "closed":
			exp["payment.closed"]++
		}
		for _, r := range o.Refunds {
			exp["refund."+r.Status]++
		}
	}
	return exp
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// latency percentiles of payment creation, in milliseconds.
func latencies(orders []*order) (p50, p95 float64) {
	var ds []time.Duration
	for _, o := range orders {
		if o.Err == nil {
			ds = append(ds, o.createdIn)
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	return at(.5), at(.95)
}
