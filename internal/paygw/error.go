// Package paygw is the domain at the centre of paygw: merchants, payments, refunds, agreements,
// notifications and job runs, their states and allowed transitions, business dates, and the one
// application error type whose codes are API.md's. It does no I/O.
package paygw

import (
	"errors"
	"fmt"
)

// Code is an application error code, exactly as API.md lists them.
type Code string

// Error codes of API.md.
const (
	CodeInvalidRequest       Code = "invalid_request"
	CodeInvalidAmount        Code = "invalid_amount"
	CodeUnsupportedPayMethod Code = "unsupported_pay_method"
	CodeInvalidSignature     Code = "invalid_signature"
	CodeTimestampOutOfWindow Code = "timestamp_out_of_window"
	CodeReplayedNonce        Code = "replayed_nonce"
	CodeUnknownMerchant      Code = "unknown_merchant"
	CodeRiskRejected         Code = "risk_rejected"
	CodeNotFound             Code = "not_found"
	CodeIdempotencyConflict  Code = "idempotency_conflict"
	CodeInvalidState         Code = "invalid_state"
	CodeRefundExceedsAmount  Code = "refund_exceeds_amount"
	CodeRateLimited          Code = "rate_limited"
	CodeNoChannelAvailable   Code = "no_channel_available"
	CodeInternal             Code = "internal"
	CodePayloadTooLarge      Code = "payload_too_large"
	// CodeMerchantSuspended answers every API call of a suspended merchant (`paygw merchant
	// suspend`); its money still settles, on hold.
	CodeMerchantSuspended Code = "merchant_suspended"
)

// Error is the application error. Message is safe to show to the caller: it never holds a
// secret or a full account number.
type Error struct {
	Code    Code
	Message string
	Err     error // the cause, for logs; not shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
