package alipay

import (
	"fmt"
	"strings"

	"github.com/paygw/paygw/internal/channel"
)

// Gateway result codes (the "code" of every answer).
const (
	CodeSuccess        = "10000"
	CodePaying         = "10003" // trade.pay: created, the payer is confirming
	CodeUnavailable    = "20000" // service unavailable: unknown outcome
	CodeAuthNotEnough  = "20001"
	CodeMissingParam   = "40001"
	CodeInvalidParam   = "40002" // e.g. isv.invalid-signature
	CodeBusinessFailed = "40004" // see sub_code
	CodeRateLimited    = "40005"
	CodeNoPermission   = "40006"
)

// Business sub_codes the adapter tells apart.
const (
	SubSystemError       = "ACQ.SYSTEM_ERROR"
	SubTradeNotExist     = "ACQ.TRADE_NOT_EXIST"
	SubTradeHasSuccess   = "ACQ.TRADE_HAS_SUCCESS"
	SubTradeHasClose     = "ACQ.TRADE_HAS_CLOSE"
	SubTradeStatusError  = "ACQ.TRADE_STATUS_ERROR"
	SubBuyerBalance      = "ACQ.BUYER_BALANCE_NOT_ENOUGH"
	SubSellerBalance     = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
	SubAgreementNotExist = "ACQ.AGREEMENT_NOT_EXIST"
	SubAgreementInvalid  = "ACQ.AGREEMENT_STATUS_NOT_NORMAL"
	SubInvalidSignature  = "isv.invalid-signature"
	SubUnknownError      = "isp.unknow-error" // Alipay's spelling
)

// Error is an answer other than code 10000. It unwraps to channel.ErrUnknownOutcome (20000,
// isp.* and ACQ.SYSTEM_ERROR: the request may have taken effect), channel.ErrAlreadyPaid
// (ACQ.TRADE_HAS_SUCCESS) or channel.ErrDeclined (everything else: Alipay refused the request
// and did not execute it).
type Error struct {
	Method  string
	Code    string
	Msg     string
	SubCode string
	SubMsg  string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("alipay %s answered %s %s", e.Method, e.Code, e.Msg)
	if e.SubCode != "" {
		s += fmt.Sprintf(" (%s: %s)", e.SubCode, e.SubMsg)
	}
	return s
}

// Unknown reports whether the answer leaves the outcome unknown.
func (e *Error) Unknown() bool {
	return e.Code == CodeUnavailable || e.SubCode == SubSystemError || strings.HasPrefix(e.SubCode, "isp.")
}

// Unwrap maps the answer to the channel package's sentinel errors.
func (e *Error) Unwrap() error {
	switch {
	case e.Unknown():
		return channel.ErrUnknownOutcome
	case e.SubCode == SubTradeHasSuccess:
		return channel.ErrAlreadyPaid
	default:
		return channel.ErrDeclined
	}
}

// payerDecline reports whether a trade.pay refusal is the payment's own outcome (the payer's
// balance, agreement or risk), not a fault of the channel: the payment fails and the channel's
// breaker does not count it.
func (e *Error) payerDecline() bool {
	if e.Code != CodeBusinessFailed || e.Unknown() {
		return false
	}
	switch e.SubCode {
	case SubTradeHasSuccess, SubTradeNotExist, "ACQ.INVALID_PARAMETER", "ACQ.ACCESS_FORBIDDEN",
		"ACQ.CONTEXT_INCONSISTENT", "ACQ.TRADE_HAS_CLOSE", "ACQ.TOTAL_FEE_EXCEED", "ACQ.PARTNER_ERROR":
		return false
	}
	return strings.HasPrefix(e.SubCode, "ACQ.")
}

// tradeStatus maps an Alipay trade_status onto a channel status. A closed trade that carries a
// payment time was paid and then fully refunded: it succeeded.
func tradeStatus(s string, paid bool) (channel.Status, error) {
	switch s {
	case "WAIT_BUYER_PAY":
		return channel.StatusProcessing, nil
	case "TRADE_SUCCESS", "TRADE_FINISHED":
		return channel.StatusSucceeded, nil
	case "TRADE_CLOSED":
		if paid {
			return channel.StatusSucceeded, nil
		}
		return channel.StatusClosed, nil
	}
	return "", fmt.Errorf("unknown trade_status %q", s)
}
