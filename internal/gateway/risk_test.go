package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/client"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var ctx = context.Background()

// apiCode renders a client error as "STATUS code" ("ok" for none).
func apiCode(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("%d %s", ae.Status, ae.Body.Code)
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func qr(outNo string, amount int64) map[string]any {
	return map[string]any{"out_trade_no": outNo, "amount": amount, "currency": "CNY", "pay_method": "wallet_qr"}
}

func sign(t *testing.T, c *client.Client, outNo, account string) string {
	t.Helper()
	a, err := c.SignAgreement(ctx, outNo, "withhold", "Zhang San", account, "13800000000")
	if err != nil || a.Status != "active" {
		t.Fatalf("sign agreement %s: %+v %v", outNo, a, err)
	}
	return a.ID
}

func withholdReq(outNo string, amount int64, agr string) map[string]any {
	return map[string]any{"out_trade_no": outNo, "amount": amount, "currency": "CNY", "pay_method": "withhold", "agreement_id": agr}
}

// TestRiskRules checks every risk rule over HTTP on every database: each row configures one
// rule, makes the requests that pass, then the one the rule refuses.
func TestRiskRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// run makes the passing requests and returns the error of the refused one.
		run  func(t *testing.T, c *client.Client) error
		rule string // the rule named in the refusal; "" = no refusal
	}{
		{"max_amount at the limit passes", "risk:\n  max_amount: 5000\n", func(t *testing.T, c *client.Client) error {
			_, _, err := c.CreatePayment(ctx, qr("M1", 5000))
			return err
		}, ""},
		{"max_amount plus one", "risk:\n  max_amount: 5000\n", func(t *testing.T, c *client.Client) error {
			_, _, err := c.CreatePayment(ctx, qr("M1", 5001))
			return err
		}, "max_amount"},
		{"daily cap filled exactly", "risk:\n  merchant_daily_cap: 1000\n", func(t *testing.T, c *client.Client) error {
			if _, _, err := c.CreatePayment(ctx, qr("C1", 600)); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.CreatePayment(ctx, qr("C2", 400))
			return err
		}, ""},
		{"daily cap passed by one", "risk:\n  merchant_daily_cap: 1000\n", func(t *testing.T, c *client.Client) error {
			if _, _, err := c.CreatePayment(ctx, qr("C1", 600)); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.CreatePayment(ctx, qr("C2", 401))
			return err
		}, "merchant_daily_cap"},
		{"daily cap per currency", "risk:\n  merchant_daily_cap: 1000\nrouting:\n  wallet_qr:\n    - {channel: sandbox, currencies: [CNY, USD]}\n", func(t *testing.T, c *client.Client) error {
			if _, _, err := c.CreatePayment(ctx, qr("C1", 1000)); err != nil {
				t.Fatal(err)
			}
			req := qr("C2", 1000)
			req["currency"] = "USD"
			_, _, err := c.CreatePayment(ctx, req)
			return err
		}, ""},
		{"single payment over the daily cap", "risk:\n  merchant_daily_cap: 1000\n", func(t *testing.T, c *client.Client) error {
			_, _, err := c.CreatePayment(ctx, qr("C1", 1001))
			return err
		}, "merchant_daily_cap"},
		{"blocked client ip (CIDR)", "risk:\n  blocked_client_ips: [127.0.0.0/8]\n", func(t *testing.T, c *client.Client) error {
			_, _, err := c.CreatePayment(ctx, qr("B1", 100))
			return err
		}, "blocked_client_ip"},
		{"blocked client ip (address)", "risk:\n  blocked_client_ips: [127.0.0.1]\n", func(t *testing.T, c *client.Client) error {
			_, _, err := c.CreatePayment(ctx, qr("B1", 100))
			return err
		}, "blocked_client_ip"},
		{"other client ip blocked only", "risk:\n  blocked_client_ips: [10.0.0.0/8, \"::2\"]\n", func(t *testing.T, c *client.Client) error {
			_, _, err := c.CreatePayment(ctx, qr("B1", 100))
			return err
		}, ""},
		{"blocked payer account", "risk:\n  blocked_payer_accounts: [\"6222021234569999\"]\n", func(t *testing.T, c *client.Client) error {
			ok := sign(t, c, "AG-OK", "6222021234560123")
			if _, _, err := c.CreatePayment(ctx, withholdReq("W1", 100, ok)); err != nil {
				t.Fatalf("unblocked payer refused: %v", err)
			}
			bad := sign(t, c, "AG-BAD", "6222021234569999")
			_, _, err := c.CreatePayment(ctx, withholdReq("W2", 100, bad))
			return err
		}, "blocked_payer_account"},
		{"payer velocity within the limit", "risk:\n  payer_velocity: 2\n", func(t *testing.T, c *client.Client) error {
			agr := sign(t, c, "AG-V", "6222021234560123")
			other := sign(t, c, "AG-V2", "6222021234560456")
			if _, _, err := c.CreatePayment(ctx, withholdReq("V1", 100, agr)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.CreatePayment(ctx, withholdReq("V2", 100, other)); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.CreatePayment(ctx, withholdReq("V3", 100, agr))
			return err
		}, ""},
		{"payer velocity passed", "risk:\n  payer_velocity: 2\n  payer_velocity_window: 1h\n", func(t *testing.T, c *client.Client) error {
			agr := sign(t, c, "AG-V", "6222021234560123")
			for i := 0; i < 2; i++ {
				if _, _, err := c.CreatePayment(ctx, withholdReq(fmt.Sprintf("V%d", i), 100, agr)); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := c.CreatePayment(ctx, withholdReq("V9", 100, agr))
			return err
		}, "payer_velocity"},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := gwtest.Start(t, s, gwtest.Options{ExtraYAML: tt.yaml})
				err := tt.run(t, e.Client)
				if tt.rule == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				var ae *client.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Body.Code != "risk_rejected" {
					t.Fatalf("got %v, want 403 risk_rejected", err)
				}
				if want := "rule " + tt.rule + ":"; len(ae.Body.Message) < len(want) || ae.Body.Message[:len(want)] != want {
					t.Fatalf("message %q does not name rule %s", ae.Body.Message, tt.rule)
				}
			})
		}
	})
}

// TestDailyCapExactUnderConcurrency: N concurrent creates against a cap that fits exactly K of
// them: exactly K pass, the rest are refused, and the counter holds exactly the cap. A payment
// that fails or closes gives its amount back.
func TestDailyCapExactUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const n, k, amount = 40, 10, 100
		e := gwtest.Start(t, s, gwtest.Options{ExtraYAML: fmt.Sprintf("risk:\n  merchant_daily_cap: %d\n", k*amount)})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var passed []string
		refused := 0
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, _, err := e.Client.CreatePayment(ctx, qr(fmt.Sprintf("CC%02d", i), amount))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					passed = append(passed, p.ID)
				case apiCode(err) == "403 risk_rejected":
					refused++
				default:
					t.Errorf("create %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if len(passed) != k || refused != n-k {
			t.Fatalf("%d passed, %d refused; want exactly %d and %d", len(passed), refused, k, n-k)
		}
		date := paygw.BusinessDate(time.Now(), e.Config.Location())
		if used, err := s.DailyCapUsed(ctx, e.Merchant.ID, date, "CNY"); err != nil || used != k*amount {
			t.Fatalf("counter %d (%v), want %d", used, err, k*amount)
		}
		// A closed payment releases its amount: one more fits, and only one.
		var closed map[string]any
		if st, err := e.Client.Do(ctx, http.MethodPost, "/v1/payments/"+passed[0]+"/close", nil, &closed); err != nil || st != 200 {
			t.Fatalf("close: %d %v", st, err)
		}
		if used, _ := s.DailyCapUsed(ctx, e.Merchant.ID, date, "CNY"); used != (k-1)*amount {
			t.Fatalf("counter after close %d, want %d", used, (k-1)*amount)
		}
		if _, _, err := e.Client.CreatePayment(ctx, qr("AFTER1", amount)); err != nil {
			t.Fatalf("create after a release: %v", err)
		}
		if _, _, err := e.Client.CreatePayment(ctx, qr("AFTER2", amount)); apiCode(err) != "403 risk_rejected" {
			t.Fatalf("create past the cap after a release: %v", apiCode(err))
		}
		// A repeated request answers idempotently without counting twice.
		if _, st, err := e.Client.CreatePayment(ctx, qr("AFTER1", amount)); err != nil || st != 200 {
			t.Fatalf("repeat: %d %v", st, err)
		}
		if used, _ := s.DailyCapUsed(ctx, e.Merchant.ID, date, "CNY"); used != k*amount {
			t.Fatalf("counter at the end %d, want %d", used, k*amount)
		}
	})
}
