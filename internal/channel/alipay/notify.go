package alipay

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/paygw/paygw/internal/channel"
)

// Notification types.
const (
	NotifyTrade       = "trade_status_sync"
	NotifyAgreement   = "dut_user_sign"
	NotifyUnagreement = "dut_user_unsign"
)

// AckBody is the only answer that stops Alipay's notification retries.
const AckBody = "success"

// Notification is a verified async notification.
type Notification struct {
	NotifyID   string
	NotifyType string
	// Payment is set for a trade_status_sync about the payment itself.
	Payment *Payment
	// Refund is set for a trade_status_sync carrying out_biz_no (our refund id) and gmt_refund.
	Refund *channel.RefundResult
	// Agreement is set for dut_user_sign / dut_user_unsign.
	Agreement *Agreement
}

// maxNotification bounds a notification body (Alipay's are a few kilobytes).
const maxNotification = 64 << 10

// ParseNotification verifies a notification body (a form) with the Alipay public key and checks
// that it is for our app_id; then decodes it. Any failure changes nothing and asks for a retry.
func (c *Channel) ParseNotification(body []byte) (Notification, error) {
	if len(body) > maxNotification {
		return Notification{}, fmt.Errorf("notification of %d bytes is over %d", len(body), maxNotification)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Notification{}, fmt.Errorf("notification is not a form: %v", err)
	}
	if err := VerifyNotification(c.cfg.PublicKey, form); err != nil {
		return Notification{}, err
	}
	if got := form.Get("app_id"); got != c.cfg.AppID {
		return Notification{}, fmt.Errorf("notification app_id %q is not ours", got)
	}
	return decodeNotification(form)
}

// decodeNotification decodes a verified notification form.
func decodeNotification(f url.Values) (Notification, error) {
	n := Notification{NotifyID: f.Get("notify_id"), NotifyType: f.Get("notify_type")}
	if n.NotifyID == "" {
		return n, fmt.Errorf("notification without notify_id")
	}
	switch n.NotifyType {
	case NotifyTrade:
		out := f.Get("out_trade_no")
		if out == "" || f.Get("trade_no") == "" {
			return n, fmt.Errorf("trade notification without out_trade_no or trade_no")
		}
		if rid := f.Get("out_biz_no"); rid != "" && f.Get("gmt_refund") != "" {
			at, err := parseTime("gmt_refund", f.Get("gmt_refund"))
			if err != nil {
				return n, err
			}
			n.Refund = &channel.RefundResult{RefundID: rid, Status: channel.StatusSucceeded, SucceededAt: at}
			return n, nil
		}
		paid, err := parseTime("gmt_payment", f.Get("gmt_payment"))
		if err != nil {
			return n, err
		}
		st, err := tradeStatus(f.Get("trade_status"), !paid.IsZero())
		if err != nil {
			return n, err
		}
		amt, err := parseYuan("total_amount", f.Get("total_amount"))
		if err != nil {
			return n, err
		}
		if st == channel.StatusSucceeded && paid.IsZero() {
			return n, fmt.Errorf("trade notification %s paid without gmt_payment", out)
		}
		n.Payment = &Payment{PayResult: channel.PayResult{PaymentID: out, ChannelTradeNo: f.Get("trade_no"),
			Status: st, PaidAt: paid, Amount: amt}}
		return n, nil
	case NotifyAgreement, NotifyUnagreement:
		ext, no := f.Get("external_agreement_no"), f.Get("agreement_no")
		if ext == "" || no == "" {
			return n, fmt.Errorf("agreement notification without external_agreement_no or agreement_no")
		}
		st, err := agreementStatus(f.Get("status"))
		if err != nil {
			return n, err
		}
		n.Agreement = &Agreement{AgreementID: ext, AgreementNo: no, Status: st}
		return n, nil
	}
	return n, fmt.Errorf("notify_type %q is not handled", n.NotifyType)
}

// ParseCallback implements channel.Channel: a verified payment or refund notification.
func (c *Channel) ParseCallback(_ http.Header, body []byte) (channel.Callback, error) {
	n, err := c.ParseNotification(body)
	if err != nil {
		return channel.Callback{}, fmt.Errorf("%w: alipay: %v", channel.ErrBadCallback, err)
	}
	switch {
	case n.Payment != nil:
		return channel.Callback{Kind: channel.CallbackPayment, Payment: n.Payment.PayResult}, nil
	case n.Refund != nil:
		return channel.Callback{Kind: channel.CallbackRefund, Refund: *n.Refund}, nil
	}
	return channel.Callback{Kind: channel.CallbackAgreement, Agreement: *n.Agreement}, nil
}

// CallbackAck answers a notification: 200 "success" stops the retries; anything else (here 200
// "fail", as Alipay only reads the body) makes Alipay retry on its schedule.
func (c *Channel) CallbackAck(w http.ResponseWriter, ok bool) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if ok {
		io.WriteString(w, AckBody)
		return
	}
	io.WriteString(w, "fail")
}

var _ channel.Channel = (*Channel)(nil)
