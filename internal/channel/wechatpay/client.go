package wechatpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/paygw"
)

// china is WeChat Pay's time zone: time_expire and bill dates are written in it.
var china = time.FixedZone("CST", 8*3600)

// Config is what the adapter needs: identities, keys (already read) and transport settings.
type Config struct {
	Name             string // paygw's name for the channel
	BaseURL          string // https://api.mch.weixin.qq.com, or a simulator
	MchID            string
	AppID            string
	MerchantSerialNo string          // serial of our API certificate (Authorization serial_no)
	MerchantKey      *rsa.PrivateKey // apiclient_key.pem
	PublicKeyID      string          // PUB_KEY_ID_…: sent as Wechatpay-Serial, expected back
	PublicKey        *rsa.PublicKey  // pub_key.pem: verifies responses and callbacks
	APIv3Key         []byte          // 32 bytes
	Timeout          time.Duration   // per API call (default 5s); bill downloads are bounded by ctx only
	Transport        http.RoundTripper
	Now              func() time.Time
}

// Channel is the WeChat Pay APIv3 adapter of a directly connected merchant. It implements
// channel.Channel and channel.StatementFetcher and is safe for concurrent use.
type Channel struct {
	cfg    Config
	base   *url.URL
	client *http.Client
	bill   *http.Client
}

var (
	_ channel.Channel          = (*Channel)(nil)
	_ channel.StatementFetcher = (*Channel)(nil)
)

// NewChannel checks cfg and returns the adapter.
func NewChannel(cfg Config) (*Channel, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("wechatpay: url %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	switch {
	case cfg.Name == "":
		return nil, errors.New("wechatpay: name is required")
	case cfg.MchID == "" || cfg.AppID == "" || cfg.MerchantSerialNo == "" || cfg.PublicKeyID == "":
		return nil, errors.New("wechatpay: mchid, appid, merchant serial and public key id are required")
	case cfg.MerchantKey == nil || cfg.PublicKey == nil:
		return nil, errors.New("wechatpay: merchant private key and WeChat Pay public key are required")
	case len(cfg.APIv3Key) != 32:
		return nil, fmt.Errorf("wechatpay: APIv3 key has %d bytes, want 32", len(cfg.APIv3Key))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		cfg.Transport = tr
	}
	u.Path = strings.TrimRight(u.Path, "/")
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Channel{cfg: cfg, base: u,
		client: &http.Client{Transport: cfg.Transport, Timeout: cfg.Timeout, CheckRedirect: noRedirect},
		bill:   &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirect},
	}, nil
}

// Name returns paygw's name for the channel.
func (c *Channel) Name() string { return c.cfg.Name }

// Error is WeChat Pay's verified answer with an error status. Unwrap gives its class:
// ErrUnknownOutcome for 202, 429, 5xx and SYSTEM_ERROR (the request may have taken effect: query,
// or retry with the same out_trade_no / out_refund_no), ErrAlreadyPaid for ORDERPAID, and
// ErrDeclined for any other business refusal (nothing was executed).
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("wechatpay answered %d %s: %.200s", e.Status, e.Code, e.Message)
}

// Unwrap maps the answer to the channel package's classes.
func (e *Error) Unwrap() error {
	switch {
	case e.Status == http.StatusAccepted || e.Status == http.StatusTooManyRequests || e.Status >= 500 ||
		e.Code == CodeSystemError || e.Code == CodeRateLimited:
		return channel.ErrUnknownOutcome
	case e.Code == CodeOrderPaid || e.Code == CodeOrderPaidAlt:
		return channel.ErrAlreadyPaid
	}
	return channel.ErrDeclined
}

// do sends a signed request and returns the verified 2xx body. in == nil sends no body.
func (c *Channel) do(ctx context.Context, method, pathQuery string, in any) (int, []byte, error) {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("wechatpay %s: encode: %w", pathQuery, err)
		}
		body = b
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+pathQuery, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("wechatpay %s: %w", pathQuery, err)
	}
	if err := c.sign(req, body); err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := channel.Send(c.client, req, "wechatpay "+pathQuery)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("wechatpay %s: %w: read answer: %v", pathQuery, channel.ErrUnknownOutcome, err)
	}
	st := resp.StatusCode
	if st == http.StatusAccepted || st == http.StatusTooManyRequests || st >= 500 {
		// Not processed (yet) or the server failed: unknown whatever the body says.
		return st, nil, fmt.Errorf("wechatpay %s: %w", pathQuery, c.errorOf(st, b))
	}
	// Every other answer must be WeChat Pay's: an unsigned or badly signed one is forged, and
	// a forged "success" or "refusal" must not decide anything.
	if err := VerifyMessage(c.cfg.PublicKey, c.cfg.PublicKeyID, signedOf(resp.Header), b, c.cfg.Now()); err != nil {
		return st, nil, fmt.Errorf("wechatpay %s: %w: answer %d not verified (forged?): %v", pathQuery, channel.ErrUnknownOutcome, st, err)
	}
	if st/100 != 2 {
		return st, nil, fmt.Errorf("wechatpay %s: %w", pathQuery, c.errorOf(st, b))
	}
	return st, b, nil
}

func (c *Channel) errorOf(st int, b []byte) *Error {
	var eb ErrorBody
	if json.Unmarshal(b, &eb) != nil || eb.Code == "" {
		eb = ErrorBody{Code: "HTTP_" + strconv.Itoa(st), Message: strings.TrimSpace(string(b))}
	}
	return &Error{Status: st, Code: eb.Code, Message: eb.Message}
}

// sign sets the Authorization, Accept and Wechatpay-Serial headers of a request.
func (c *Channel) sign(req *http.Request, body []byte) error {
	auth, err := Authorization(c.cfg.MerchantKey, c.cfg.MchID, c.cfg.MerchantSerialNo, req.Method,
		req.URL.RequestURI(), c.cfg.Now(), Nonce(32), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderSerial, c.cfg.PublicKeyID) // public-key mode: answer signed with that key
	req.Header.Set("User-Agent", "paygw")
	return nil
}

func signedOf(h http.Header) Signed {
	return Signed{Timestamp: h.Get(HeaderTimestamp), Nonce: h.Get(HeaderNonce), Signature: h.Get(HeaderSignature), Serial: h.Get(HeaderSerial)}
}

// description is the order description: the subject (or the payment id), at most 127 bytes.
func description(subject, paymentID string) string {
	if subject == "" {
		return paymentID
	}
	return truncateUTF8(subject, 127)
}

// Pay places a Native (wallet_qr), JSAPI (wallet_jsapi) or H5 (wallet_h5) order. The answer is
// processing with next_action: the code_url as a QR code, the signed JSAPI parameters, or a
// redirect to h5_url. ORDERPAID (an earlier attempt was paid) is resolved by a query.
func (c *Channel) Pay(ctx context.Context, req channel.PayRequest) (channel.PayResult, error) {
	if req.Currency != "CNY" {
		return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: currency %s (a direct merchant takes CNY only)", channel.ErrDeclined, req.Currency)
	}
	in := PrepayRequest{AppID: c.cfg.AppID, MchID: c.cfg.MchID, Description: description(req.Subject, req.PaymentID),
		OutTradeNo: req.PaymentID, NotifyURL: req.NotifyURL, Amount: Amount{Total: req.Amount, Currency: "CNY"}}
	if !req.ExpiresAt.IsZero() {
		in.TimeExpire = req.ExpiresAt.In(china).Format(time.RFC3339)
	}
	var path string
	switch paygw.PayMethod(req.PayMethod) {
	case paygw.PayMethodWalletQR:
		path = PathNative
	case paygw.PayMethodWalletJSAPI:
		if req.PayerOpenID == "" {
			return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: wallet_jsapi needs the payer's openid", channel.ErrDeclined)
		}
		path, in.Payer = PathJSAPI, &Payer{OpenID: req.PayerOpenID}
	case paygw.PayMethodWalletH5:
		if req.PayerIP == "" {
			return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: wallet_h5 needs the payer's IP", channel.ErrDeclined)
		}
		path, in.SceneInfo = PathH5, &SceneInfo{PayerClientIP: req.PayerIP, H5Info: &H5Info{Type: "Wap"}}
	default:
		return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: pay method %s is not offered", channel.ErrDeclined, req.PayMethod)
	}
	_, b, err := c.do(ctx, http.MethodPost, path, in)
	if errors.Is(err, channel.ErrAlreadyPaid) {
		res, qerr := c.QueryPayment(ctx, req.PaymentID)
		if qerr != nil {
			return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: ORDERPAID, then query: %v", channel.ErrUnknownOutcome, qerr)
		}
		return res, nil
	}
	var we *Error
	if errors.As(err, &we) && we.Code == CodeTradeError {
		// WeChat Pay refused this order as a trade (交易错误), verified: the payment's outcome,
		// not a fault of the channel — no failover, no breaker count (DESIGN.md §5).
		return channel.PayResult{PaymentID: req.PaymentID, Status: channel.StatusFailed, Reason: we.Code + ": " + we.Message}, nil
	}
	if err != nil {
		return channel.PayResult{}, err
	}
	var out PrepayResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: decode answer: %v", channel.ErrUnknownOutcome, err)
	}
	res := channel.PayResult{PaymentID: req.PaymentID, Status: channel.StatusProcessing}
	switch path {
	case PathNative:
		if out.CodeURL == "" {
			return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: answer has no code_url", channel.ErrUnknownOutcome)
		}
		res.NextAction = &paygw.NextAction{Type: paygw.NextActionQRCode, QRCode: out.CodeURL}
	case PathJSAPI:
		if out.PrepayID == "" {
			return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: answer has no prepay_id", channel.ErrUnknownOutcome)
		}
		p, err := c.JSAPIParams(out.PrepayID)
		if err != nil {
			return channel.PayResult{}, err
		}
		res.NextAction = &paygw.NextAction{Type: paygw.NextActionJSAPI, JSAPI: &p}
	case PathH5:
		if out.H5URL == "" {
			return channel.PayResult{}, fmt.Errorf("wechatpay pay: %w: answer has no h5_url", channel.ErrUnknownOutcome)
		}
		res.PayURL = out.H5URL
		res.NextAction = &paygw.NextAction{Type: paygw.NextActionRedirect, URL: out.H5URL}
	}
	return res, nil
}

// JSAPIParams signs the client parameters of a JSAPI prepay_id with the merchant key.
func (c *Channel) JSAPIParams(prepayID string) (paygw.JSAPIParams, error) {
	p := paygw.JSAPIParams{AppID: c.cfg.AppID, TimeStamp: strconv.FormatInt(c.cfg.Now().Unix(), 10),
		NonceStr: Nonce(32), Package: "prepay_id=" + prepayID, SignType: "RSA"}
	sig, err := Sign(c.cfg.MerchantKey, JSAPIMessage(p.AppID, p.TimeStamp, p.NonceStr, p.Package))
	if err != nil {
		return p, err
	}
	p.PaySign = sig
	return p, nil
}

// QueryPayment queries by out_trade_no. ORDER_NOT_EXIST is not_found (not final: an order
// whose prepay is still in flight may yet exist).
func (c *Channel) QueryPayment(ctx context.Context, paymentID string) (channel.PayResult, error) {
	_, b, err := c.do(ctx, http.MethodGet, PathByOutTrade+url.PathEscape(paymentID)+"?mchid="+url.QueryEscape(c.cfg.MchID), nil)
	var we *Error
	if errors.As(err, &we) && (we.Code == CodeOrderNotExist || we.Status == http.StatusNotFound) {
		return channel.PayResult{PaymentID: paymentID, Status: channel.StatusNotFound}, nil
	}
	if err != nil {
		return channel.PayResult{}, err
	}
	var tx Transaction
	if err := json.Unmarshal(b, &tx); err != nil {
		return channel.PayResult{}, fmt.Errorf("wechatpay query: %w: decode answer: %v", channel.ErrUnknownOutcome, err)
	}
	if tx.OutTradeNo != paymentID {
		return channel.PayResult{}, fmt.Errorf("wechatpay query: %w: answer is about %q, not %s", channel.ErrUnknownOutcome, tx.OutTradeNo, paymentID)
	}
	return c.payResult(tx)
}

// payResult maps a verified transaction (query or callback) after checking it is ours.
func (c *Channel) payResult(tx Transaction) (channel.PayResult, error) {
	if tx.MchID != c.cfg.MchID || tx.AppID != c.cfg.AppID {
		return channel.PayResult{}, fmt.Errorf("transaction %s is for mchid %q appid %q, not ours", tx.OutTradeNo, tx.MchID, tx.AppID)
	}
	res := channel.PayResult{PaymentID: tx.OutTradeNo, ChannelTradeNo: tx.TransactionID, Amount: tx.Amount.Total, Reason: tx.TradeStateDesc}
	switch tx.TradeState {
	case StateSuccess, StateRefund:
		paid, err := time.Parse(time.RFC3339, tx.SuccessTime)
		if err != nil {
			return channel.PayResult{}, fmt.Errorf("transaction %s: success_time %q: %v", tx.OutTradeNo, tx.SuccessTime, err)
		}
		if tx.TransactionID == "" || tx.Amount.Total <= 0 {
			return channel.PayResult{}, fmt.Errorf("transaction %s: paid without transaction_id or amount", tx.OutTradeNo)
		}
		res.Status, res.PaidAt = channel.StatusSucceeded, paid.UTC()
	case StateNotPay, StateUserPaying:
		res.Status = channel.StatusProcessing
	case StateClosed, StateRevoked:
		res.Status = channel.StatusClosed
	case StatePayError:
		res.Status = channel.StatusFailed
	default:
		return channel.PayResult{}, fmt.Errorf("transaction %s: unknown trade_state %q", tx.OutTradeNo, tx.TradeState)
	}
	return res, nil
}

// ClosePayment closes an unpaid order. ORDERPAID is ErrAlreadyPaid. An order WeChat Pay never
// saw (ORDER_NOT_EXIST) counts as closed: its time_expire was fixed at prepay, so a request
// still in flight cannot make it payable past the payment's expiry.
func (c *Channel) ClosePayment(ctx context.Context, paymentID string) error {
	_, _, err := c.do(ctx, http.MethodPost, PathByOutTrade+url.PathEscape(paymentID)+"/close", CloseRequest{MchID: c.cfg.MchID})
	var we *Error
	if errors.As(err, &we) && we.Code == CodeOrderNotExist {
		return nil
	}
	if errors.As(err, &we) && (we.Code == CodeOrderPaid || we.Code == CodeOrderPaidAlt) {
		return fmt.Errorf("wechatpay close %s: %w", paymentID, channel.ErrAlreadyPaid)
	}
	return err
}

// Refund asks for a refund with out_refund_no = our refund id (the same on every retry, so
// WeChat Pay never refunds twice). Success means accepted: the outcome comes by callback or query.
func (c *Channel) Refund(ctx context.Context, req channel.RefundRequest) (channel.RefundResult, error) {
	if req.Currency != "CNY" {
		return channel.RefundResult{}, fmt.Errorf("wechatpay refund: %w: currency %s", channel.ErrDeclined, req.Currency)
	}
	in := RefundRequest{OutTradeNo: req.PaymentID, OutRefundNo: req.RefundID, Reason: truncateUTF8(req.Reason, 80),
		NotifyURL: req.NotifyURL, Amount: RefundAmount{Refund: req.Amount, Total: req.PaymentAmount, Currency: "CNY"}}
	_, b, err := c.do(ctx, http.MethodPost, PathRefunds, in)
	if err != nil {
		return channel.RefundResult{}, err
	}
	return c.refundAnswer(req.RefundID, b)
}

// QueryRefund queries by out_refund_no; RESOURCE_NOT_EXISTS is not_found.
func (c *Channel) QueryRefund(ctx context.Context, refundID string) (channel.RefundResult, error) {
	_, b, err := c.do(ctx, http.MethodGet, PathRefunds+"/"+url.PathEscape(refundID), nil)
	var we *Error
	if errors.As(err, &we) && (we.Status == http.StatusNotFound || we.Code == CodeResourceNone) {
		return channel.RefundResult{RefundID: refundID, Status: channel.StatusNotFound}, nil
	}
	if err != nil {
		return channel.RefundResult{}, err
	}
	return c.refundAnswer(refundID, b)
}

func (c *Channel) refundAnswer(refundID string, b []byte) (channel.RefundResult, error) {
	var r Refund
	if err := json.Unmarshal(b, &r); err != nil {
		return channel.RefundResult{}, fmt.Errorf("wechatpay refund: %w: decode answer: %v", channel.ErrUnknownOutcome, err)
	}
	if r.OutRefundNo != refundID {
		return channel.RefundResult{}, fmt.Errorf("wechatpay refund: %w: answer is about %q, not %s", channel.ErrUnknownOutcome, r.OutRefundNo, refundID)
	}
	res, err := refundResult(r, r.Status)
	if err != nil {
		return channel.RefundResult{}, fmt.Errorf("wechatpay refund: %w: %v", channel.ErrUnknownOutcome, err)
	}
	return res, nil
}

func refundResult(r Refund, status string) (channel.RefundResult, error) {
	res := channel.RefundResult{RefundID: r.OutRefundNo, ChannelRefundNo: r.RefundID, Amount: r.Amount.Refund}
	switch status {
	case RefundSuccess:
		at, err := time.Parse(time.RFC3339, r.SuccessTime)
		if err != nil {
			return res, fmt.Errorf("refund %s: success_time %q: %v", r.OutRefundNo, r.SuccessTime, err)
		}
		res.Status, res.SucceededAt = channel.StatusSucceeded, at.UTC()
	case RefundProcessing:
		res.Status = channel.StatusProcessing
	case RefundAbnormal:
		// The money could not reach the payer (e.g. a closed card): it stays open until the
		// merchant resolves it in the console; neither succeeded nor failed for paygw.
		res.Status, res.Reason = channel.StatusProcessing, "ABNORMAL: resolve in the WeChat Pay merchant console"
	case RefundClosed:
		res.Status, res.Reason = channel.StatusFailed, "refund closed by WeChat Pay"
	default:
		return res, fmt.Errorf("refund %s: unknown status %q", r.OutRefundNo, status)
	}
	return res, nil
}

func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, sz := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-sz]
	}
	return s
}

// Sign is not offered: WeChat Pay's withholding (委托代扣) is the v2 XML protocol, out of scope.
func (c *Channel) Sign(context.Context, channel.SignRequest) (channel.SignResult, error) {
	return channel.SignResult{}, fmt.Errorf("wechatpay: %w: agreements (quick_pay, withhold) are not offered", channel.ErrDeclined)
}

// TerminateAgreement is not offered (see Sign).
func (c *Channel) TerminateAgreement(context.Context, string) error {
	return fmt.Errorf("wechatpay: %w: agreements are not offered", channel.ErrDeclined)
}

// ParseCallback verifies a callback (signature by the WeChat Pay public key, serial, 5-minute
// skew), decrypts its resource under the APIv3 key and checks it is ours (mchid, appid). The
// gateway then checks out_trade_no and the amount against its record. Any failure is
// ErrBadCallback and changes nothing.
func (c *Channel) ParseCallback(header http.Header, body []byte) (channel.Callback, error) {
	if err := VerifyMessage(c.cfg.PublicKey, c.cfg.PublicKeyID, signedOf(header), body, c.cfg.Now()); err != nil {
		return channel.Callback{}, fmt.Errorf("%w: %v", channel.ErrBadCallback, err)
	}
	cb, err := c.decodeCallback(body)
	if err != nil {
		return channel.Callback{}, fmt.Errorf("%w: %v", channel.ErrBadCallback, err)
	}
	return cb, nil
}

// decodeCallback decrypts and maps a verified callback body.
func (c *Channel) decodeCallback(body []byte) (channel.Callback, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return channel.Callback{}, fmt.Errorf("envelope: %v", err)
	}
	if n.Resource.Algorithm != Algorithm {
		return channel.Callback{}, fmt.Errorf("resource algorithm %.40q is not %s", n.Resource.Algorithm, Algorithm)
	}
	pt, err := Decrypt(c.cfg.APIv3Key, n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext)
	if err != nil {
		return channel.Callback{}, fmt.Errorf("resource: %v", err)
	}
	switch {
	case n.EventType == EventPaySuccess:
		var tx Transaction
		if err := json.Unmarshal(pt, &tx); err != nil {
			return channel.Callback{}, fmt.Errorf("transaction: %v", err)
		}
		if tx.OutTradeNo == "" {
			return channel.Callback{}, errors.New("transaction without out_trade_no")
		}
		if tx.TradeState != StateSuccess {
			return channel.Callback{}, fmt.Errorf("TRANSACTION.SUCCESS with trade_state %.20q", tx.TradeState)
		}
		res, err := c.payResult(tx)
		if err != nil {
			return channel.Callback{}, err
		}
		return channel.Callback{Kind: channel.CallbackPayment, Payment: res}, nil
	case strings.HasPrefix(n.EventType, "REFUND."):
		var r Refund
		if err := json.Unmarshal(pt, &r); err != nil {
			return channel.Callback{}, fmt.Errorf("refund: %v", err)
		}
		if r.MchID != c.cfg.MchID {
			return channel.Callback{}, fmt.Errorf("refund %s is for mchid %q, not ours", r.OutRefundNo, r.MchID)
		}
		if r.OutRefundNo == "" || r.RefundID == "" {
			return channel.Callback{}, errors.New("refund without out_refund_no or refund_id")
		}
		if want := strings.TrimPrefix(n.EventType, "REFUND."); r.RefundStatus != want {
			return channel.Callback{}, fmt.Errorf("%s with refund_status %.20q", n.EventType, r.RefundStatus)
		}
		res, err := refundResult(r, r.RefundStatus)
		if err != nil {
			return channel.Callback{}, err
		}
		return channel.Callback{Kind: channel.CallbackRefund, Refund: res}, nil
	}
	return channel.Callback{}, fmt.Errorf("event_type %.40q is not handled", n.EventType)
}

// CallbackAck answers in WeChat Pay's protocol: 204 without a body acknowledges; otherwise 500
// with {"code":"FAIL","message":…} makes WeChat Pay retry on its schedule.
func (c *Channel) CallbackAck(w http.ResponseWriter, ok bool) {
	if ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, `{"code":"FAIL","message":"not accepted"}`)
}

// Statement downloads the ALL trade bill of a business date: the bill API's verified answer
// names a download_url (which must be on the API's own origin) and the SHA1 of the raw bill; the
// signed GET of that URL returns the gzipped bill (unsigned, as on the real channel), which is
// checked against the SHA1 before it is handed over. NO_STATEMENT_EXIST is ErrNoStatement.
func (c *Channel) Statement(ctx context.Context, date string) (string, io.ReadCloser, error) {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return "", nil, fmt.Errorf("wechatpay bill: date %q is not YYYY-MM-DD", date)
	}
	_, b, err := c.do(ctx, http.MethodGet, PathTradeBill+"?bill_date="+date+"&bill_type=ALL&tar_type=GZIP", nil)
	var we *Error
	if errors.As(err, &we) && (we.Code == CodeNoStatement || we.Status == http.StatusNotFound) {
		return "", nil, fmt.Errorf("wechatpay bill %s: %w: %s", date, channel.ErrNoStatement, we.Message)
	}
	if err != nil {
		return "", nil, fmt.Errorf("wechatpay bill %s: %w", date, err)
	}
	var br BillResponse
	if err := json.Unmarshal(b, &br); err != nil {
		return "", nil, fmt.Errorf("wechatpay bill %s: decode answer: %w", date, err)
	}
	if br.HashType != "SHA1" || len(br.HashValue) != 40 {
		return "", nil, fmt.Errorf("wechatpay bill %s: hash %q %q is not a SHA1", date, br.HashType, br.HashValue)
	}
	u, err := url.Parse(br.DownloadURL)
	if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
		return "", nil, fmt.Errorf("wechatpay bill %s: download_url %.120q is not on %s://%s", date, br.DownloadURL, c.base.Scheme, c.base.Host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, fmt.Errorf("wechatpay bill %s: %w", date, err)
	}
	if err := c.sign(req, nil); err != nil {
		return "", nil, err
	}
	resp, err := c.bill.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("wechatpay bill %s: download: %w", date, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		eb, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", nil, fmt.Errorf("wechatpay bill %s: download answered %d: %.200s", date, resp.StatusCode, eb)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return "", nil, fmt.Errorf("wechatpay bill %s: not gzip: %w", date, err)
	}
	// The bill goes to a temporary file while its SHA1 is computed, so memory stays flat whatever
	// its size; MaxBill (uncompressed) stops a decompression bomb.
	tmp, err := os.CreateTemp("", "paygw-wxbill-*")
	if err != nil {
		return "", nil, fmt.Errorf("wechatpay bill %s: %w", date, err)
	}
	file := &tempFile{File: tmp}
	h := sha1.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(zr, MaxBill+1))
	if err != nil {
		file.Close()
		return "", nil, fmt.Errorf("wechatpay bill %s: gunzip: %w", date, err)
	}
	if n > MaxBill {
		file.Close()
		return "", nil, fmt.Errorf("wechatpay bill %s: more than %d bytes uncompressed", date, int64(MaxBill))
	}
	sum := h.Sum(nil)
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum)), []byte(strings.ToLower(br.HashValue))) != 1 {
		file.Close()
		return "", nil, fmt.Errorf("wechatpay bill %s: SHA1 %x does not match hash_value %s (truncated or altered download)", date, sum, br.HashValue)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		file.Close()
		return "", nil, fmt.Errorf("wechatpay bill %s: %w", date, err)
	}
	return fmt.Sprintf("%s_%s_ALL.csv", c.cfg.Name, date), file, nil
}

// MaxBill bounds a downloaded bill, uncompressed: far beyond a direct merchant's day.
const MaxBill = 1 << 30

// tempFile is a temporary file removed when closed.
type tempFile struct{ *os.File }

// Close closes and removes the file.
func (f *tempFile) Close() error {
	err := f.File.Close()
	os.Remove(f.Name())
	return err
}
