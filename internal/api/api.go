// Package api holds the JSON wire types of API.md: the payment, refund and agreement objects,
// notification events and error bodies. The gateway builds notification bodies from them and
// httpapi answers with them, so a merchant sees one shape everywhere.
package api

import (
	"encoding/json"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// Payment is API.md's payment object.
type Payment struct {
	ID             string          `json:"id"`
	MerchantID     string          `json:"merchant_id"`
	OutTradeNo     string          `json:"out_trade_no"`
	Amount         int64           `json:"amount"`
	Currency       string          `json:"currency"`
	PayMethod      string          `json:"pay_method"`
	Subject        string          `json:"subject"`
	Status         string          `json:"status"`
	Channel        string          `json:"channel"`
	ChannelTradeNo string          `json:"channel_trade_no"`
	PayURL         string          `json:"pay_url"`
	NextAction     *NextAction     `json:"next_action"`
	RefundedAmount int64           `json:"refunded_amount"`
	AgreementID    *string         `json:"agreement_id"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	FailReason     string          `json:"fail_reason,omitempty"`
	CreatedAt      string          `json:"created_at"`
	ExpiresAt      *string         `json:"expires_at"`
	PaidAt         *string         `json:"paid_at"`
	BusinessDate   *string         `json:"business_date"`
}

// NextAction is API.md's next_action: what the merchant's front end does next, or null.
type NextAction struct {
	Type   string `json:"type"`
	URL    string `json:"url,omitempty"`
	QRCode string `json:"qr_code,omitempty"`
	JSAPI  *JSAPI `json:"jsapi,omitempty"`
}

// JSAPI are the client parameters of a WeChat JSAPI payment, handed to WeixinJSBridge as is.
type JSAPI struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// fromNextAction converts the stored next action; a payment that is no longer awaiting its
// payer has nothing left to do (null).
func fromNextAction(a *paygw.NextAction, st paygw.PaymentStatus) *NextAction {
	if a == nil || (st != paygw.PaymentCreated && st != paygw.PaymentProcessing) {
		return nil
	}
	out := &NextAction{Type: a.Type, URL: a.URL, QRCode: a.QRCode}
	if a.JSAPI != nil {
		j := JSAPI(*a.JSAPI)
		out.JSAPI = &j
	}
	return out
}

// Refund is API.md's refund object.
type Refund struct {
	ID              string  `json:"id"`
	PaymentID       string  `json:"payment_id"`
	OutRefundNo     string  `json:"out_refund_no"`
	Amount          int64   `json:"amount"`
	Currency        string  `json:"currency"`
	Status          string  `json:"status"`
	ChannelRefundNo string  `json:"channel_refund_no"`
	Reason          string  `json:"reason"`
	FailReason      string  `json:"fail_reason,omitempty"`
	CreatedAt       string  `json:"created_at"`
	SucceededAt     *string `json:"succeeded_at"`
	BusinessDate    *string `json:"business_date"`
}

// Payer is an agreement's payer, masked.
type Payer struct {
	Name      string `json:"name"`
	AccountNo string `json:"account_no"`
	Phone     string `json:"phone"`
}

// Agreement is API.md's agreement object.
type Agreement struct {
	ID             string `json:"id"`
	OutAgreementNo string `json:"out_agreement_no"`
	PayMethod      string `json:"pay_method"`
	Status         string `json:"status"`
	Channel        string `json:"channel"`
	Payer          Payer  `json:"payer"`
	CreatedAt      string `json:"created_at"`
	// NextAction sends the payer to the channel's signing page while the agreement is pending
	// (channels where the payer signs, e.g. Alipay); omitted otherwise.
	NextAction *NextAction `json:"next_action,omitempty"`
}

// Event is a merchant notification body.
type Event struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	CreatedAt string `json:"created_at"`
	Data      any    `json:"data"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error object.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// Time formats an instant as RFC 3339 in UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func timePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := Time(*t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// FromPayment converts a domain payment.
func FromPayment(p paygw.Payment) Payment {
	return Payment{
		ID: p.ID, MerchantID: p.MerchantID, OutTradeNo: p.OutTradeNo, Amount: p.Amount, Currency: string(p.Currency),
		PayMethod: string(p.PayMethod), Subject: p.Subject, Status: string(p.Status), Channel: p.Channel,
		ChannelTradeNo: p.ChannelTradeNo, PayURL: p.PayURL, NextAction: fromNextAction(p.NextAction, p.Status), RefundedAmount: p.RefundedAmount,
		AgreementID: strPtr(p.AgreementID), Metadata: p.Metadata, FailReason: p.FailReason,
		CreatedAt: Time(p.CreatedAt), ExpiresAt: timePtr(p.ExpiresAt), PaidAt: timePtr(p.PaidAt),
		BusinessDate: strPtr(p.BusinessDate),
	}
}

// FromRefund converts a domain refund.
func FromRefund(r paygw.Refund) Refund {
	return Refund{
		ID: r.ID, PaymentID: r.PaymentID, OutRefundNo: r.OutRefundNo, Amount: r.Amount, Currency: string(r.Currency),
		Status: string(r.Status), ChannelRefundNo: r.ChannelRefundNo, Reason: r.Reason, FailReason: r.FailReason,
		CreatedAt: Time(r.CreatedAt), SucceededAt: timePtr(r.SucceededAt), BusinessDate: strPtr(r.BusinessDate),
	}
}

// FromAgreement converts a domain agreement (already masked).
func FromAgreement(a paygw.Agreement) Agreement {
	return Agreement{
		ID: a.ID, OutAgreementNo: a.OutAgreementNo, PayMethod: string(a.PayMethod), Status: string(a.Status),
		Channel: a.Channel, Payer: Payer{Name: a.PayerName, AccountNo: a.AccountMasked, Phone: a.PhoneMasked},
		CreatedAt: Time(a.CreatedAt), NextAction: fromNextAction(a.NextAction, paygw.PaymentProcessing),
	}
}

// NewEvent builds the frozen body of a notification: the object as it is when the event happens.
func NewEvent(id, typ string, at time.Time, data any) ([]byte, error) {
	return json.Marshal(Event{ID: id, Type: typ, CreatedAt: Time(at), Data: data})
}
