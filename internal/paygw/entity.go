package paygw

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/paygw/paygw/internal/money"
)

// NewID returns a new sortable id with the given prefix ("pay", "ref", …): pay_01JD….
func NewID(prefix string) string {
	return prefix + "_" + ulid.MustNew(ulid.Now(), rand.Reader).String()
}

// Merchant is an onboarded merchant. The API secret is not part of it: the store keeps it
// encrypted and hands it out only to authentication and signing.
type Merchant struct {
	ID          string
	Name        string
	Status      string // active | suspended
	FeePlan     FeePlan
	BankAccount BankAccount
	NotifyURL   string // default notification URL when a payment names none
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// FeePlan is a merchant's fee: rate in basis points plus a fixed fee, optionally clamped per
// transaction. Amounts in minor units.
type FeePlan struct {
	RateBps int64
	Fixed   int64
	Min     *int64
	Max     *int64
}

// BankAccount is where settlement pays a merchant out.
type BankAccount struct {
	Name      string
	Bank      string
	AccountNo string // full number: only the payout file carries it
}

// Masked returns the account number with all but the first four and last four digits hidden.
func (b BankAccount) Masked() string { return MaskAccount(b.AccountNo) }

// MaskAccount masks an account number: 6222********0123.
func MaskAccount(s string) string {
	if len(s) <= 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + strings.Repeat("*", len(s)-8) + s[len(s)-4:]
}

// MaskPhone masks a phone number: 138****0000.
func MaskPhone(s string) string {
	if len(s) < 7 {
		return strings.Repeat("*", len(s))
	}
	return s[:3] + strings.Repeat("*", len(s)-7) + s[len(s)-4:]
}

// Payment is a merchant's request to collect an amount from a payer.
type Payment struct {
	ID             string
	MerchantID     string
	OutTradeNo     string
	Amount         int64
	Currency       money.Currency
	PayMethod      PayMethod
	Subject        string
	NotifyURL      string
	ReturnURL      string
	ExpiresAt      *time.Time
	AgreementID    string
	Metadata       json.RawMessage
	RequestHash    string // sha256 of the create request's fields, for idempotency
	Status         PaymentStatus
	Channel        string
	ChannelTradeNo string
	PayURL         string
	NextAction     *NextAction // nil when the payer has nothing to do (or the channel said nothing)
	RefundedAmount int64
	PayerAccount   string // masked payer account or token, never the full number
	ClientIP       string
	FailReason     string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	PaidAt         *time.Time
	BusinessDate   string // set when succeeded
	NextQueryAt    *time.Time
	QueryCount     int
	Version        int64
}

// Refund is a partial or full refund of a paid payment.
type Refund struct {
	ID              string
	PaymentID       string
	MerchantID      string
	OutRefundNo     string
	Amount          int64
	Currency        money.Currency
	Reason          string
	NotifyURL       string
	RequestHash     string
	Status          RefundStatus
	Channel         string
	ChannelRefundNo string
	FailReason      string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SucceededAt     *time.Time
	BusinessDate    string
	NextQueryAt     *time.Time
	QueryCount      int
}

// Agreement (签约) binds a payer's account to a merchant for quick_pay or withhold.
type Agreement struct {
	ID             string
	MerchantID     string
	OutAgreementNo string
	PayMethod      PayMethod
	Status         AgreementStatus
	Channel        string
	ChannelNo      string // the channel's agreement number
	PayerName      string
	AccountMasked  string
	PhoneMasked    string
	AccountToken   string // sha256 of the full account number under a key: equality without storing it
	CreatedAt      time.Time
	UpdatedAt      time.Time
	NextQueryAt    *time.Time // a pending agreement's next active query (sweeper)
	QueryCount     int
	// NextAction is where to send the payer to sign a pending agreement at the channel (Alipay);
	// computed when the agreement is read, never stored.
	NextAction *NextAction
}

// Event types of merchant notifications.
const (
	EventPaymentSucceeded = "payment.succeeded"
	EventPaymentFailed    = "payment.failed"
	EventPaymentClosed    = "payment.closed"
	EventRefundSucceeded  = "refund.succeeded"
	EventRefundFailed     = "refund.failed"
)

// EventTypes lists every notification event type.
var EventTypes = []string{EventPaymentSucceeded, EventPaymentFailed, EventPaymentClosed, EventRefundSucceeded, EventRefundFailed}

// Notification is one event for a merchant, in the outbox. Body is frozen when the event happens.
type Notification struct {
	ID            string // the event id, evt_…
	MerchantID    string
	PaymentID     string
	RefundID      string
	Type          string
	URL           string
	Body          []byte
	Status        NotificationStatus
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	LastStatus    int
	CreatedAt     time.Time
	DeliveredAt   *time.Time
}

// Next action types (API.md next_action.type).
const (
	NextActionRedirect = "redirect"
	NextActionQRCode   = "qr_code"
	NextActionJSAPI    = "jsapi"
)

// NextAction is what the merchant's front end does next for a payment awaiting its payer:
// redirect to URL, render QRCode as a QR code, or hand JSAPI to WeixinJSBridge as is.
type NextAction struct {
	Type   string
	URL    string
	QRCode string
	JSAPI  *JSAPIParams
}

// JSAPIParams are the signed client parameters of a WeChat JSAPI / mini-program payment.
type JSAPIParams struct {
	AppID     string
	TimeStamp string
	NonceStr  string
	Package   string
	SignType  string
	PaySign   string
}
