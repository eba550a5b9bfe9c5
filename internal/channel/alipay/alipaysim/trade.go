package alipaysim

import (
	"fmt"
	"net/url"
	"time"

	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/money"
)

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(alipay.Beijing).Format(alipay.TimeLayout)
}

// newTrade validates the common trade fields of biz and returns an unsaved trade.
func (s *Server) newTrade(biz func(string) string, product, notifyURL, returnURL string) (*trade, *apiError) {
	out := biz("out_trade_no")
	if out == "" || len(out) > 64 {
		return nil, &apiError{alipay.CodeMissingParam, "Missing Required Arguments", "isv.missing-out-trade-no", "out_trade_no 1..64"}
	}
	amt, err := money.Parse(biz("total_amount"), "CNY")
	if err != nil || amt < 1 || amt > 10_000_000_000 {
		return nil, bizErr("ACQ.INVALID_PARAMETER", "total_amount 无效")
	}
	if biz("subject") == "" {
		return nil, &apiError{alipay.CodeMissingParam, "Missing Required Arguments", "isv.missing-subject", "subject is required"}
	}
	t := &trade{OutTradeNo: out, Subject: biz("subject"), Product: product, NotifyURL: notifyURL,
		ReturnURL: returnURL, Amount: amt, CreatedAt: s.now()}
	if te := biz("time_expire"); te != "" {
		e, err := time.ParseInLocation(alipay.TimeLayout, te, alipay.Beijing)
		if err != nil {
			return nil, bizErr("ACQ.INVALID_PARAMETER", "time_expire 格式错误")
		}
		t.Expire = e
	}
	fee, err := money.Bps(amt, s.opts.FeeRateBps)
	if err != nil {
		return nil, bizErr("ACQ.INVALID_PARAMETER", "total_amount 过大")
	}
	t.Fee = fee
	return t, nil
}

// existingLocked applies expiry to a trade and reports whether a repeated create matches it.
func (s *Server) existingLocked(t *trade, n *trade) *apiError {
	s.expireLocked(t)
	if t.Amount != n.Amount || t.Product != n.Product {
		return bizErr("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
	}
	switch t.Status {
	case statusSuccess:
		return bizErr(alipay.SubTradeHasSuccess, "交易已被支付")
	case statusClosed:
		return bizErr(alipay.SubTradeHasClose, "交易已经关闭")
	}
	return nil
}

func (s *Server) expireLocked(t *trade) {
	if (t.Status == statusNone || t.Status == statusWait) && !t.Expire.IsZero() && !s.now().Before(t.Expire) {
		t.Status = statusClosed
	}
}

func (s *Server) insertLocked(t *trade) {
	t.TradeNo = s.nextNo("")
	s.trades[t.OutTradeNo] = t
	s.byNo[t.TradeNo] = t
}

func (c *call) precreate() (map[string]any, *apiError) {
	s := c.s
	n, aerr := s.newTrade(c.str, "FACE_TO_FACE_PAYMENT", c.form.Get("notify_url"), "")
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	t := s.trades[n.OutTradeNo]
	if t != nil {
		aerr = s.existingLocked(t, n)
	} else {
		s.insertLocked(n)
		t = n
	}
	tradeNo := t.TradeNo
	s.mu.Unlock()
	if aerr != nil {
		return nil, aerr
	}
	c.hang = s.chance(s.fault().TimeoutRate, "timeout", n.OutTradeNo)
	s.autoPay(tradeNo)
	if s.chance(s.fault().ErrorRate, "error", n.OutTradeNo) {
		return nil, bizErr(alipay.SubSystemError, "系统错误") // recorded all the same
	}
	return map[string]any{"out_trade_no": n.OutTradeNo, "qr_code": s.baseURL(c.r) + "/qr/" + tradeNo}, nil
}

func (c *call) pay() (map[string]any, *apiError) {
	s := c.s
	n, aerr := s.newTrade(c.str, alipay.ProductWithhold, c.form.Get("notify_url"), "")
	if aerr != nil {
		return nil, aerr
	}
	ap, _ := c.biz["agreement_params"].(map[string]any)
	agrNo, _ := ap["agreement_no"].(string)
	if c.str("product_code") != alipay.ProductWithhold || agrNo == "" {
		return nil, bizErr("ACQ.INVALID_PARAMETER", "only agreement pay (GENERAL_WITHHOLDING with agreement_params) is simulated")
	}
	n.AgreementNo = agrNo
	s.mu.Lock()
	if t := s.trades[n.OutTradeNo]; t != nil {
		aerr = s.existingLocked(t, n)
		if aerr == nil && t.Status == statusNone {
			aerr = bizErr("ACQ.PAYMENT_FAIL", "支付失败") // a declined earlier attempt
		}
		s.mu.Unlock()
		return nil, aerr
	}
	a := s.agrByNo[agrNo]
	switch {
	case a == nil:
		aerr = bizErr(alipay.SubAgreementNotExist, "协议不存在")
	case a.Status != alipay.AgreementNormal:
		aerr = bizErr(alipay.SubAgreementInvalid, "协议状态非正常")
	case s.chance(s.fault().FailureRate, "fail", n.OutTradeNo):
		aerr = bizErr(alipay.SubBuyerBalance, "买家余额不足")
	}
	s.insertLocked(n)
	if aerr != nil {
		s.mu.Unlock()
		return nil, aerr
	}
	s.succeedLocked(n)
	out := map[string]any{"out_trade_no": n.OutTradeNo, "trade_no": n.TradeNo, "total_amount": money.Format(n.Amount, "CNY"),
		"gmt_payment": fmtTime(n.PaidAt), "buyer_logon_id": "158****1562"}
	note := s.tradeNoteLocked(n)
	s.mu.Unlock()
	s.notify(note)
	c.hang = s.chance(s.fault().TimeoutRate, "timeout", n.OutTradeNo)
	if s.chance(s.fault().ErrorRate, "error", n.OutTradeNo) {
		return nil, bizErr(alipay.SubSystemError, "系统错误") // executed all the same
	}
	return out, nil
}

func (s *Server) succeedLocked(t *trade) {
	t.Status = statusSuccess
	t.PaidAt = s.now()
}

func (c *call) lookup() (*trade, *apiError) {
	s := c.s
	var t *trade
	if no := c.str("trade_no"); no != "" {
		t = s.byNo[no]
	} else {
		t = s.trades[c.str("out_trade_no")]
	}
	if t != nil {
		s.expireLocked(t)
	}
	if t == nil || t.Status == statusNone {
		return t, bizErr(alipay.SubTradeNotExist, "交易不存在")
	}
	return t, nil
}

func (c *call) query() (map[string]any, *apiError) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t, aerr := c.lookup()
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "trade_status": t.Status,
		"total_amount": money.Format(t.Amount, "CNY"), "buyer_logon_id": "158****1562"}
	if !t.PaidAt.IsZero() {
		out["send_pay_date"] = fmtTime(t.PaidAt)
		out["receipt_amount"] = money.Format(t.Amount, "CNY")
	}
	return out, nil
}

func (c *call) close() (map[string]any, *apiError) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t, aerr := c.lookup()
	if aerr != nil {
		if t != nil {
			t.Status = statusClosed // never scanned: it can no longer be
		}
		return nil, aerr
	}
	switch t.Status {
	case statusWait:
		t.Status = statusClosed
		return map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo}, nil
	case statusClosed:
		return map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo}, nil
	}
	return nil, bizErr(alipay.SubTradeStatusError, "交易状态不合法")
}

func refundKey(outTradeNo, req string) string { return outTradeNo + "\x00" + req }

func (c *call) refund() (map[string]any, *apiError) {
	s := c.s
	amt, err := money.Parse(c.str("refund_amount"), "CNY")
	if err != nil || amt < 1 {
		return nil, bizErr("ACQ.INVALID_PARAMETER", "refund_amount 无效")
	}
	s.mu.Lock()
	t, aerr := c.lookup()
	if aerr != nil {
		s.mu.Unlock()
		return nil, aerr
	}
	req := c.str("out_request_no")
	if req == "" {
		req = t.OutTradeNo
	}
	base := map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "buyer_logon_id": "158****1562"}
	if rf := s.refunds[refundKey(t.OutTradeNo, req)]; rf != nil {
		defer s.mu.Unlock()
		if rf.Amount != amt {
			return nil, bizErr("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与原请求不一致")
		}
		base["fund_change"], base["refund_fee"] = "N", money.Format(t.Refunded, "CNY")
		return base, nil
	}
	if t.PaidAt.IsZero() {
		s.mu.Unlock()
		return nil, bizErr(alipay.SubTradeStatusError, "交易状态不合法")
	}
	if t.Refunded+amt > t.Amount {
		s.mu.Unlock()
		return nil, bizErr("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
	}
	var feeBack int64
	if t.Refunded+amt == t.Amount {
		feeBack = t.Fee - s.feeReturnedLocked(t.OutTradeNo)
	} else {
		feeBack, _ = money.MulDivHalfUp(t.Fee, amt, t.Amount)
	}
	rf := &refund{OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo, OutRequestNo: req, Amount: amt, Fee: feeBack, At: s.now()}
	s.refunds[refundKey(t.OutTradeNo, req)] = rf
	t.Refunded += amt
	if t.Refunded == t.Amount {
		t.Status = statusClosed
	}
	base["fund_change"], base["refund_fee"], base["gmt_refund_pay"] = "Y", money.Format(t.Refunded, "CNY"), fmtTime(rf.At)
	note := s.refundNoteLocked(t, rf)
	s.mu.Unlock()
	s.notify(note)
	return base, nil
}

func (s *Server) feeReturnedLocked(outTradeNo string) int64 {
	var n int64
	for _, rf := range s.refunds {
		if rf.OutTradeNo == outTradeNo {
			n += rf.Fee
		}
	}
	return n
}

func (c *call) refundQuery() (map[string]any, *apiError) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t, aerr := c.lookup()
	if aerr != nil {
		return nil, aerr
	}
	req := c.str("out_request_no")
	out := map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "out_request_no": req,
		"total_amount": money.Format(t.Amount, "CNY")}
	if rf := s.refunds[refundKey(t.OutTradeNo, req)]; rf != nil {
		out["refund_status"] = "REFUND_SUCCESS"
		out["refund_amount"] = money.Format(rf.Amount, "CNY")
		out["gmt_refund_pay"] = fmtTime(rf.At)
	}
	return out, nil
}

// tradeNoteLocked builds the trade_status_sync of a paid trade (nil without notify_url).
func (s *Server) tradeNoteLocked(t *trade) *note {
	if t.NotifyURL == "" {
		return nil
	}
	f := s.noteForm(alipay.NotifyTrade)
	f.Set("trade_no", t.TradeNo)
	f.Set("out_trade_no", t.OutTradeNo)
	f.Set("trade_status", t.Status)
	f.Set("total_amount", money.Format(t.Amount, "CNY"))
	f.Set("receipt_amount", money.Format(t.Amount, "CNY"))
	f.Set("buyer_pay_amount", money.Format(t.Amount, "CNY"))
	f.Set("subject", t.Subject)
	f.Set("gmt_create", fmtTime(t.CreatedAt))
	f.Set("gmt_payment", fmtTime(t.PaidAt))
	f.Set("buyer_id", "2088102116773037")
	f.Set("seller_id", s.opts.PID)
	f.Set("fund_bill_list", `[{"amount":"`+money.Format(t.Amount, "CNY")+`","fundChannel":"ALIPAYACCOUNT"}]`)
	if t.AgreementNo != "" {
		f.Set("agreement_no", t.AgreementNo)
	}
	return &note{id: f.Get("notify_id"), url: t.NotifyURL, form: f}
}

// refundNoteLocked builds the trade_status_sync Alipay sends after a refund.
func (s *Server) refundNoteLocked(t *trade, rf *refund) *note {
	if t.NotifyURL == "" {
		return nil
	}
	f := s.noteForm(alipay.NotifyTrade)
	f.Set("trade_no", t.TradeNo)
	f.Set("out_trade_no", t.OutTradeNo)
	f.Set("out_biz_no", rf.OutRequestNo)
	f.Set("trade_status", t.Status)
	f.Set("total_amount", money.Format(t.Amount, "CNY"))
	f.Set("refund_fee", money.Format(t.Refunded, "CNY"))
	f.Set("gmt_create", fmtTime(t.CreatedAt))
	f.Set("gmt_payment", fmtTime(t.PaidAt))
	f.Set("gmt_refund", fmtTime(rf.At))
	f.Set("seller_id", s.opts.PID)
	return &note{id: f.Get("notify_id"), url: t.NotifyURL, form: f}
}

func (s *Server) noteForm(typ string) url.Values {
	f := url.Values{}
	s.seq++
	now := s.now()
	f.Set("notify_id", fmt.Sprintf("%s%010d", now.In(alipay.Beijing).Format("20060102150405"), s.seq))
	f.Set("notify_type", typ)
	f.Set("notify_time", fmtTime(now))
	f.Set("app_id", s.opts.AppID)
	f.Set("auth_app_id", s.opts.AppID)
	f.Set("charset", "utf-8")
	f.Set("version", "1.0")
	return f
}
