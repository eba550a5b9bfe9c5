package gateway

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sony/gobreaker/v2"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
)

// TestRouteRules pins each routing rule on both sides: Candidates leaves out a route the rule
// refuses, and when no route is left Unroutable names the rule, with the code and message the
// API answers. Among several routes, the one that came closest to taking the payment names the
// reason (channel, then currency, then amount). An open breaker is no routing rule: Candidates
// skips the channel and Unroutable answers nil (the caller's no_channel_available).
func TestRouteRules(t *testing.T) {
	qr := paygw.PayMethodWalletQR
	cny := func(ch string, lo, hi int64) config.Route {
		return config.Route{Channel: ch, Weight: 1, MinAmount: lo, MaxAmount: hi, Currencies: []string{"CNY"}}
	}
	tests := []struct {
		name     string
		routes   []config.Route
		open     string // a channel whose breaker is open
		method   paygw.PayMethod
		amount   int64
		currency string
		only     string
		want     []string // Candidates, sorted
		code     paygw.Code
		msg      string
	}{
		{name: "takes", routes: []config.Route{cny("a", 0, 0)}, method: qr, amount: 100, currency: "CNY",
			want: []string{"a"}},
		{name: "no route for the method", routes: []config.Route{cny("a", 0, 0)}, method: paygw.PayMethodQuickPay,
			amount: 100, currency: "CNY",
			code: paygw.CodeUnsupportedPayMethod, msg: "pay_method: no channel is configured for quick_pay"},
		{name: "only: another channel", routes: []config.Route{cny("a", 0, 0)}, method: qr, amount: 100, currency: "CNY",
			only: "b", code: paygw.CodeUnsupportedPayMethod, msg: "pay_method: no channel is configured for wallet_qr"},
		{name: "only: its channel", routes: []config.Route{cny("a", 0, 0), cny("b", 0, 0)}, method: qr, amount: 100,
			currency: "CNY", only: "b", want: []string{"b"}},
		{name: "currency not listed", routes: []config.Route{cny("a", 0, 0)}, method: qr, amount: 100, currency: "USD",
			code: paygw.CodeInvalidRequest, msg: "currency: no channel takes wallet_qr payments in USD"},
		{name: "no currencies listed: any", routes: []config.Route{{Channel: "a", Weight: 1}}, method: qr, amount: 100,
			currency: "USD", want: []string{"a"}},
		{name: "no currency (an agreement): any", routes: []config.Route{cny("a", 0, 0)}, method: qr, amount: 1,
			want: []string{"a"}},
		{name: "below the minimum", routes: []config.Route{cny("a", 100, 0)}, method: qr, amount: 99, currency: "CNY",
			code: paygw.CodeInvalidAmount, msg: "amount: 99 is outside every wallet_qr channel's amount range for CNY"},
		{name: "at the minimum", routes: []config.Route{cny("a", 100, 0)}, method: qr, amount: 100, currency: "CNY",
			want: []string{"a"}},
		{name: "above the maximum", routes: []config.Route{cny("a", 0, 500)}, method: qr, amount: 501, currency: "CNY",
			code: paygw.CodeInvalidAmount, msg: "amount: 501 is outside every wallet_qr channel's amount range for CNY"},
		{name: "at the maximum", routes: []config.Route{cny("a", 0, 500)}, method: qr, amount: 500, currency: "CNY",
			want: []string{"a"}},
		{name: "maximum 0: none", routes: []config.Route{cny("a", 0, 0)}, method: qr, amount: 100_000_000_000,
			currency: "CNY", want: []string{"a"}},
		{name: "closest: amount over currency", routes: []config.Route{
			{Channel: "a", Weight: 1, Currencies: []string{"USD"}}, cny("b", 0, 500)},
			method: qr, amount: 501, currency: "CNY",
			code: paygw.CodeInvalidAmount, msg: "amount: 501 is outside every wallet_qr channel's amount range for CNY"},
		{name: "closest: currency over channel", routes: []config.Route{cny("a", 0, 0), cny("b", 0, 0)},
			method: qr, amount: 100, currency: "USD", only: "b",
			code: paygw.CodeInvalidRequest, msg: "currency: no channel takes wallet_qr payments in USD"},
		{name: "closest: the channel's own amount", routes: []config.Route{cny("a", 0, 0), cny("b", 0, 500)},
			method: qr, amount: 501, currency: "CNY", only: "b",
			code: paygw.CodeInvalidAmount, msg: "amount: 501 is outside every wallet_qr channel's amount range for CNY"},
		{name: "one route takes", routes: []config.Route{cny("a", 0, 500), cny("b", 0, 0)}, method: qr, amount: 501,
			currency: "CNY", want: []string{"b"}},
		{name: "breaker open", routes: []config.Route{cny("a", 0, 0)}, open: "a", method: qr, amount: 100, currency: "CNY"},
		{name: "breaker open, another takes", routes: []config.Route{cny("a", 0, 0), cny("b", 0, 0)}, open: "a",
			method: qr, amount: 100, currency: "CNY", want: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Router{routes: map[paygw.PayMethod][]config.Route{qr: tt.routes},
				breakers: map[string]*gobreaker.CircuitBreaker[struct{}]{}, rnd: rand.New(rand.NewPCG(1, 2))}
			if tt.open != "" {
				b := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
					ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 1 }})
				b.Execute(func() (struct{}, error) { return struct{}{}, errors.New("down") })
				if b.State() != gobreaker.StateOpen {
					t.Fatal("breaker did not open")
				}
				r.breakers[tt.open] = b
			}
			got := r.Candidates(tt.method, tt.amount, tt.currency, tt.only)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Candidates = %v, want %v", got, tt.want)
			}
			err := r.Unroutable(tt.method, tt.amount, tt.currency, tt.only)
			if tt.code == "" {
				if err != nil {
					t.Errorf("Unroutable = %v, want nil", err)
				}
				return
			}
			var pe *paygw.Error
			if !errors.As(err, &pe) || pe.Code != tt.code || pe.Message != tt.msg {
				t.Errorf("Unroutable = %v, want %s: %s", err, tt.code, tt.msg)
			}
		})
	}
}
