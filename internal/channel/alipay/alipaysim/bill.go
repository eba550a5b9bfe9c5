package alipaysim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/sandbox/billfault"
	"github.com/paygw/paygw/internal/statement"
)

// billURL answers alipay.data.dataservice.bill.downloadurl.query for a trade bill of a day that
// has begun (real Alipay: the next morning; the simulator lets a demo reconcile today).
func (c *call) billURL() (map[string]any, *apiError) {
	if t := c.str("bill_type"); t != "trade" {
		return nil, bizErr("isv.invalid-bill-type", "only the trade bill is simulated")
	}
	date := c.str("bill_date")
	day, err := time.ParseInLocation(time.DateOnly, date, alipay.Beijing)
	if err != nil {
		return nil, bizErr("isv.invalid-bill-date", "bill_date must be yyyy-MM-dd")
	}
	if day.After(c.s.now()) {
		return nil, bizErr(alipay.SubBillNotExist, "账单不存在")
	}
	return map[string]any{"bill_download_url": c.s.baseURL(c.r) + "/bills/trade_" + date + ".zip"}, nil
}

// Bill builds the trade bill zip of a Beijing date: payments paid and refunds made that day, with
// the statement faults and injections applied.
func (s *Server) Bill(date string) ([]byte, error) {
	day, err := time.ParseInLocation(time.DateOnly, date, alipay.Beijing)
	if err != nil {
		return nil, fmt.Errorf("alipay simulator: bill date %q is not YYYY-MM-DD", date)
	}
	end := day.AddDate(0, 0, 1)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(day) && t.Before(end) }
	var rows []statement.Row
	s.mu.Lock()
	for _, t := range s.trades {
		if in(t.PaidAt) {
			rows = append(rows, statement.Row{Kind: statement.KindPayment, TradeTime: t.PaidAt.UTC(), ChannelTradeNo: t.TradeNo,
				OutTradeNo: t.OutTradeNo, Amount: t.Amount, Fee: t.Fee, Currency: "CNY", Status: statement.StatusSucceeded})
		}
	}
	for _, rf := range s.refunds {
		if in(rf.At) {
			rows = append(rows, statement.Row{Kind: statement.KindRefund, TradeTime: rf.At.UTC(), ChannelTradeNo: rf.TradeNo,
				OutTradeNo: rf.OutTradeNo, OutRefundNo: rf.OutRequestNo, Amount: rf.Amount, Fee: rf.Fee, Currency: "CNY",
				Status: statement.StatusSucceeded})
		}
	}
	injections := append([]billfault.Injection(nil), s.injections...)
	s.mu.Unlock()
	extras, err := billfault.Extras(injections, day, "", s.opts.FeeRateBps)
	if err != nil {
		return nil, err
	}
	for _, x := range extras {
		rows = append(rows, statement.Row{Kind: statement.KindPayment, TradeTime: x.At.UTC(), ChannelTradeNo: x.TradeNo,
			OutTradeNo: x.OutTradeNo, Amount: x.Amount, Fee: x.Fee, Currency: "CNY", Status: statement.StatusSucceeded})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if !a.TradeTime.Equal(b.TradeTime) {
			return a.TradeTime.Before(b.TradeTime)
		}
		if a.Kind != b.Kind {
			return a.Kind == statement.KindPayment
		}
		if ka, kb := a.OutTradeNo+a.OutRefundNo, b.OutTradeNo+b.OutRefundNo; ka != kb {
			return ka < kb
		}
		// Two injected extras of one day share their default out_trade_no and time; their trade
		// numbers differ, so the bill's order is the same on every download.
		return a.ChannelTradeNo < b.ChannelTradeNo
	})
	out := billfault.Apply(billfault.Faults{Injections: injections, DropRate: s.opts.StatementDropRate,
		AmountSkewRate: s.opts.StatementAmountSkewRate, Chance: s.chance}, rows,
		func(r *statement.Row) billfault.Target {
			return billfault.Target{Refund: r.Kind == statement.KindRefund, OutTradeNo: r.OutTradeNo,
				OutRefundNo: r.OutRefundNo, Amount: &r.Amount, Fee: &r.Fee}
		})
	var buf bytes.Buffer
	if err := statement.WriteAlipayZip(&buf, out, day, s.opts.PID); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Server) handleBill(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	date, ok := strings.CutPrefix(strings.TrimSuffix(file, ".zip"), "trade_")
	if !ok || !strings.HasSuffix(file, ".zip") {
		http.NotFound(w, r)
		return
	}
	b, err := s.Bill(date)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+s.opts.PID+"_"+strings.ReplaceAll(date, "-", "")+`.csv.zip"`)
	w.Write(b)
}

// handleInject adds a bill discrepancy (tests and demos; the body is a billfault.Injection).
func (s *Server) handleInject(w http.ResponseWriter, r *http.Request) {
	var in billfault.Injection
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil {
		http.Error(w, "injection: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch in.Kind {
	case billfault.Drop, billfault.Amount, billfault.Fee, billfault.Duplicate, billfault.Extra:
	default:
		http.Error(w, fmt.Sprintf("injection: kind %q is not drop, amount, fee, duplicate or extra", in.Kind), http.StatusBadRequest)
		return
	}
	if in.Kind != billfault.Extra && in.OutTradeNo == "" && in.OutRefundNo == "" {
		http.Error(w, "injection: out_trade_no or out_refund_no is required", http.StatusBadRequest)
		return
	}
	if in.Delta == 0 {
		in.Delta = 1
	}
	if in.Kind == billfault.Extra {
		if in.Date == "" {
			in.Date = s.now().In(alipay.Beijing).Format(time.DateOnly)
		}
		if in.Amount == 0 {
			in.Amount = 100
		}
		if in.OutTradeNo == "" {
			in.OutTradeNo = "phantom_" + in.Date
		}
	}
	s.mu.Lock()
	s.injections = append(s.injections, in)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(in)
}
