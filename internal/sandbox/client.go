package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
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

// Channel is the gateway's adapter for a sandbox server; it implements channel.Channel.
// It is safe for concurrent use.
type Channel struct {
	name      string
	base      string
	secret    []byte
	client    *http.Client // API calls, with the request timeout
	stmt      *http.Client // statement downloads: bounded by ctx only
	timeout   time.Duration
	transport http.RoundTripper
	now       func() time.Time
}

var _ channel.Channel = (*Channel)(nil)

// Option configures a Channel.
type Option func(*Channel)

// WithTimeout bounds each API call (default 5s). A call that times out after its request was
// sent is an unknown outcome.
func WithTimeout(d time.Duration) Option { return func(c *Channel) { c.timeout = d } }

// WithTransport replaces the HTTP transport (default: a clone of http.DefaultTransport with
// MaxIdleConnsPerHost 256).
func WithTransport(rt http.RoundTripper) Option { return func(c *Channel) { c.transport = rt } }

// withNow sets the wall clock used for signature timestamps (tests).
func withNow(f func() time.Time) Option { return func(c *Channel) { c.now = f } }

// NewChannel returns the adapter for the sandbox at baseURL (e.g. http://127.0.0.1:9090), known to
// the gateway as name and sharing secret with the sandbox.
func NewChannel(name, baseURL, secret string, opts ...Option) (*Channel, error) {
	if name == "" {
		return nil, errors.New("sandbox channel: name is required")
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sandbox channel %s: url %q is not an absolute http(s) URL", name, baseURL)
	}
	if secret == "" {
		return nil, fmt.Errorf("sandbox channel %s: secret is required", name)
	}
	c := &Channel{name: name, base: strings.TrimRight(baseURL, "/"), secret: []byte(secret),
		timeout: 5 * time.Second, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("sandbox channel %s: timeout must be positive", name)
	}
	if c.transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 256
		tr.IdleConnTimeout = 90 * time.Second
		c.transport = tr
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.client = &http.Client{Transport: c.transport, Timeout: c.timeout, CheckRedirect: noRedirect}
	c.stmt = &http.Client{Transport: c.transport, CheckRedirect: noRedirect}
	return c, nil
}

// Name returns the gateway's name for this channel.
func (c *Channel) Name() string { return c.name }

// Error is a definite error answer of the sandbox API. It unwraps to channel.ErrDeclined,
// channel.ErrAlreadyPaid or channel.ErrUnknownOutcome (5xx) as its meaning dictates.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error describes the answer.
func (e *Error) Error() string {
	return fmt.Sprintf("sandbox answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap maps the answer to the channel package's sentinel errors.
func (e *Error) Unwrap() error {
	switch {
	case e.Code == CodeAlreadyPaid:
		return channel.ErrAlreadyPaid
	case e.Status >= 500:
		return channel.ErrUnknownOutcome
	default:
		return channel.ErrDeclined
	}
}

// businessRefusal returns the sandbox's answer when err is a refusal with one of statuses: a
// decision about the payer or the request's business content by a channel that works.
func businessRefusal(err error, statuses ...int) *Error {
	var se *Error
	if !errors.As(err, &se) {
		return nil
	}
	for _, st := range statuses {
		if se.Status == st {
			return se
		}
	}
	return nil
}

// call POSTs a signed JSON request and decodes a 200 answer into out.
func (c *Channel) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("sandbox %s: encode: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	setSignature(req.Header, c.secret, http.MethodPost, req.URL.RequestURI(), c.now(), body)
	resp, err := channel.Send(c.client, req, "sandbox "+path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("sandbox %s: %w: read answer: %v", path, channel.ErrUnknownOutcome, err)
	}
	if resp.StatusCode != http.StatusOK {
		var we wireError
		if json.Unmarshal(b, &we) != nil || we.Code == "" {
			we = wireError{Code: "http_" + http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(b))}
		}
		return fmt.Errorf("sandbox %s: %w", path, &Error{Status: resp.StatusCode, Code: we.Code, Message: we.Message})
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sandbox %s: %w: decode answer: %v", path, channel.ErrUnknownOutcome, err)
	}
	return nil
}

// validStatus reports whether s is a channel status the sandbox may answer with.
func validStatus(s string) bool {
	switch channel.Status(s) {
	case channel.StatusProcessing, channel.StatusSucceeded, channel.StatusFailed, channel.StatusClosed,
		channel.StatusNotFound:
		return true
	}
	return false
}

func payResult(w wireTrade) (channel.PayResult, error) {
	if !validStatus(w.Status) {
		return channel.PayResult{}, fmt.Errorf("trade %s: unknown status %q", w.OutTradeNo, w.Status)
	}
	paid, err := parseTime(w.PaidAt)
	if err != nil {
		return channel.PayResult{}, fmt.Errorf("trade %s: paid_at: %w", w.OutTradeNo, err)
	}
	if w.Status == string(channel.StatusSucceeded) && paid.IsZero() {
		return channel.PayResult{}, fmt.Errorf("trade %s: succeeded without paid_at", w.OutTradeNo)
	}
	res := channel.PayResult{PaymentID: w.OutTradeNo, ChannelTradeNo: w.TradeNo, Status: channel.Status(w.Status),
		PayURL: w.PayURL, PaidAt: paid, Fee: w.Fee, Reason: w.Reason, Amount: w.Amount}
	if w.PayURL != "" {
		res.NextAction = &paygw.NextAction{Type: paygw.NextActionRedirect, URL: w.PayURL}
	}
	return res, nil
}

func refundResult(w wireRefund) (channel.RefundResult, error) {
	if !validStatus(w.Status) || w.Status == string(channel.StatusClosed) {
		return channel.RefundResult{}, fmt.Errorf("refund %s: unknown status %q", w.OutRefundNo, w.Status)
	}
	at, err := parseTime(w.SucceededAt)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("refund %s: succeeded_at: %w", w.OutRefundNo, err)
	}
	if w.Status == string(channel.StatusSucceeded) && at.IsZero() {
		return channel.RefundResult{}, fmt.Errorf("refund %s: succeeded without succeeded_at", w.OutRefundNo)
	}
	return channel.RefundResult{RefundID: w.OutRefundNo, ChannelRefundNo: w.RefundNo, Status: channel.Status(w.Status),
		SucceededAt: at, Reason: w.Reason, Amount: w.Amount}, nil
}

// Pay creates a trade. Redirect methods answer processing with a PayURL; quick_pay and withhold
// answer succeeded. A payer's decline (402 declined, or agreement_invalid) is the payment's
// outcome, not a fault of the channel: it is answered as a result with status failed, so the
// gateway neither fails over nor counts it against the breaker (DESIGN.md §5).
func (c *Channel) Pay(ctx context.Context, req channel.PayRequest) (channel.PayResult, error) {
	in := payRequest{OutTradeNo: req.PaymentID, Amount: req.Amount, Currency: string(req.Currency),
		PayMethod: req.PayMethod, Subject: req.Subject, NotifyURL: req.NotifyURL, ReturnURL: req.ReturnURL,
		ExpireTime: formatTime(req.ExpiresAt), AgreementNo: req.AgreementNo}
	var out wireTrade
	if err := c.call(ctx, PathPay, in, &out); err != nil {
		if se := businessRefusal(err, http.StatusPaymentRequired); se != nil {
			return channel.PayResult{PaymentID: req.PaymentID, Status: channel.StatusFailed, Reason: se.Code + ": " + se.Message}, nil
		}
		return channel.PayResult{}, err
	}
	res, err := payResult(out)
	if err != nil {
		return channel.PayResult{}, fmt.Errorf("sandbox pay: %w: %v", channel.ErrUnknownOutcome, err)
	}
	return res, nil
}

// QueryPayment returns the sandbox's view of a payment; StatusNotFound if it never arrived.
func (c *Channel) QueryPayment(ctx context.Context, paymentID string) (channel.PayResult, error) {
	var out wireTrade
	if err := c.call(ctx, PathQueryPayment, outTradeNoRequest{OutTradeNo: paymentID}, &out); err != nil {
		return channel.PayResult{}, err
	}
	res, err := payResult(out)
	if err != nil {
		return channel.PayResult{}, fmt.Errorf("sandbox query payment: %w", err)
	}
	return res, nil
}

// ClosePayment closes an unpaid payment; ErrAlreadyPaid if it was paid. Closing an id the sandbox
// never saw succeeds and blocks that id from being paid later.
func (c *Channel) ClosePayment(ctx context.Context, paymentID string) error {
	var out wireTrade
	return c.call(ctx, PathClose, outTradeNoRequest{OutTradeNo: paymentID}, &out)
}

// Refund asks for a refund (idempotent on RefundID). Refunds answer processing and complete
// asynchronously with a callback; an over-refund (422 refund_exceeds) is a failed result.
func (c *Channel) Refund(ctx context.Context, req channel.RefundRequest) (channel.RefundResult, error) {
	in := refundRequest{OutTradeNo: req.PaymentID, TradeNo: req.ChannelTradeNo, OutRefundNo: req.RefundID,
		Amount: req.Amount, Currency: string(req.Currency), Reason: req.Reason, NotifyURL: req.NotifyURL}
	var out wireRefund
	if err := c.call(ctx, PathRefund, in, &out); err != nil {
		if se := businessRefusal(err, http.StatusUnprocessableEntity); se != nil {
			return channel.RefundResult{RefundID: req.RefundID, Status: channel.StatusFailed, Reason: se.Code + ": " + se.Message}, nil
		}
		return channel.RefundResult{}, err
	}
	res, err := refundResult(out)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("sandbox refund: %w: %v", channel.ErrUnknownOutcome, err)
	}
	return res, nil
}

// QueryRefund returns the sandbox's view of a refund; StatusNotFound if it never arrived.
func (c *Channel) QueryRefund(ctx context.Context, refundID string) (channel.RefundResult, error) {
	var out wireRefund
	if err := c.call(ctx, PathQueryRefund, outRefundNoRequest{OutRefundNo: refundID}, &out); err != nil {
		return channel.RefundResult{}, err
	}
	res, err := refundResult(out)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("sandbox query refund: %w", err)
	}
	return res, nil
}

// Sign creates an agreement (idempotent on AgreementID). The sandbox keeps only masked account
// data. Refused payer data (400, 402) is a failed result: the agreement's outcome.
func (c *Channel) Sign(ctx context.Context, req channel.SignRequest) (channel.SignResult, error) {
	in := signRequest{OutAgreementNo: req.AgreementID, PayMethod: req.PayMethod, PayerName: req.PayerName,
		AccountNo: req.AccountNo, Phone: req.Phone}
	var out wireAgreement
	if err := c.call(ctx, PathSignAgreement, in, &out); err != nil {
		if se := businessRefusal(err, http.StatusBadRequest, http.StatusPaymentRequired); se != nil {
			return channel.SignResult{Status: channel.StatusFailed, Reason: se.Code + ": " + se.Message}, nil
		}
		return channel.SignResult{}, err
	}
	res := channel.SignResult{AgreementNo: out.AgreementNo, Status: channel.StatusSucceeded}
	if out.Status != agreementActive {
		res.Status, res.Reason = channel.StatusFailed, "agreement is "+out.Status
	}
	return res, nil
}

// QueryAgreement returns the sandbox's view of an agreement by paygw's agreement id: succeeded
// (active), closed (terminated) or StatusNotFound if the sign request never arrived.
func (c *Channel) QueryAgreement(ctx context.Context, agreementID string) (channel.AgreementResult, error) {
	var out wireAgreement
	if err := c.call(ctx, PathQueryAgreement, outAgreementNoRequest{OutAgreementNo: agreementID}, &out); err != nil {
		return channel.AgreementResult{}, err
	}
	res := channel.AgreementResult{AgreementID: agreementID, AgreementNo: out.AgreementNo}
	switch out.Status {
	case agreementActive:
		res.Status = channel.StatusSucceeded
	case string(channel.StatusNotFound):
		res.Status = channel.StatusNotFound
	case agreementTerminated:
		res.Status = channel.StatusClosed
	default:
		return channel.AgreementResult{}, fmt.Errorf("sandbox agreement query %s: %w: status %q", agreementID, channel.ErrUnknownOutcome, out.Status)
	}
	return res, nil
}

// TerminateAgreement ends an agreement; later quick_pay / withhold on it are declined.
func (c *Channel) TerminateAgreement(ctx context.Context, agreementNo string) error {
	var out wireAgreement
	return c.call(ctx, PathTerminateAgreement, agreementNoRequest{AgreementNo: agreementNo}, &out)
}

// Inject adds a statement discrepancy at the sandbox (demos and tests; not part of channel.Channel).
func (c *Channel) Inject(ctx context.Context, in Injection) error {
	var out Injection
	return c.call(ctx, PathInject, in, &out)
}

// ParseCallback verifies a callback's signature (constant time, timestamp within
// SignatureWindow) and decodes it. Any failure is ErrBadCallback.
func (c *Channel) ParseCallback(header http.Header, body []byte) (channel.Callback, error) {
	if err := verify(c.secret, header, callbackMethod, "", c.now(), body); err != nil {
		return channel.Callback{}, fmt.Errorf("%w: %v", channel.ErrBadCallback, err)
	}
	cb, err := decodeCallback(body)
	if err != nil {
		return channel.Callback{}, fmt.Errorf("%w: %v", channel.ErrBadCallback, err)
	}
	return cb, nil
}

// decodeCallback decodes a verified callback body.
func decodeCallback(body []byte) (channel.Callback, error) {
	var w wireCallback
	if err := json.Unmarshal(body, &w); err != nil {
		return channel.Callback{}, fmt.Errorf("body: %v", err)
	}
	if w.NotifyID == "" {
		return channel.Callback{}, errors.New("notify_id is missing")
	}
	switch w.Kind {
	case string(channel.CallbackPayment):
		if w.Trade == nil || w.Trade.OutTradeNo == "" || w.Trade.TradeNo == "" {
			return channel.Callback{}, errors.New("payment callback without trade")
		}
		if w.Trade.Status == string(channel.StatusNotFound) {
			return channel.Callback{}, errors.New("payment callback with status not_found")
		}
		p, err := payResult(*w.Trade)
		if err != nil {
			return channel.Callback{}, err
		}
		return channel.Callback{Kind: channel.CallbackPayment, Payment: p}, nil
	case string(channel.CallbackRefund):
		if w.Refund == nil || w.Refund.OutRefundNo == "" || w.Refund.RefundNo == "" {
			return channel.Callback{}, errors.New("refund callback without refund")
		}
		if w.Refund.Status == string(channel.StatusNotFound) {
			return channel.Callback{}, errors.New("refund callback with status not_found")
		}
		r, err := refundResult(*w.Refund)
		if err != nil {
			return channel.Callback{}, err
		}
		return channel.Callback{Kind: channel.CallbackRefund, Refund: r}, nil
	}
	return channel.Callback{}, fmt.Errorf("kind %q is not payment or refund", w.Kind)
}

// CallbackAck answers a callback: HTTP 200 "success" acknowledges it; anything else (here HTTP
// 500 "fail") makes the sandbox retry.
func (c *Channel) CallbackAck(w http.ResponseWriter, ok bool) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if ok {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, CallbackAckBody)
		return
	}
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, "fail")
}

// Statement downloads the statement CSV of a business date (YYYY-MM-DD). The caller closes body.
// A date the sandbox has no statement for yet is ErrNoStatement.
func (c *Channel) Statement(ctx context.Context, date string) (string, io.ReadCloser, error) {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return "", nil, fmt.Errorf("sandbox statement: date %q is not YYYY-MM-DD", date)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/statements/"+date+".csv", nil)
	if err != nil {
		return "", nil, fmt.Errorf("sandbox statement %s: %w", date, err)
	}
	setSignature(req.Header, c.secret, http.MethodGet, req.URL.RequestURI(), c.now(), nil)
	resp, err := c.stmt.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("sandbox statement %s: %w", date, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return fmt.Sprintf("%s_%s.csv", c.name, date), resp.Body, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return "", nil, fmt.Errorf("sandbox statement %s: %w", date, channel.ErrNoStatement)
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return "", nil, fmt.Errorf("sandbox statement %s: answered %d: %s", date, resp.StatusCode, strings.TrimSpace(string(b)))
	}
}
