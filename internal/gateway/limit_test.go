package gateway_test

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/cli"
	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/ledger"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/report"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestDefaultRiskAndRoutes: with no risk or routing config, the documented defaults hold: a
// payment over 50,000.00 CNY is refused by max_amount, and a currency no route takes is
// refused as invalid_request naming the currency (not accepted, not a transient 503).
func TestDefaultRiskAndRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{})
		if _, st, err := e.Client.CreatePayment(ctx, qr("D1", 5_000_000)); err != nil || st != 201 {
			t.Fatalf("50,000.00 CNY: %d %v", st, err)
		}
		_, _, err := e.Client.CreatePayment(ctx, qr("D2", 5_000_001))
		if apiCode(err) != "403 risk_rejected" || !strings.Contains(err.Error(), "max_amount") {
			t.Fatalf("50,000.01 CNY: %v, want 403 risk_rejected by max_amount", err)
		}
		usd := qr("D3", 100)
		usd["currency"] = "USD"
		_, _, err = e.Client.CreatePayment(ctx, usd)
		if apiCode(err) != "400 invalid_request" || !strings.Contains(err.Error(), "currency") || !strings.Contains(err.Error(), "USD") {
			t.Fatalf("USD with CNY-only routes: %v, want 400 invalid_request naming the currency", err)
		}
	})
}

// TestMaxAmountEndToEnd: money.MaxAmount is accepted end to end — payment, capture journal,
// full refund, verify and the daily report — and MaxAmount+1 is refused at every entry.
func TestMaxAmountEndToEnd(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			s := storetest.OpenDSN(t, dsn)
			e := gwtest.Start(t, s, gwtest.Options{ExtraYAML: "risk:\n  max_amount: 100000000000\n"})
			agr := sign(t, e.Client, "AG-MAX", "6222021234560123")
			var ps []string
			for _, no := range []string{"MAX1", "MAX2", "MAX3"} {
				p, st, err := e.Client.CreatePayment(ctx, withholdReq(no, money.MaxAmount, agr))
				if err != nil || st != 201 || p.Status != "succeeded" || p.Amount != money.MaxAmount {
					t.Fatalf("payment of MaxAmount: %d %v %+v", st, err, p)
				}
				ps = append(ps, p.ID)
			}
			for _, raw := range []string{`100000000001`, `9223372036854775807`, `9223372036854775808`} {
				body := `{"out_trade_no":"OVER","amount":` + raw + `,"currency":"CNY","pay_method":"withhold","agreement_id":"` + agr + `"}`
				st, out, err := e.Client.Raw(ctx, http.MethodPost, "/v1/payments", []byte(body))
				if err != nil || st != 400 || !bytes.Contains(out, []byte(`"invalid_amount"`)) {
					t.Fatalf("payment of %s: %d %s %v", raw, st, out, err)
				}
				body = `{"out_refund_no":"ROVER","amount":` + raw + `}`
				st, out, err = e.Client.Raw(ctx, http.MethodPost, "/v1/payments/"+ps[0]+"/refunds", []byte(body))
				if err != nil || st != 400 || !bytes.Contains(out, []byte(`"invalid_amount"`)) {
					t.Fatalf("refund of %s: %d %s %v", raw, st, out, err)
				}
			}
			if r, st, err := e.Client.Refund(ctx, ps[0], "RMAX", money.MaxAmount); err != nil || st != 201 || r.Amount != money.MaxAmount {
				t.Fatalf("refund of MaxAmount: %d %v", st, err)
			}
			gwtest.Eventually(t, 10*time.Second, "the refund", func() bool {
				p, _ := e.Client.GetPayment(ctx, ps[0])
				return p.Status == "refunded" && p.RefundedAmount == money.MaxAmount
			})
			for _, id := range ps {
				if n, err := s.JournalCount(ctx, ledger.KindCapture, id); err != nil || n != 1 {
					t.Fatalf("capture journals of %s: %d %v", id, n, err)
				}
			}
			// The batch side over the same database: verify and the daily report.
			var out, errOut bytes.Buffer
			getenv := func(string) string { return "" }
			if code := cli.Main(ctx, []string{"--db", dsn, "verify"}, nil, &out, &errOut, getenv); code != 0 {
				t.Fatalf("verify: exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			dir := t.TempDir()
			date := paygw.BusinessDate(time.Now(), e.Config.Location())
			out.Reset()
			errOut.Reset()
			if code := cli.Main(ctx, []string{"--db", dsn, "report", "daily", "--date", date, "--out", dir}, nil, &out, &errOut, getenv); code != 0 {
				t.Fatalf("report daily: exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			dump, err := report.Dump(filepath.Join(dir, "daily_"+date+".xlsx"))
			if err != nil {
				t.Fatal(err)
			}
			// Three payments of 1,000,000,000.00 and one refund of it, in major units.
			for _, want := range []string{"3000000000", "1000000000"} {
				if !strings.Contains(dump, want) {
					t.Errorf("daily report lacks %s:\n%s", want, dump)
				}
			}
		})
	}
}
