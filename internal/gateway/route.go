package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/trace"
)

// Router picks channels for a payment by config's routing rules (priority, weight, amount
// range, currency) and keeps a circuit breaker per channel, so a failing channel is skipped.
type Router struct {
	routes   map[paygw.PayMethod][]config.Route
	breakers map[string]*gobreaker.CircuitBreaker[struct{}]
	metrics  *Metrics
	mu       sync.Mutex
	rnd      *rand.Rand
}

// NewRouter builds the router and one breaker per configured channel.
func NewRouter(cfg *config.Config, chs *channel.Registry, m *Metrics) (*Router, error) {
	r := &Router{routes: map[paygw.PayMethod][]config.Route{}, breakers: map[string]*gobreaker.CircuitBreaker[struct{}]{},
		metrics: m, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	for method, routes := range cfg.Routing {
		for _, rt := range routes {
			if _, ok := chs.Get(rt.Channel); !ok {
				return nil, fmt.Errorf("routing %s: channel %q has no adapter", method, rt.Channel)
			}
		}
		r.routes[paygw.PayMethod(method)] = routes
	}
	for _, name := range chs.Names() {
		bc := cfg.Channels[name].Breaker
		threshold := bc.ConsecutiveFailures
		r.breakers[name] = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        name,
			MaxRequests: 1,
			Timeout:     bc.OpenFor.D(),
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
			IsExcluded: func(err error) bool {
				return errors.Is(err, context.Canceled) || errors.Is(err, channel.ErrAlreadyPaid)
			},
			OnStateChange: func(name string, _, to gobreaker.State) { m.breakerState(name, to) },
		})
		m.breakerState(name, gobreaker.StateClosed)
	}
	return r, nil
}

// Candidates returns the channels to try for a payment, in order: those of the routes that take it
// (see refuse), skipping open breakers. only restricts to one channel (an agreement's).
func (r *Router) Candidates(method paygw.PayMethod, amount int64, currency, only string) []string {
	var eligible []config.Route
	for _, rt := range r.routes[method] {
		if refuse(rt, amount, currency, only) != routeTakes {
			continue
		}
		if b := r.breakers[rt.Channel]; b != nil && b.State() == gobreaker.StateOpen {
			continue
		}
		eligible = append(eligible, rt)
	}
	sort.SliceStable(eligible, func(i, j int) bool { return eligible[i].Priority < eligible[j].Priority })
	out := make([]string, 0, len(eligible))
	for i := 0; i < len(eligible); {
		j := i
		for j < len(eligible) && eligible[j].Priority == eligible[i].Priority {
			j++
		}
		out = append(out, r.weighted(eligible[i:j])...)
		i = j
	}
	return out
}

// Unroutable explains why no route could ever take a payment, breakers aside, by the route that
// came closest to taking it (the latest rule refuse reached): no route for the pay method, or
// none for the only channel (unsupported_pay_method), none for the currency (invalid_request
// naming the currency) or none for the amount (invalid_amount). nil: some route would take it,
// so an empty candidate list means every such channel's breaker is open (no_channel_available).
func (r *Router) Unroutable(method paygw.PayMethod, amount int64, currency, only string) error {
	closest := refusedChannel // no route at all answers as no route for the channel
	for _, rt := range r.routes[method] {
		closest = max(closest, refuse(rt, amount, currency, only))
	}
	switch closest {
	case refusedChannel:
		return paygw.Errorf(paygw.CodeUnsupportedPayMethod, "pay_method: no channel is configured for %s", method)
	case refusedCurrency:
		return paygw.Errorf(paygw.CodeInvalidRequest, "currency: no channel takes %s payments in %s", method, currency)
	case refusedAmount:
		return paygw.Errorf(paygw.CodeInvalidAmount, "amount: %d is outside every %s channel's amount range for %s", amount, method, currency)
	}
	return nil
}

// refusal is the first routing rule a route fails for a payment. The rules are checked in this
// order, so a larger value means the route came closer to taking the payment.
type refusal int

const (
	refusedChannel  refusal = iota // the payment is restricted to another channel (an agreement's)
	refusedCurrency                // the route lists currencies and not the payment's
	refusedAmount                  // the amount is outside the route's range
	routeTakes                     // no rule refuses: the route takes the payment, breakers aside
)

// refuse returns the first rule by which rt refuses a payment of amount in currency, restricted
// to the channel only when only is set, or routeTakes. The routing rules live here alone:
// Candidates keeps the routes that take a payment and Unroutable names why none does.
func refuse(rt config.Route, amount int64, currency, only string) refusal {
	switch {
	case only != "" && rt.Channel != only:
		return refusedChannel
	case currency != "" && len(rt.Currencies) > 0 && !contains(rt.Currencies, currency):
		return refusedCurrency // "" (an agreement) has no currency of its own
	case amount < rt.MinAmount || (rt.MaxAmount > 0 && amount > rt.MaxAmount):
		return refusedAmount
	}
	return routeTakes
}

// weighted orders one priority group by weighted random sampling without replacement.
func (r *Router) weighted(group []config.Route) []string {
	g := append([]config.Route(nil), group...)
	out := make([]string, 0, len(g))
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(g) > 0 {
		total := 0
		for _, rt := range g {
			total += rt.Weight
		}
		pick, x := 0, r.rnd.IntN(total)
		for i, rt := range g {
			if x < rt.Weight {
				pick = i
				break
			}
			x -= rt.Weight
		}
		out = append(out, g[pick].Channel)
		g = append(g[:pick], g[pick+1:]...)
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Call runs a channel operation through the channel's breaker, timing it. An open breaker
// answers gobreaker.ErrOpenState without calling: a definite non-execution. A call that failed
// because ctx ended says nothing about the channel's health and is not counted.
func (r *Router) Call(ctx context.Context, name, op string, f func() error) (err error) {
	_, span := trace.Start(ctx, "channel."+op, trace.Channel.String(name))
	defer func() { trace.End(span, err) }()
	b := r.breakers[name]
	start := time.Now()
	call := func() error {
		err := f()
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%w: %w", context.Canceled, err)
		}
		return err
	}
	if b == nil {
		err = call()
	} else {
		_, err = b.Execute(func() (struct{}, error) { return struct{}{}, call() })
	}
	if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
		r.metrics.channelCall(name, op, err, time.Since(start))
	}
	return err
}

// BreakerOpen reports whether a channel's breaker is open.
func (r *Router) BreakerOpen(name string) bool {
	b := r.breakers[name]
	return b != nil && b.State() == gobreaker.StateOpen
}

// notExecuted reports whether err proves the channel did not execute the request, so another
// channel may be tried: channel.ErrDeclined (not sent, or refused as a request), or a breaker
// that refused to call. A payer's decline is not an error: adapters answer it as a result with
// status failed, the payment's outcome (DESIGN.md §5), which neither fails over nor counts
// against the breaker.
func notExecuted(err error) bool {
	return errors.Is(err, channel.ErrDeclined) || errors.Is(err, gobreaker.ErrOpenState) ||
		errors.Is(err, gobreaker.ErrTooManyRequests)
}
