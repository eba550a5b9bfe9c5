// Package channel defines what paygw needs from a third-party payment channel (pay, withhold,
// refund, query, close, callbacks, statements) and a registry of the configured channels.
// An adapter must report an unknown outcome (timeout, connection reset after sending) as
// ErrUnknownOutcome, never as a failure: the payer may have been charged.
package channel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// Status is a channel-side outcome of a payment or refund.
type Status string

// Channel-side statuses.
const (
	StatusProcessing Status = "processing" // accepted, result not final (payer has not paid yet)
	StatusSucceeded  Status = "succeeded"
	StatusFailed     Status = "failed"
	StatusClosed     Status = "closed" // closed unpaid at the channel
	StatusNotFound   Status = "not_found"
)

var (
	// ErrUnknownOutcome means the request may or may not have taken effect (timeout, reset).
	// The caller must resolve it by querying, never by retrying elsewhere.
	ErrUnknownOutcome = errors.New("channel: unknown outcome")
	// ErrDeclined is a definite failure: the channel did not and will not execute the request.
	// It is safe to fail over to another channel.
	ErrDeclined = errors.New("channel: declined")
	// ErrAlreadyPaid is returned by Close when the payment was paid at the channel.
	ErrAlreadyPaid = errors.New("channel: already paid")
	// ErrBadCallback is returned by ParseCallback for an unsigned or malformed callback.
	ErrBadCallback = errors.New("channel: bad callback")
	// ErrNoStatement is returned by Statement when the channel has no bill for the date (yet).
	ErrNoStatement = errors.New("channel: no statement for date")
)

// PayRequest asks the channel to take a payment. PaymentID is paygw's payment id, sent to the
// channel as its out_trade_no.
type PayRequest struct {
	PaymentID   string
	Amount      int64
	Currency    money.Currency
	PayMethod   string
	Subject     string
	NotifyURL   string // where the channel calls back: {public_url}/v1/channels/{name}/notify
	ReturnURL   string
	ExpiresAt   time.Time
	AgreementNo string // the channel's agreement number, for quick_pay and withhold
	PayerOpenID string // the payer's openid under the channel's app (wallet_jsapi)
	PayerIP     string // the payer's IP address (wallet_h5 and channels that ask for it)
}

// PayResult is the channel's view of a payment.
type PayResult struct {
	PaymentID      string
	ChannelTradeNo string
	Status         Status
	PayURL         string            // redirect products
	NextAction     *paygw.NextAction // what the merchant's front end does next (nil: nothing)
	Amount         int64             // the amount the channel reports (callbacks, queries); 0 = not told
	PaidAt         time.Time         // zero unless succeeded
	Fee            int64             // the channel's fee, when it tells
	Reason         string            // failure reason
}

// RefundRequest asks the channel to refund part or all of a payment.
type RefundRequest struct {
	PaymentID      string
	ChannelTradeNo string
	RefundID       string // paygw's refund id, sent as out_refund_no (the same on every retry)
	PaymentAmount  int64  // the refunded payment's amount (WeChat Pay's amount.total)
	Amount         int64
	Currency       money.Currency
	Reason         string
	NotifyURL      string
}

// RefundResult is the channel's view of a refund.
type RefundResult struct {
	RefundID        string
	ChannelRefundNo string
	Status          Status
	SucceededAt     time.Time
	Reason          string
	Amount          int64 // the refund amount the channel reports; 0 = not told
}

// SignRequest binds a payer's account to a merchant for quick_pay / withhold.
type SignRequest struct {
	AgreementID string // paygw's agreement id
	PayMethod   string
	PayerName   string
	AccountNo   string // full account number: sent to the channel, never stored or logged by paygw
	Phone       string
}

// SignResult is the channel's answer to a SignRequest.
type SignResult struct {
	AgreementNo string
	Status      Status // succeeded = active
	Reason      string
}

// CallbackKind says what a callback is about.
type CallbackKind string

// Callback kinds.
const (
	CallbackPayment   CallbackKind = "payment"
	CallbackRefund    CallbackKind = "refund"
	CallbackAgreement CallbackKind = "agreement" // channels with AsyncAgreements
)

// AsyncAgreements is the capability of a channel whose agreements the payer signs on the
// channel's own page (Alipay): Sign answers processing, SignAction is where to send the payer,
// and the agreement becomes active when a callback or QueryAgreement says so.
type AsyncAgreements interface {
	AgreementQuerier
	SignAction(agreementID string) (*paygw.NextAction, error)
}

// Callback is a verified asynchronous notification from the channel.
type Callback struct {
	Kind      CallbackKind
	Payment   PayResult       // when Kind is payment
	Refund    RefundResult    // when Kind is refund
	Agreement AgreementResult // when Kind is agreement
}

// Channel is one third-party channel.
type Channel interface {
	Name() string
	Pay(ctx context.Context, req PayRequest) (PayResult, error)
	QueryPayment(ctx context.Context, paymentID string) (PayResult, error)
	ClosePayment(ctx context.Context, paymentID string) error
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
	QueryRefund(ctx context.Context, refundID string) (RefundResult, error)
	Sign(ctx context.Context, req SignRequest) (SignResult, error)
	TerminateAgreement(ctx context.Context, agreementNo string) error
	// ParseCallback verifies and decodes a callback request body.
	ParseCallback(header http.Header, body []byte) (Callback, error)
	// CallbackAck writes the channel-protocol answer to a callback (ok=false asks for a retry).
	CallbackAck(w http.ResponseWriter, ok bool)
}

// StatementFetcher is the capability of a channel that serves its bills: reconcile fetches the
// statement through it when no --file is given. The format of the body is the channel kind's
// statement format (Factory.Format).
type StatementFetcher interface {
	// Statement fetches the channel's bill for a business date (YYYY-MM-DD): the file name and
	// body. ErrNoStatement when the channel has no bill for the date (yet).
	Statement(ctx context.Context, date string) (name string, body io.ReadCloser, err error)
}

// Registry holds the configured channels by name.
type Registry struct{ m map[string]Channel }

// NewRegistry builds a registry from channels; names must be unique.
func NewRegistry(chs ...Channel) (*Registry, error) {
	r := &Registry{m: map[string]Channel{}}
	for _, c := range chs {
		if _, dup := r.m[c.Name()]; dup {
			return nil, fmt.Errorf("channel %q registered twice", c.Name())
		}
		r.m[c.Name()] = c
	}
	return r, nil
}

// Get returns the channel called name.
func (r *Registry) Get(name string) (Channel, bool) { c, ok := r.m[name]; return c, ok }

// Names lists the channel names in order.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
