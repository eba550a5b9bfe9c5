package sandbox

import (
	"net/http"
	"time"

	"github.com/paygw/paygw/internal/channel"
)

// This file is the sandbox's core as a protocol front sees it: a simulator of a real channel's
// wire protocol (e.g. WeChat Pay APIv3) keeps its trades, refunds, callbacks with their faults,
// auto-pay, cashier page, statements and state file here and only translates the protocol.

// PayInput asks for a trade.
type PayInput struct {
	OutTradeNo  string
	Amount      int64
	Currency    string
	PayMethod   string
	Subject     string
	NotifyURL   string
	ReturnURL   string
	ExpiresAt   time.Time
	AgreementNo string
	Payer       string // the payer's id at the channel, kept and shown back (callbacks, bills)
}

// TradeView is a trade's current state.
type TradeView struct {
	OutTradeNo, TradeNo, PayMethod, Subject, Currency, Payer, NotifyURL string
	Amount, Fee, Refunded                                               int64
	Status                                                              channel.Status
	Reason                                                              string
	Tombstone                                                           bool // closed before the channel ever saw a pay request
	CreatedAt, ExpiresAt, PaidAt                                        time.Time
}

func (t trade) view() TradeView {
	return TradeView{OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo, PayMethod: t.PayMethod, Subject: t.Subject,
		Currency: t.Currency, Payer: t.Payer, NotifyURL: t.NotifyURL, Amount: t.Amount, Fee: t.Fee, Refunded: t.Refunded,
		Status: t.Status, Reason: t.Reason, Tombstone: t.Tombstone, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, PaidAt: t.PaidAt}
}

// RefundView is a refund's current state.
type RefundView struct {
	OutRefundNo, RefundNo, OutTradeNo, TradeNo, Currency, Reason string
	Amount, Fee                                                  int64
	Status                                                       channel.Status
	CreatedAt, SucceededAt                                       time.Time
}

func (r refund) view() RefundView {
	return RefundView{OutRefundNo: r.OutRefundNo, RefundNo: r.RefundNo, OutTradeNo: r.OutTradeNo, TradeNo: r.TradeNo,
		Currency: r.Currency, Reason: r.Reason, Amount: r.Amount, Fee: r.Fee, Status: r.Status,
		CreatedAt: r.CreatedAt, SucceededAt: r.SucceededAt}
}

// Callback is what a CallbackSender sends: the object's state at the attempt. NotifyID is the
// same on every retry and duplicate.
type Callback struct {
	Kind     channel.CallbackKind
	NotifyID string
	Trade    *TradeView  // Kind payment
	Refund   *RefundView // Kind refund
}

// Refusal is the core's refusal of a request: an HTTP status and a sandbox error code (Code*).
type Refusal = apiError

// Status is the HTTP status the sandbox would answer with.
func (e *apiError) Status() int { return e.status }

// Code is the sandbox error code (CodeDeclined, CodeConflict, …).
func (e *apiError) Code() string { return e.code }

// Message says what was wrong.
func (e *apiError) Message() string { return e.message }

// Pay creates a trade (or answers the existing one with the same out_trade_no). base is the
// public base URL of the cashier page. hang reports that the fault flags want this answer to
// time out (the trade is recorded all the same).
func (s *Server) Pay(base string, in PayInput) (t TradeView, hang bool, refusal *Refusal) {
	tr, hang, aerr := s.pay(base, in)
	if aerr != nil {
		return TradeView{}, hang, aerr
	}
	return tr.view(), hang, nil
}

// Trade returns a trade by out_trade_no (expiring it if due).
func (s *Server) Trade(outTradeNo string) (TradeView, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[outTradeNo]
	if !ok {
		return TradeView{}, false
	}
	if t.expire(now) {
		s.touchTrade(t)
	}
	return t.view(), true
}

// Close closes an unpaid trade (CodeAlreadyPaid if it was paid); an unknown out_trade_no is
// remembered closed.
func (s *Server) Close(outTradeNo string) (TradeView, *Refusal) {
	t, aerr := s.close(outTradeNo)
	if aerr != nil {
		return TradeView{}, aerr
	}
	return t.view(), nil
}

// RefundInput asks for a refund.
type RefundInput struct {
	OutTradeNo, OutRefundNo, Currency, Reason, NotifyURL string
	Amount                                               int64
}

// Refund accepts a refund (idempotent on OutRefundNo); it completes after RefundDelay.
func (s *Server) Refund(in RefundInput) (RefundView, *Refusal) {
	r, aerr := s.refund(refundRequest{OutTradeNo: in.OutTradeNo, OutRefundNo: in.OutRefundNo, Amount: in.Amount,
		Currency: in.Currency, Reason: in.Reason, NotifyURL: in.NotifyURL})
	if aerr != nil {
		return RefundView{}, aerr
	}
	return r.view(), nil
}

// RefundOf returns a refund by out_refund_no.
func (s *Server) RefundOf(outRefundNo string) (RefundView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[outRefundNo]
	if !ok {
		return RefundView{}, false
	}
	return r.view(), true
}

// Inject adds a statement discrepancy (see Injection).
func (s *Server) Inject(in Injection) (Injection, *Refusal) { return s.inject(in) }

// MountCashier serves the cashier page (GET shows it, POST pays) under /cashier/{trade_no}.
func (s *Server) MountCashier(mux *http.ServeMux) {
	mux.HandleFunc("GET /cashier/{trade_no}", s.handleCashierGet)
	mux.HandleFunc("POST /cashier/{trade_no}", s.handleCashierPost)
}

// PayTrade pays a processing trade by its channel trade number, as the cashier's button does.
func (s *Server) PayTrade(tradeNo string) (TradeView, bool) {
	t, ok := s.payTrade(tradeNo, false)
	return t.view(), ok
}

// Wait sleeps for d unless the request or the server ends first; it reports whether d passed.
// Fronts use it for Latency and TimeoutHang.
func (s *Server) Wait(r *http.Request, d time.Duration) bool { return s.wait(r, d) }

// Faults returns the options in force (latency, hang, …), defaults filled in.
func (s *Server) Faults() Options { return s.opts }

// callbackOf is the object a callback task reports, at its current state.
func (s *Server) callbackOf(t *task) (Callback, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch t.cbKind {
	case "payment":
		tr := s.trades[t.key]
		if tr == nil {
			return Callback{}, false
		}
		v := tr.view()
		return Callback{Kind: channel.CallbackPayment, NotifyID: "N" + tr.TradeNo, Trade: &v}, true
	case "refund":
		r := s.refunds[t.key]
		if r == nil {
			return Callback{}, false
		}
		v := r.view()
		return Callback{Kind: channel.CallbackRefund, NotifyID: "N" + r.RefundNo, Refund: &v}, true
	}
	return Callback{}, false
}
