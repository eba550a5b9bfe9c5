// Package alipaysim is a protocol-faithful Alipay OpenAPI simulator (`paygw sandbox --protocol
// alipay`): one gateway URL taking signed form POSTs (and the signed GET URLs of page.pay,
// wap.pay and agreement.page.sign), RSA2 verification of every request with the app public key
// (isv.invalid-signature when it fails), answers signed with the simulator's own key on the exact
// *_response text (with Alipay's "\/" escapes), async notifications as signed forms retried on
// Alipay's schedule until the body "success" comes back, a cashier page that pays, and trade bills
// served as Alipay's zip. It keeps its own state in memory and never reads paygw's database.
package alipaysim

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// AlipaySchedule is Alipay's notification retry schedule after the first attempt: 8 notifications
// within about 25 hours (4m, 10m, 10m, 1h, 2h, 6h, 15h).
var AlipaySchedule = []time.Duration{4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour,
	2 * time.Hour, 6 * time.Hour, 15 * time.Hour}

// Options configure a Server.
type Options struct {
	// AppID is the one app the simulator serves (required).
	AppID string
	// AppPublicKey verifies the app's request signatures (required).
	AppPublicKey *rsa.PublicKey
	// PrivateKey is "Alipay's" key: it signs answers and notifications (required).
	PrivateKey *rsa.PrivateKey
	// PID is the merchant's Alipay account id printed in bills (default 2088000000000000).
	PID string
	// PublicURL is the simulator's own base URL for QR codes, cashier pages and bill URLs
	// (default: from each request's Host).
	PublicURL string
	// FeeRateBps is the fee on a payment (default 60); a refund returns its share of it.
	FeeRateBps int64
	// AutoPay, when positive, scans and pays every QR / page / wap trade, and confirms every
	// agreement sign page, by itself after this delay.
	AutoPay time.Duration
	// Clock gives business time (trade and bill times; default time.Now). Retries use the wall clock.
	Clock func() time.Time
	// NotifySchedule is the wait before each retry of an unacknowledged notification (default
	// AlipaySchedule); NotifyScale divides it (e.g. 1000 turns 4m into 240ms) for tests and demos.
	NotifySchedule []time.Duration
	NotifyScale    float64
	// NotifyTimeout bounds one notification attempt (default 10s).
	NotifyTimeout time.Duration

	// Latency is added to every API answer.
	Latency time.Duration
	// FailureRate is the probability that a withhold is refused as the payer's (balance) decline.
	FailureRate float64
	// ErrorRate is the probability that a pay call (precreate, agreement pay) takes effect but
	// answers ACQ.SYSTEM_ERROR: an unknown outcome the caller resolves by querying.
	ErrorRate float64
	// TimeoutRate is the probability that a pay call is executed and its answer then hangs for
	// TimeoutHang (default 30s), longer than the client waits.
	TimeoutRate float64
	TimeoutHang time.Duration
	// DuplicateNotifications is the probability that an acknowledged notification is sent again.
	DuplicateNotifications float64
	// DropNotifications is the probability that a notification attempt is not sent (each attempt
	// decides on its own; 1 loses them all, leaving the payment to be found by query).
	DropNotifications float64
	// StatementDropRate / StatementAmountSkewRate falsify bill rows (missing_channel /
	// amount_mismatch); POST /admin/inject adds exact discrepancies.
	StatementDropRate       float64
	StatementAmountSkewRate float64
	// Seed makes fault decisions repeatable (0: random).
	Seed uint64
	// Logger receives notification failures (default: disabled).
	Logger zerolog.Logger
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate() error {
	if o.AppID == "" {
		return errors.New("alipay simulator: app id is required")
	}
	if o.AppPublicKey == nil || o.PrivateKey == nil {
		return errors.New("alipay simulator: app public key and simulator private key are required")
	}
	if o.PID == "" {
		o.PID = "2088000000000000"
	}
	if o.PublicURL != "" {
		if u, err := url.Parse(o.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("alipay simulator: public url %q is not an absolute URL", o.PublicURL)
		}
		o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	}
	if o.FeeRateBps < 0 || o.FeeRateBps > 10000 {
		return fmt.Errorf("alipay simulator: fee rate %d bps out of 0..10000", o.FeeRateBps)
	}
	if o.FeeRateBps == 0 {
		o.FeeRateBps = 60
	}
	for name, p := range map[string]float64{"failure rate": o.FailureRate, "error rate": o.ErrorRate,
		"timeout rate": o.TimeoutRate, "duplicate notifications": o.DuplicateNotifications,
		"drop notifications": o.DropNotifications, "statement drop rate": o.StatementDropRate,
		"statement amount skew rate": o.StatementAmountSkewRate} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("alipay simulator: %s %v out of 0..1", name, p)
		}
	}
	for name, d := range map[string]time.Duration{"auto-pay": o.AutoPay, "latency": o.Latency,
		"timeout hang": o.TimeoutHang, "notify timeout": o.NotifyTimeout} {
		if d < 0 {
			return fmt.Errorf("alipay simulator: %s %v is negative", name, d)
		}
	}
	if o.NotifyScale < 0 {
		return fmt.Errorf("alipay simulator: notify scale %v is negative", o.NotifyScale)
	}
	if o.NotifyScale == 0 {
		o.NotifyScale = 1
	}
	if len(o.NotifySchedule) == 0 {
		o.NotifySchedule = AlipaySchedule
	}
	if o.NotifyTimeout == 0 {
		o.NotifyTimeout = 10 * time.Second
	}
	if o.TimeoutHang == 0 {
		o.TimeoutHang = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return nil
}
