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
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/sandbox"
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
	injections := append([]sandbox.Injection(nil), s.injections...)
	s.mu.Unlock()
	for i, inj := range injections {
		if inj.Kind != sandbox.InjectExtra || inj.Date != date {
			continue
		}
		fee, err := money.Bps(inj.Amount, s.opts.FeeRateBps)
		if err != nil {
			return nil, err
		}
		rows = append(rows, statement.Row{Kind: statement.KindPayment, TradeTime: day.Add(12 * time.Hour).UTC(),
			ChannelTradeNo: fmt.Sprintf("%sX%04d", day.Format("20060102"), i+1), OutTradeNo: inj.OutTradeNo,
			Amount: inj.Amount, Fee: fee, Currency: "CNY", Status: statement.StatusSucceeded})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if !a.TradeTime.Equal(b.TradeTime) {
			return a.TradeTime.Before(b.TradeTime)
		}
		if a.Kind != b.Kind {
			return a.Kind == statement.KindPayment
		}
		return a.OutTradeNo+a.OutRefundNo < b.OutTradeNo+b.OutRefundNo
	})
	var out []statement.Row
	for _, r := range rows {
		key := r.OutTradeNo
		if r.Kind == statement.KindRefund {
			key = r.OutRefundNo
		}
		if s.chance(s.opts.StatementDropRate, "stmt-drop", key) {
			continue
		}
		if s.chance(s.opts.StatementAmountSkewRate, "stmt-amount", key) {
			r.Amount++
		}
		copies := 1
		for _, inj := range injections {
			if inj.Kind == sandbox.InjectExtra {
				continue
			}
			if inj.OutRefundNo != "" && (r.Kind != statement.KindRefund || r.OutRefundNo != inj.OutRefundNo) {
				continue
			}
			if inj.OutRefundNo == "" && (r.Kind != statement.KindPayment || r.OutTradeNo != inj.OutTradeNo) {
				continue
			}
			switch inj.Kind {
			case sandbox.InjectDrop:
				copies = 0
			case sandbox.InjectAmount:
				r.Amount += inj.Delta
			case sandbox.InjectFee:
				r.Fee += inj.Delta
			case sandbox.InjectDuplicate:
				copies++
			}
		}
		for range copies {
			out = append(out, r)
		}
	}
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

// handleInject adds a bill discrepancy (tests and demos; the body is a sandbox.Injection).
func (s *Server) handleInject(w http.ResponseWriter, r *http.Request) {
	var in sandbox.Injection
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil {
		http.Error(w, "injection: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch in.Kind {
	case sandbox.InjectDrop, sandbox.InjectAmount, sandbox.InjectFee, sandbox.InjectDuplicate, sandbox.InjectExtra:
	default:
		http.Error(w, fmt.Sprintf("injection: kind %q is not drop, amount, fee, duplicate or extra", in.Kind), http.StatusBadRequest)
		return
	}
	if in.Kind != sandbox.InjectExtra && in.OutTradeNo == "" && in.OutRefundNo == "" {
		http.Error(w, "injection: out_trade_no or out_refund_no is required", http.StatusBadRequest)
		return
	}
	if in.Delta == 0 {
		in.Delta = 1
	}
	if in.Kind == sandbox.InjectExtra {
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
