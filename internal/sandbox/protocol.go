package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/paygw/paygw/internal/sandbox/billfault"
)

// Header names of the sandbox protocol.
const (
	// HeaderTimestamp carries the signer's unix time in seconds.
	HeaderTimestamp = "Sbx-Timestamp"
	// HeaderSignature carries "v1=" + lowercase hex HMAC-SHA256(secret, canonical).
	HeaderSignature = "Sbx-Signature"
	// CallbackAckBody is the body (with HTTP 200) that acknowledges a callback.
	CallbackAckBody = "success"
)

// SignatureWindow is how far a signed timestamp may be from the verifier's wall clock.
const SignatureWindow = 5 * time.Minute

// API paths of the sandbox server.
const (
	PathPay                = "/api/v1/pay"
	PathQueryPayment       = "/api/v1/pay/query"
	PathClose              = "/api/v1/pay/close"
	PathRefund             = "/api/v1/refund"
	PathQueryRefund        = "/api/v1/refund/query"
	PathSignAgreement      = "/api/v1/agreement/sign"
	PathTerminateAgreement = "/api/v1/agreement/terminate"
	PathQueryAgreement     = "/api/v1/agreement/query"
	PathInject             = "/admin/inject"
)

// Error codes in the sandbox's error answers ({"code":"…","message":"…"}).
const (
	CodeBadSignature     = "bad_signature"     // 401
	CodeInvalidRequest   = "invalid_request"   // 400
	CodeDeclined         = "declined"          // 402: the channel refused, nothing was executed
	CodeAgreementInvalid = "agreement_invalid" // 402: unknown or terminated agreement
	CodeNotFound         = "not_found"         // 404 (terminate of an unknown agreement, refund of an unknown trade)
	CodeAlreadyPaid      = "already_paid"      // 409: close of a paid trade
	CodeConflict         = "conflict"          // 409: same out_* number with different fields, or wrong state
	CodeExceedsAmount    = "refund_exceeds"    // 422: refunds would exceed the paid amount
	CodeInternal         = "internal"          // 500
)

// wireError is the body of every non-200 API answer.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// payRequest is the body of POST PathPay.
type payRequest struct {
	OutTradeNo  string `json:"out_trade_no"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	PayMethod   string `json:"pay_method"`
	Subject     string `json:"subject"`
	NotifyURL   string `json:"notify_url,omitempty"`
	ReturnURL   string `json:"return_url,omitempty"`
	ExpireTime  string `json:"expire_time,omitempty"` // RFC 3339
	AgreementNo string `json:"agreement_no,omitempty"`
}

// outTradeNoRequest is the body of query and close.
type outTradeNoRequest struct {
	OutTradeNo string `json:"out_trade_no"`
}

// wireTrade is the sandbox's payment object.
type wireTrade struct {
	OutTradeNo     string `json:"out_trade_no"`
	TradeNo        string `json:"trade_no,omitempty"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency,omitempty"`
	PayMethod      string `json:"pay_method,omitempty"`
	Subject        string `json:"subject,omitempty"`
	Status         string `json:"status"`
	PayURL         string `json:"pay_url,omitempty"`
	Fee            int64  `json:"fee"`
	RefundedAmount int64  `json:"refunded_amount"`
	CreatedAt      string `json:"created_at,omitempty"`
	PaidAt         string `json:"paid_at,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

// refundRequest is the body of POST PathRefund.
type refundRequest struct {
	OutTradeNo  string `json:"out_trade_no"`
	TradeNo     string `json:"trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Reason      string `json:"reason,omitempty"`
	NotifyURL   string `json:"notify_url,omitempty"`
}

// outAgreementNoRequest is the body of an agreement query.
type outAgreementNoRequest struct {
	OutAgreementNo string `json:"out_agreement_no"`
}

// outRefundNoRequest is the body of a refund query.
type outRefundNoRequest struct {
	OutRefundNo string `json:"out_refund_no"`
}

// wireRefund is the sandbox's refund object.
type wireRefund struct {
	OutTradeNo  string `json:"out_trade_no,omitempty"`
	TradeNo     string `json:"trade_no,omitempty"`
	OutRefundNo string `json:"out_refund_no"`
	RefundNo    string `json:"refund_no,omitempty"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency,omitempty"`
	Fee         int64  `json:"fee"`
	Status      string `json:"status"`
	CreatedAt   string `json:"created_at,omitempty"`
	SucceededAt string `json:"succeeded_at,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// signRequest is the body of POST PathSignAgreement.
type signRequest struct {
	OutAgreementNo string `json:"out_agreement_no"`
	PayMethod      string `json:"pay_method"`
	PayerName      string `json:"payer_name"`
	AccountNo      string `json:"account_no"`
	Phone          string `json:"phone,omitempty"`
}

// agreementNoRequest is the body of POST PathTerminateAgreement.
type agreementNoRequest struct {
	AgreementNo string `json:"agreement_no"`
}

// wireAgreement is the sandbox's agreement object (masked).
type wireAgreement struct {
	AgreementNo    string `json:"agreement_no"`
	OutAgreementNo string `json:"out_agreement_no"`
	PayMethod      string `json:"pay_method"`
	Status         string `json:"status"` // active | terminated
	PayerName      string `json:"payer_name,omitempty"`
	AccountMasked  string `json:"account_masked,omitempty"`
	PhoneMasked    string `json:"phone_masked,omitempty"`
}

// wireCallback is the body of a callback the sandbox POSTs to a notify URL.
type wireCallback struct {
	NotifyID   string      `json:"notify_id"`   // the same on every retry and duplicate
	NotifyTime string      `json:"notify_time"` // RFC 3339, this attempt
	Kind       string      `json:"kind"`        // payment | refund
	Trade      *wireTrade  `json:"trade,omitempty"`
	Refund     *wireRefund `json:"refund,omitempty"`
}

// Injection asks the sandbox to falsify its statement, so that reconciliation finds something
// real. It is the body of POST PathInject (signed like every API request); the protocol fronts
// take the same body, and billfault applies it to every simulator's bill.
type Injection = billfault.Injection

// Injection kinds (see billfault.Injection).
const (
	InjectDrop      = billfault.Drop
	InjectAmount    = billfault.Amount
	InjectFee       = billfault.Fee
	InjectDuplicate = billfault.Duplicate
	InjectExtra     = billfault.Extra
)

// canonical builds the signed string. Requests: METHOD, request URI, timestamp and the body's
// SHA-256; callbacks use the method "CALLBACK" and an empty URI so that a request signature can
// never be replayed as a callback (or the reverse).
func canonical(method, uri, ts string, body []byte) []byte {
	sum := sha256.Sum256(body)
	b := make([]byte, 0, len(method)+len(uri)+len(ts)+3+2*len(sum))
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, uri...)
	b = append(b, '\n')
	b = append(b, ts...)
	b = append(b, '\n')
	return hex.AppendEncode(b, sum[:])
}

// sign returns the HeaderSignature value for the canonical string.
func sign(secret []byte, method, uri, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(canonical(method, uri, ts, body))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// setSignature sets the timestamp and signature headers on h.
func setSignature(h http.Header, secret []byte, method, uri string, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, sign(secret, method, uri, ts, body))
}

var errSignature = errors.New("bad signature")

// verify checks the timestamp window and the signature of a request or callback in constant time.
func verify(secret []byte, h http.Header, method, uri string, now time.Time, body []byte) error {
	ts := h.Get(HeaderTimestamp)
	got := h.Get(HeaderSignature)
	if ts == "" || got == "" {
		return fmt.Errorf("%w: missing %s or %s header", errSignature, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not unix seconds", errSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > SignatureWindow || d < -SignatureWindow {
		return fmt.Errorf("%w: %s out of window", errSignature, HeaderTimestamp)
	}
	want := sign(secret, method, uri, ts, body)
	if !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("%w: signature mismatch", errSignature)
	}
	return nil
}

// formatTime prints t as RFC 3339 in UTC, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTime parses an optional RFC 3339 time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
