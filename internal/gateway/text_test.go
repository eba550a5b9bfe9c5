package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestBadTextRefused: a NUL or invalid UTF-8 (raw bytes, or a lone surrogate escape) in
// subject, reason, payer name or metadata answers 400 invalid_request naming the field, on
// every database, and stores nothing (before: 500 on PostgreSQL, stored and echoed raw on
// SQLite).
func TestBadTextRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		e := gwtest.Start(t, s, gwtest.Options{})
		agr := sign(t, e.Client, "AG-T", "6222021234560123")
		p, _, err := e.Client.CreatePayment(ctx, withholdReq("PT", 1000, agr))
		if err != nil {
			t.Fatal(err)
		}
		pay := func(extra string) string {
			return `{"out_trade_no":"BAD","amount":100,"currency":"CNY","pay_method":"wallet_qr",` + extra + `}`
		}
		tests := []struct {
			name, path, body, field string
		}{
			{"subject NUL", "/v1/payments", pay(`"subject":"a\u0000b"`), "subject"},
			{"subject invalid UTF-8", "/v1/payments", pay("\"subject\":\"a\xff\xfeb\""), "subject"},
			{"subject lone surrogate", "/v1/payments", pay(`"subject":"a\ud800b"`), "subject"},
			{"metadata NUL value", "/v1/payments", pay(`"metadata":{"k":"\u0000"}`), "metadata"},
			{"metadata NUL key", "/v1/payments", pay(`"metadata":{"k\u0000":"v"}`), "metadata"},
			{"metadata invalid UTF-8", "/v1/payments", pay("\"metadata\":{\"k\":\"\xc3\"}"), "metadata"},
			{"metadata nested surrogate", "/v1/payments", pay(`"metadata":{"a":{"b":["\udc00"]}}`), "metadata"},
			{"reason NUL", "/v1/payments/" + p.ID + "/refunds", `{"out_refund_no":"RB","amount":1,"reason":"x\u0000"}`, "reason"},
			{"reason invalid UTF-8", "/v1/payments/" + p.ID + "/refunds", "{\"out_refund_no\":\"RB\",\"amount\":1,\"reason\":\"\xe2\x82\"}", "reason"},
			{"payer name NUL", "/v1/agreements", `{"out_agreement_no":"AB","pay_method":"withhold","payer":{"name":"Zh\u0000ang","account_no":"6222021234560999"}}`, "payer.name"},
			{"payer name invalid UTF-8", "/v1/agreements", "{\"out_agreement_no\":\"AB\",\"pay_method\":\"withhold\",\"payer\":{\"name\":\"\xff\",\"account_no\":\"6222021234560999\"}}", "payer.name"},
		}
		for _, tt := range tests {
			st, out, err := e.Client.Raw(ctx, http.MethodPost, tt.path, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var eb struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(out, &eb)
			if st != 400 || eb.Error.Code != "invalid_request" || !bytes.HasPrefix([]byte(eb.Error.Message), []byte(tt.field+":")) {
				t.Errorf("%s: %d %s; want 400 invalid_request naming %s", tt.name, st, out, tt.field)
			}
		}
		for table, col := range map[string]string{"payments": "out_trade_no", "refunds": "out_refund_no", "agreements": "out_agreement_no"} {
			var n int
			if err := s.DB().GetContext(ctx, &n, s.Rebind("SELECT COUNT(*) FROM "+table+" WHERE "+col+" IN ('BAD', 'RB', 'AB')")); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d refused %s stored", n, table)
			}
		}
		// Ordinary non-ASCII text and escapes are fine.
		ok := pay(`"subject":"订单 \u00e9 \ud83d\ude00 tab\tend","metadata":{"名":"值\n","e":"\u00e9"}`)
		if st, out, err := e.Client.Raw(ctx, http.MethodPost, "/v1/payments", []byte(ok)); err != nil || st != 201 {
			t.Fatalf("valid text refused: %d %s %v", st, out, err)
		}
	})
}
