package alipay

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
)

// Beijing is the zone of every Alipay time (UTC+8, no DST): timestamps, time_expire, gmt_*.
var Beijing = time.FixedZone("CST", 8*3600)

// TimeLayout is Alipay's time format, read and written in Beijing time.
const TimeLayout = "2006-01-02 15:04:05"

// Methods of the OpenAPI gateway that the adapter calls or builds URLs for.
const (
	MethodPrecreate      = "alipay.trade.precreate"
	MethodPagePay        = "alipay.trade.page.pay"
	MethodWapPay         = "alipay.trade.wap.pay"
	MethodPay            = "alipay.trade.pay"
	MethodQuery          = "alipay.trade.query"
	MethodClose          = "alipay.trade.close"
	MethodRefund         = "alipay.trade.refund"
	MethodRefundQuery    = "alipay.trade.fastpay.refund.query"
	MethodBillURL        = "alipay.data.dataservice.bill.downloadurl.query"
	MethodAgreementSign  = "alipay.user.agreement.page.sign"
	MethodAgreementQuery = "alipay.user.agreement.query"
	MethodAgreementStop  = "alipay.user.agreement.unsign"
)

// Products and agreement scene used for withholding (商家扣款).
const (
	ProductWithhold         = "GENERAL_WITHHOLDING"
	PersonalProductWithhold = "GENERAL_WITHHOLDING_P"
	SignScene               = "INDUSTRY|DEFAULT_SCENE"
)

// Config is what the adapter needs: the gateway URL, the app id and the two keys.
type Config struct {
	Name       string          // paygw's channel name
	GatewayURL string          // https://openapi.alipay.com/gateway.do, or a simulator's
	AppID      string          // the app (应用) id
	PrivateKey *rsa.PrivateKey // the app private key: signs requests
	PublicKey  *rsa.PublicKey  // the Alipay public key: verifies answers and notifications
	Timeout    time.Duration   // per API call (default 5s); a call slower than this is an unknown outcome
	Transport  http.RoundTripper
	Now        func() time.Time
	// RefundPayment returns the payment id a refund belongs to: fastpay.refund.query needs it
	// beside out_request_no, while QueryRefund is given the refund id only.
	RefundPayment func(ctx context.Context, refundID string) (string, error)
}

// Channel is the Alipay adapter. It is safe for concurrent use.
type Channel struct {
	cfg       Config
	notifyURL string // {public_url}/v1/channels/{name}/notify: agreement notifications
	client    *http.Client
	bill      *http.Client
}

// New validates cfg and returns the adapter.
func New(cfg Config) (*Channel, error) {
	if cfg.Name == "" {
		return nil, errors.New("alipay channel: name is required")
	}
	u, err := url.Parse(cfg.GatewayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alipay channel %s: url %q is not an absolute http(s) URL", cfg.Name, cfg.GatewayURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("alipay channel %s: url %q must have no query or fragment", cfg.Name, cfg.GatewayURL)
	}
	if cfg.AppID == "" {
		return nil, fmt.Errorf("alipay channel %s: app_id is required", cfg.Name)
	}
	if cfg.PrivateKey == nil || cfg.PublicKey == nil {
		return nil, fmt.Errorf("alipay channel %s: app private key and Alipay public key are required", cfg.Name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("alipay channel %s: timeout must be positive", cfg.Name)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		cfg.Transport = tr
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Channel{cfg: cfg,
		client: &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout, CheckRedirect: noRedirect},
		bill:   &http.Client{Transport: cfg.Transport},
	}, nil
}

// Name returns paygw's name for this channel.
func (c *Channel) Name() string { return c.cfg.Name }

// params returns the signed common parameters of a request for method with biz_content.
func (c *Channel) params(method string, biz any, notifyURL, returnURL string) (url.Values, error) {
	bc, err := json.Marshal(biz)
	if err != nil {
		return nil, fmt.Errorf("alipay %s: encode biz_content: %w", method, err)
	}
	v := url.Values{}
	v.Set("app_id", c.cfg.AppID)
	v.Set("method", method)
	v.Set("format", "JSON")
	v.Set("charset", "utf-8")
	v.Set("sign_type", "RSA2")
	v.Set("timestamp", c.cfg.Now().In(Beijing).Format(TimeLayout))
	v.Set("version", "1.0")
	v.Set("biz_content", string(bc))
	if notifyURL != "" {
		v.Set("notify_url", notifyURL)
	}
	if returnURL != "" {
		v.Set("return_url", returnURL)
	}
	sig, err := SignRSA2(c.cfg.PrivateKey, []byte(SignContent(v)))
	if err != nil {
		return nil, err
	}
	v.Set("sign", sig)
	return v, nil
}

// pageURL builds the signed GET URL of a page method (page.pay, wap.pay, agreement.page.sign):
// the payer's browser goes there; nothing is sent from here.
func (c *Channel) pageURL(method string, biz any, notifyURL, returnURL string) (string, error) {
	v, err := c.params(method, biz, notifyURL, returnURL)
	if err != nil {
		return "", err
	}
	return c.cfg.GatewayURL + "?" + v.Encode(), nil
}

// common is the part of every answer the adapter reads before the business fields.
type common struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// call POSTs a signed request and decodes the verified answer node into out. A transport error
// after the request was written, a 5xx, an unsigned or badly signed answer, and the unknown
// classes of codes are channel.ErrUnknownOutcome; an answer other than 10000 is an *Error.
func (c *Channel) call(ctx context.Context, method string, biz any, notifyURL string, out any) error {
	v, err := c.params(method, biz, notifyURL, "")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.GatewayURL, strings.NewReader(v.Encode()))
	if err != nil {
		return fmt.Errorf("alipay %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := channel.Send(c.client, req, "alipay "+method)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("alipay %s: %w: read answer: %v", method, channel.ErrUnknownOutcome, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("alipay %s: %w: HTTP %d", method, channel.ErrUnknownOutcome, resp.StatusCode)
	}
	raw, sign, err := ExtractResponse(body, method)
	if err != nil {
		return fmt.Errorf("alipay %s: %w: %v", method, channel.ErrUnknownOutcome, err)
	}
	var cm common
	if err := json.Unmarshal(raw, &cm); err != nil {
		return fmt.Errorf("alipay %s: %w: decode answer: %v", method, channel.ErrUnknownOutcome, err)
	}
	if err := VerifyRSA2(c.cfg.PublicKey, raw, sign); err != nil {
		// Alipay does not sign some gateway errors (a bad app_id or signature of ours): such an
		// answer may say what is wrong but is never believed as a result.
		if sign == "" && cm.Code != "" && cm.Code != CodeSuccess && cm.Code != CodePaying {
			e := &Error{Method: method, Code: cm.Code, Msg: cm.Msg, SubCode: cm.SubCode, SubMsg: cm.SubMsg}
			if e.Unknown() {
				return fmt.Errorf("alipay %s: unsigned answer: %w", method, e)
			}
			return fmt.Errorf("alipay %s: unsigned answer %s %s (%s): %w", method, cm.Code, cm.Msg, cm.SubCode, channel.ErrDeclined)
		}
		return fmt.Errorf("alipay %s: %w: answer not believed: %v", method, channel.ErrUnknownOutcome, err)
	}
	if cm.Code != CodeSuccess && cm.Code != CodePaying {
		return &Error{Method: method, Code: cm.Code, Msg: cm.Msg, SubCode: cm.SubCode, SubMsg: cm.SubMsg}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("alipay %s: %w: decode answer: %v", method, channel.ErrUnknownOutcome, err)
	}
	if p, ok := out.(interface{ setCode(string) }); ok {
		p.setCode(cm.Code)
	}
	return nil
}

// yuan formats minor units of CNY as Alipay's amount string ("88.88").
func yuan(minor int64) string { return money.Format(minor, "CNY") }

// parseYuan reads an Alipay amount string into fen.
func parseYuan(field, s string) (int64, error) {
	v, err := money.ParseLenient(s, "CNY")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return v, nil
}

// parseTime reads an Alipay time (Beijing); "" is the zero time.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(TimeLayout, s, Beijing)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not %s", field, s, TimeLayout)
	}
	return t.UTC(), nil
}
