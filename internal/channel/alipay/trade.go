package alipay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/paygw"
)

// Pay methods this kind offers (API.md names).
const (
	PayWalletQR = "wallet_qr"
	PayWalletH5 = "wallet_h5"
	PayWebPage  = "web_page"
	PayWithhold = "withhold"
)

// PayMethods lists the pay methods the alipay kind supports.
var PayMethods = []string{PayWalletQR, PayWalletH5, PayWebPage, PayWithhold}

type tradeBiz struct {
	OutTradeNo      string           `json:"out_trade_no"`
	TotalAmount     string           `json:"total_amount"`
	Subject         string           `json:"subject"`
	ProductCode     string           `json:"product_code,omitempty"`
	TimeExpire      string           `json:"time_expire,omitempty"`
	QuitURL         string           `json:"quit_url,omitempty"`
	AgreementParams *agreementParams `json:"agreement_params,omitempty"`
}

type agreementParams struct {
	AgreementNo string `json:"agreement_no"`
}

type codeField struct{ code string }

func (c *codeField) setCode(s string) { c.code = s }

type precreateAnswer struct {
	OutTradeNo string `json:"out_trade_no"`
	QRCode     string `json:"qr_code"`
}

type payAnswer struct {
	codeField
	OutTradeNo  string `json:"out_trade_no"`
	TradeNo     string `json:"trade_no"`
	TotalAmount string `json:"total_amount"`
	GmtPayment  string `json:"gmt_payment"`
}

// Payment is what the adapter knows of a trade beyond channel.PayResult: the QR code text of
// wallet_qr, the URL of a page trade.
type Payment struct {
	channel.PayResult
	QRCode string // wallet_qr: the text to render as a QR code
	URL    string // web_page / wallet_h5: the signed URL to send the payer to
}

// CreatePayment starts a payment for req by its pay method. It is Pay with the QR code and URL
// kept apart.
func (c *Channel) CreatePayment(ctx context.Context, req channel.PayRequest) (Payment, error) {
	if req.Currency != "CNY" {
		return Payment{}, fmt.Errorf("alipay pay: currency %s: %w (Alipay takes CNY only)", req.Currency, channel.ErrDeclined)
	}
	biz := tradeBiz{OutTradeNo: req.PaymentID, TotalAmount: yuan(req.Amount), Subject: subject(req.Subject, req.PaymentID)}
	if !req.ExpiresAt.IsZero() {
		biz.TimeExpire = req.ExpiresAt.In(Beijing).Format(TimeLayout)
	}
	processing := channel.PayResult{PaymentID: req.PaymentID, Status: channel.StatusProcessing}
	switch req.PayMethod {
	case PayWalletQR:
		var a precreateAnswer
		if err := c.call(ctx, MethodPrecreate, biz, req.NotifyURL, &a); err != nil {
			return Payment{}, err
		}
		if a.QRCode == "" {
			return Payment{}, fmt.Errorf("alipay precreate: %w: answer without qr_code", channel.ErrUnknownOutcome)
		}
		return Payment{PayResult: processing, QRCode: a.QRCode}, nil
	case PayWebPage, PayWalletH5:
		method := MethodPagePay
		biz.ProductCode = "FAST_INSTANT_TRADE_PAY"
		if req.PayMethod == PayWalletH5 {
			method, biz.ProductCode, biz.QuitURL = MethodWapPay, "QUICK_WAP_WAY", req.ReturnURL
		}
		u, err := c.pageURL(method, biz, req.NotifyURL, req.ReturnURL)
		if err != nil {
			return Payment{}, err
		}
		processing.PayURL = u
		return Payment{PayResult: processing, URL: u}, nil
	case PayWithhold:
		if req.AgreementNo == "" {
			return Payment{}, fmt.Errorf("alipay withhold: %w: no agreement_no", channel.ErrDeclined)
		}
		biz.ProductCode = ProductWithhold
		biz.AgreementParams = &agreementParams{AgreementNo: req.AgreementNo}
		var a payAnswer
		err := c.call(ctx, MethodPay, biz, req.NotifyURL, &a)
		var ae *Error
		switch {
		case errors.As(err, &ae) && ae.payerDecline():
			// The payer's balance or agreement said no: the payment's outcome, not a channel fault.
			return Payment{PayResult: channel.PayResult{PaymentID: req.PaymentID, Status: channel.StatusFailed,
				Reason: ae.SubCode + ": " + ae.SubMsg}}, nil
		case errors.Is(err, channel.ErrAlreadyPaid):
			return c.Query(ctx, req.PaymentID)
		case err != nil:
			return Payment{}, err
		}
		if a.code == CodePaying {
			processing.ChannelTradeNo = a.TradeNo
			return Payment{PayResult: processing}, nil
		}
		paid, err := parseTime("gmt_payment", a.GmtPayment)
		if err != nil || paid.IsZero() || a.TradeNo == "" {
			// Code 10000 without the facts of a payment: believe it after a query only.
			return Payment{}, fmt.Errorf("alipay trade.pay: %w: success without trade_no/gmt_payment", channel.ErrUnknownOutcome)
		}
		amt, err := parseYuan("total_amount", a.TotalAmount)
		if err != nil || amt != req.Amount {
			return Payment{}, fmt.Errorf("alipay trade.pay: %w: total_amount %q is not %s", channel.ErrUnknownOutcome, a.TotalAmount, yuan(req.Amount))
		}
		return Payment{PayResult: channel.PayResult{PaymentID: req.PaymentID, ChannelTradeNo: a.TradeNo,
			Status: channel.StatusSucceeded, PaidAt: paid, Amount: amt}}, nil
	}
	return Payment{}, fmt.Errorf("alipay pay: pay method %q: %w (the alipay kind offers %s)", req.PayMethod,
		channel.ErrDeclined, strings.Join(PayMethods, ", "))
}

// subject is Alipay's required order title (max 256): the payment id when the merchant gave none.
func subject(s, id string) string {
	if s == "" {
		return id
	}
	if r := []rune(s); len(r) > 256 {
		return string(r[:256])
	}
	return s
}

// Pay implements channel.Channel: wallet_qr answers processing with next_action qr_code, web_page
// and wallet_h5 with next_action redirect (and pay_url) to the signed page URL.
func (c *Channel) Pay(ctx context.Context, req channel.PayRequest) (channel.PayResult, error) {
	p, err := c.CreatePayment(ctx, req)
	switch {
	case p.QRCode != "":
		p.NextAction = &paygw.NextAction{Type: paygw.NextActionQRCode, QRCode: p.QRCode}
	case p.URL != "":
		p.NextAction = &paygw.NextAction{Type: paygw.NextActionRedirect, URL: p.URL}
	}
	return p.PayResult, err
}

type queryBiz struct {
	OutTradeNo string `json:"out_trade_no"`
}

type queryAnswer struct {
	OutTradeNo  string `json:"out_trade_no"`
	TradeNo     string `json:"trade_no"`
	TradeStatus string `json:"trade_status"`
	TotalAmount string `json:"total_amount"`
	SendPayDate string `json:"send_pay_date"`
}

// Query asks alipay.trade.query. ACQ.TRADE_NOT_EXIST is processing: a precreate, page or wap
// trade exists at Alipay only once the payer scans or opens it.
func (c *Channel) Query(ctx context.Context, paymentID string) (Payment, error) {
	var a queryAnswer
	err := c.call(ctx, MethodQuery, queryBiz{OutTradeNo: paymentID}, "", &a)
	var ae *Error
	if errors.As(err, &ae) && ae.SubCode == SubTradeNotExist {
		return Payment{PayResult: channel.PayResult{PaymentID: paymentID, Status: channel.StatusProcessing,
			Reason: "not created at Alipay yet"}}, nil
	}
	if err != nil {
		return Payment{}, err
	}
	if a.OutTradeNo != "" && a.OutTradeNo != paymentID {
		return Payment{}, fmt.Errorf("alipay query %s: %w: answer is about %s", paymentID, channel.ErrUnknownOutcome, a.OutTradeNo)
	}
	paid, err := parseTime("send_pay_date", a.SendPayDate)
	if err != nil {
		return Payment{}, fmt.Errorf("alipay query %s: %w: %v", paymentID, channel.ErrUnknownOutcome, err)
	}
	st, err := tradeStatus(a.TradeStatus, !paid.IsZero())
	if err != nil {
		return Payment{}, fmt.Errorf("alipay query %s: %w: %v", paymentID, channel.ErrUnknownOutcome, err)
	}
	amt, err := parseYuan("total_amount", a.TotalAmount)
	if err != nil {
		return Payment{}, fmt.Errorf("alipay query %s: %w: %v", paymentID, channel.ErrUnknownOutcome, err)
	}
	res := channel.PayResult{PaymentID: paymentID, ChannelTradeNo: a.TradeNo, Status: st, Amount: amt}
	if st == channel.StatusSucceeded {
		if paid.IsZero() {
			return Payment{}, fmt.Errorf("alipay query %s: %w: paid without send_pay_date", paymentID, channel.ErrUnknownOutcome)
		}
		res.PaidAt = paid
	}
	return Payment{PayResult: res}, nil
}

// QueryPayment implements channel.Channel.
func (c *Channel) QueryPayment(ctx context.Context, paymentID string) (channel.PayResult, error) {
	p, err := c.Query(ctx, paymentID)
	return p.PayResult, err
}

// ClosePayment closes an unpaid trade with alipay.trade.close. A trade Alipay never created
// (ACQ.TRADE_NOT_EXIST) counts as closed: every trade is sent with time_expire, so a page
// opened later cannot be paid after it. A paid trade is channel.ErrAlreadyPaid.
func (c *Channel) ClosePayment(ctx context.Context, paymentID string) error {
	var a queryAnswer
	err := c.call(ctx, MethodClose, queryBiz{OutTradeNo: paymentID}, "", &a)
	var ae *Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.SubCode {
	case SubTradeNotExist:
		return nil
	case SubTradeStatusError, SubTradeHasSuccess, SubTradeHasClose:
		// Paid, or closed already: the query tells which.
		p, qerr := c.Query(ctx, paymentID)
		if qerr != nil {
			return qerr
		}
		switch p.Status {
		case channel.StatusSucceeded:
			return fmt.Errorf("alipay close %s: %w", paymentID, channel.ErrAlreadyPaid)
		case channel.StatusClosed:
			return nil
		}
		return fmt.Errorf("alipay close %s: %w: %v, trade is %s", paymentID, channel.ErrUnknownOutcome, err, p.Status)
	}
	return err
}

type refundBiz struct {
	OutTradeNo   string `json:"out_trade_no"`
	TradeNo      string `json:"trade_no,omitempty"`
	RefundAmount string `json:"refund_amount"`
	OutRequestNo string `json:"out_request_no"`
	RefundReason string `json:"refund_reason,omitempty"`
}

type refundAnswer struct {
	OutTradeNo   string `json:"out_trade_no"`
	TradeNo      string `json:"trade_no"`
	FundChange   string `json:"fund_change"`
	RefundFee    string `json:"refund_fee"`
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// Refund asks alipay.trade.refund with out_request_no = the refund id, reused on every retry.
// fund_change=Y means money moved; N (a retry of a done refund, or nothing done) is settled by
// fastpay.refund.query. A refusal of the refund itself (seller balance, trade state) is a failed
// refund; ACQ.SYSTEM_ERROR is an unknown outcome.
func (c *Channel) Refund(ctx context.Context, req channel.RefundRequest) (channel.RefundResult, error) {
	if req.Currency != "" && req.Currency != "CNY" {
		return channel.RefundResult{}, fmt.Errorf("alipay refund: currency %s: %w", req.Currency, channel.ErrDeclined)
	}
	var a refundAnswer
	err := c.call(ctx, MethodRefund, refundBiz{OutTradeNo: req.PaymentID, TradeNo: req.ChannelTradeNo,
		RefundAmount: yuan(req.Amount), OutRequestNo: req.RefundID, RefundReason: req.Reason}, "", &a)
	var ae *Error
	if errors.As(err, &ae) && ae.Code == CodeBusinessFailed && !ae.Unknown() {
		return channel.RefundResult{RefundID: req.RefundID, Status: channel.StatusFailed, Reason: ae.SubCode + ": " + ae.SubMsg}, nil
	}
	if err != nil {
		return channel.RefundResult{}, err
	}
	if a.FundChange == "Y" {
		at, err := parseTime("gmt_refund_pay", a.GmtRefundPay)
		if err != nil || at.IsZero() {
			at = c.cfg.Now().UTC()
		}
		return channel.RefundResult{RefundID: req.RefundID, Status: channel.StatusSucceeded, SucceededAt: at, Amount: req.Amount}, nil
	}
	r, err := c.queryRefund(ctx, req.PaymentID, req.RefundID)
	if err != nil {
		return channel.RefundResult{}, err
	}
	if r.Status == channel.StatusNotFound {
		r.Status = channel.StatusProcessing
	}
	return r, nil
}

type refundQueryBiz struct {
	OutTradeNo   string   `json:"out_trade_no"`
	OutRequestNo string   `json:"out_request_no"`
	QueryOptions []string `json:"query_options,omitempty"`
}

type refundQueryAnswer struct {
	OutTradeNo   string `json:"out_trade_no"`
	OutRequestNo string `json:"out_request_no"`
	RefundStatus string `json:"refund_status"`
	RefundAmount string `json:"refund_amount"`
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// QueryRefund implements channel.Channel through Config.RefundPayment (the payment of the refund).
func (c *Channel) QueryRefund(ctx context.Context, refundID string) (channel.RefundResult, error) {
	if c.cfg.RefundPayment == nil {
		return channel.RefundResult{}, fmt.Errorf("alipay refund query %s: no way to find its payment", refundID)
	}
	pid, err := c.cfg.RefundPayment(ctx, refundID)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("alipay refund query %s: %w", refundID, err)
	}
	return c.queryRefund(ctx, pid, refundID)
}

// queryRefund asks fastpay.refund.query: REFUND_SUCCESS is succeeded; an answer without it means
// Alipay has no such refund (not_found), since alipay.trade.refund completes synchronously.
func (c *Channel) queryRefund(ctx context.Context, paymentID, refundID string) (channel.RefundResult, error) {
	var a refundQueryAnswer
	err := c.call(ctx, MethodRefundQuery, refundQueryBiz{OutTradeNo: paymentID, OutRequestNo: refundID,
		QueryOptions: []string{"gmt_refund_pay"}}, "", &a)
	var ae *Error
	if errors.As(err, &ae) && ae.SubCode == SubTradeNotExist {
		return channel.RefundResult{RefundID: refundID, Status: channel.StatusNotFound}, nil
	}
	if err != nil {
		return channel.RefundResult{}, err
	}
	if a.RefundStatus != "REFUND_SUCCESS" {
		return channel.RefundResult{RefundID: refundID, Status: channel.StatusNotFound}, nil
	}
	if a.OutRequestNo != "" && a.OutRequestNo != refundID {
		return channel.RefundResult{}, fmt.Errorf("alipay refund query %s: %w: answer is about %s", refundID, channel.ErrUnknownOutcome, a.OutRequestNo)
	}
	at, err := parseTime("gmt_refund_pay", a.GmtRefundPay)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("alipay refund query %s: %w: %v", refundID, channel.ErrUnknownOutcome, err)
	}
	if at.IsZero() {
		at = c.cfg.Now().UTC()
	}
	amt, err := parseYuan("refund_amount", a.RefundAmount)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("alipay refund query %s: %w: %v", refundID, channel.ErrUnknownOutcome, err)
	}
	return channel.RefundResult{RefundID: refundID, Status: channel.StatusSucceeded, SucceededAt: at, Amount: amt}, nil
}

type billBiz struct {
	BillType string `json:"bill_type"`
	BillDate string `json:"bill_date"`
}

type billAnswer struct {
	BillDownloadURL string `json:"bill_download_url"`
}

// SubBillNotExist is the sub_code of a bill not generated (yet) for the date.
const SubBillNotExist = "isp.bill_not_exist"

// Statement fetches the trade bill of a date (YYYY-MM-DD): alipay.data.dataservice.bill.downloadurl.query,
// then a GET of the returned URL, which answers the zip the statement package's Alipay reader
// reads. The caller closes body.
func (c *Channel) Statement(ctx context.Context, date string) (string, io.ReadCloser, error) {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return "", nil, fmt.Errorf("alipay statement: date %q is not YYYY-MM-DD", date)
	}
	var a billAnswer
	err := c.call(ctx, MethodBillURL, billBiz{BillType: "trade", BillDate: date}, "", &a)
	var ae *Error
	if errors.As(err, &ae) && ae.SubCode == SubBillNotExist {
		return "", nil, fmt.Errorf("alipay statement %s: %w", date, channel.ErrNoStatement)
	}
	if err != nil {
		return "", nil, fmt.Errorf("alipay statement %s: %w", date, err)
	}
	u, err := url.Parse(a.BillDownloadURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("alipay statement %s: bill_download_url is not an http(s) URL", date)
	}
	if gw, _ := url.Parse(c.cfg.GatewayURL); gw.Scheme == "https" && u.Scheme != "https" {
		// A real gateway hands out https links only; a plain one would expose the bill.
		return "", nil, fmt.Errorf("alipay statement %s: bill_download_url is not https", date)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, fmt.Errorf("alipay statement %s: %w", date, err)
	}
	resp, err := c.bill.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("alipay statement %s: download: %w", date, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return "", nil, fmt.Errorf("alipay statement %s: download answered HTTP %d", date, resp.StatusCode)
	}
	return fmt.Sprintf("%s_%s.zip", c.cfg.Name, date), resp.Body, nil
}
