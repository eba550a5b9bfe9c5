package wechatpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
	"github.com/paygw/paygw/internal/statement"
)

// CallbackSchedule is WeChat Pay's callback retry schedule (about 24h4m in all).
var CallbackSchedule = []time.Duration{15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute,
	10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour}

// SimOptions configure the WeChat Pay simulator.
type SimOptions struct {
	// Core is the sandbox core: state file, fee rate (default 60 bps), auto-pay, refund delay,
	// clock and every fault flag (latency, declines, timeouts, duplicate and dropped callbacks,
	// statement discrepancies). Secret, trade number prefixes and the callback sender are set here.
	Core sandbox.Options

	MchID, AppID      string
	MerchantSerialNo  string         // the serial our requests must name
	MerchantPublicKey *rsa.PublicKey // verifies our request signatures
	PublicKeyID       string         // PUB_KEY_ID_… sent as Wechatpay-Serial
	PrivateKey        *rsa.PrivateKey
	APIv3Key          []byte
	// PublicURL is the simulator's own base URL for h5_url, the cashier and download_url
	// (default: from each request's Host).
	PublicURL string
	// Now is the wall clock of signatures (default time.Now).
	Now    func() time.Time
	Logger zerolog.Logger
}

// Simulator is WeChat Pay APIv3 as a directly connected merchant sees it, on one machine: it
// verifies request signatures (401 SIGN_ERROR), signs every answer and callback with its own
// key, encrypts callback resources under the APIv3 key, retries callbacks on WeChat Pay's
// schedule, and serves trade bills in the real layout. Trades, refunds, faults and state live
// in the sandbox core.
type Simulator struct {
	o      SimOptions
	core   *sandbox.Server
	client *http.Client
	log    zerolog.Logger

	mu    sync.Mutex
	bills map[string]bill // download token -> bill
}

type bill struct {
	body    []byte
	expires time.Time
}

// NewSimulator validates o and returns a simulator; call Run for callbacks and Handler to serve.
func NewSimulator(o SimOptions) (*Simulator, error) {
	switch {
	case o.MchID == "" || o.AppID == "" || o.MerchantSerialNo == "" || o.PublicKeyID == "":
		return nil, errors.New("wechatpay simulator: mchid, appid, merchant serial and public key id are required")
	case o.MerchantPublicKey == nil || o.PrivateKey == nil:
		return nil, errors.New("wechatpay simulator: the merchant public key and the simulator's private key are required")
	case len(o.APIv3Key) != 32:
		return nil, fmt.Errorf("wechatpay simulator: APIv3 key has %d bytes, want 32", len(o.APIv3Key))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PublicURL != "" {
		o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	}
	s := &Simulator{o: o, bills: map[string]bill{}, log: o.Logger.With().Str("component", "wechatpay-simulator").Logger()}
	core := o.Core
	if core.Secret == "" {
		core.Secret = Nonce(32) // the sandbox's own protocol is not served
	}
	if core.FeeRateBps == 0 {
		core.FeeRateBps = 60
	}
	core.TradeNoPrefix, core.RefundNoPrefix = "42000", "50300"
	if len(core.CallbackBackoff) == 0 {
		scale := core.CallbackScale // Core.CallbackScale compresses WeChat Pay's schedule (tests, demos)
		if scale <= 0 {
			scale = 1
		}
		for _, d := range CallbackSchedule {
			core.CallbackBackoff = append(core.CallbackBackoff, max(time.Millisecond, time.Duration(float64(d)*scale)))
		}
		if core.CallbackMaxAttempts == 0 {
			core.CallbackMaxAttempts = len(CallbackSchedule) + 1
		}
	}
	core.CallbackSender = s.sendCallback
	if core.Logger.GetLevel() == zerolog.Disabled {
		core.Logger = o.Logger
	}
	cs, err := sandbox.NewServer(core)
	if err != nil {
		return nil, err
	}
	s.core = cs
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	timeout := core.CallbackTimeout
	if timeout == 0 {
		timeout = 5 * time.Second // WeChat Pay wants an answer within 5 s
	}
	s.client = &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s, nil
}

// Run sends callbacks, completes refunds and auto-pays until ctx ends (see sandbox.Server.Run).
func (s *Simulator) Run(ctx context.Context) error { return s.core.Run(ctx) }

// Core is the sandbox core (tests inject statement discrepancies and pay trades through it).
func (s *Simulator) Core() *sandbox.Server { return s.core }

// Handler serves the APIv3 endpoints, the bill download, the cashier page and /healthz.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathNative, s.api(s.handlePrepay(string(paygw.PayMethodWalletQR))))
	mux.HandleFunc("POST "+PathJSAPI, s.api(s.handlePrepay(string(paygw.PayMethodWalletJSAPI))))
	mux.HandleFunc("POST "+PathH5, s.api(s.handlePrepay(string(paygw.PayMethodWalletH5))))
	mux.HandleFunc("GET "+PathByOutTrade+"{no}", s.api(s.handleQuery))
	mux.HandleFunc("POST "+PathByOutTrade+"{no}/close", s.api(s.handleClose))
	mux.HandleFunc("POST "+PathRefunds, s.api(s.handleRefund))
	mux.HandleFunc("GET "+PathRefunds+"/{no}", s.api(s.handleQueryRefund))
	mux.HandleFunc("GET "+PathTradeBill, s.api(s.handleTradeBill))
	mux.HandleFunc("GET "+PathBillFile, s.api(s.handleBillFile))
	mux.HandleFunc("POST /admin/inject", s.api(s.handleInject))
	s.core.MountCashier(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

// answer is an API handler's result: status and JSON body (nil: none), or raw bytes sent
// unsigned (the bill file), or hang.
type answer struct {
	status int
	body   any
	raw    []byte
	hang   bool
}

func fail(status int, code, format string, args ...any) answer {
	return answer{status: status, body: ErrorBody{Code: code, Message: fmt.Sprintf(format, args...)}}
}

type call struct {
	r    *http.Request
	body []byte
}

// api verifies the request signature, applies latency and hangs, and signs the answer.
func (s *Simulator) api(h func(*call) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			s.write(w, fail(http.StatusBadRequest, CodeParamError, "body too large or unreadable"))
			return
		}
		if err := s.verifyRequest(r, body); err != nil {
			s.write(w, fail(http.StatusUnauthorized, CodeSignError, "签名错误: %v", err))
			return
		}
		if ser := r.Header.Get(HeaderSerial); ser != "" && ser != s.o.PublicKeyID {
			s.write(w, fail(http.StatusBadRequest, CodeParamError, "Wechatpay-Serial %q is not a public key id of this merchant", ser))
			return
		}
		a := h(&call{r: r, body: body})
		f := s.core.Faults()
		if a.hang {
			s.core.Wait(r, f.TimeoutHang)
			return
		}
		if f.Latency > 0 && !s.core.Wait(r, f.Latency) {
			return
		}
		s.write(w, a)
	}
}

func (s *Simulator) verifyRequest(r *http.Request, body []byte) error {
	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if a.MchID != s.o.MchID {
		return fmt.Errorf("mchid %q is not this merchant", a.MchID)
	}
	if a.SerialNo != s.o.MerchantSerialNo {
		return fmt.Errorf("serial_no %q is not the merchant's API certificate", a.SerialNo)
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil {
		return errors.New("timestamp is not unix seconds")
	}
	if d := s.o.Now().Sub(time.Unix(ts, 0)); d >= MaxSkew || d <= -MaxSkew {
		return fmt.Errorf("timestamp is %s off", d.Round(time.Second))
	}
	return Verify(s.o.MerchantPublicKey, RequestMessage(r.Method, r.URL.RequestURI(), a.Timestamp, a.Nonce, body), a.Signature)
}

// write sends an answer; every JSON answer (errors included) is signed with the simulator's key.
func (s *Simulator) write(w http.ResponseWriter, a answer) {
	w.Header().Set("Request-ID", Nonce(24))
	if a.raw != nil {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(a.raw)))
		w.WriteHeader(a.status)
		w.Write(a.raw)
		return
	}
	var b []byte
	if a.body != nil {
		var err error
		if b, err = json.Marshal(a.body); err != nil {
			a.status, b = http.StatusInternalServerError, []byte(`{"code":"SYSTEM_ERROR","message":"encode answer"}`)
		}
		w.Header().Set("Content-Type", "application/json")
	}
	if err := s.signHeaders(w.Header(), b); err != nil {
		http.Error(w, "sign", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(a.status)
	w.Write(b)
}

func (s *Simulator) signHeaders(h http.Header, body []byte) error {
	ts, nonce := strconv.FormatInt(s.o.Now().Unix(), 10), Nonce(32)
	sig, err := Sign(s.o.PrivateKey, ResponseMessage(ts, nonce, body))
	if err != nil {
		return err
	}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSerial, s.o.PublicKeyID)
	h.Set(HeaderSignature, sig)
	h.Set(HeaderSigType, SchemeRSA)
	return nil
}

func (s *Simulator) baseURL(r *http.Request) string {
	if s.o.PublicURL != "" {
		return s.o.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func decode(c *call, v any) *answer {
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a := fail(http.StatusBadRequest, CodeParamError, "请求体无法解析: %v", err)
		return &a
	}
	return nil
}

func validOutNo(s string, min, max int, extra string) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

// codeURL is the Native code of a trade; the simulator's cashier for it is /cashier/{pr}.
func codeURL(tradeNo string) string { return "weixin://wxpay/bizpayurl?pr=" + tradeNo }

// PrepayID is the JSAPI prepay_id of a trade.
func prepayID(tradeNo string) string { return "wx" + tradeNo }

func (s *Simulator) handlePrepay(method string) func(*call) answer {
	return func(c *call) answer {
		var in PrepayRequest
		if a := decode(c, &in); a != nil {
			return *a
		}
		switch {
		case in.AppID != s.o.AppID:
			return fail(http.StatusBadRequest, CodeParamError, "appid %q 与商户号不匹配", in.AppID)
		case in.MchID != s.o.MchID:
			return fail(http.StatusBadRequest, CodeParamError, "mchid %q 与请求签名的商户号不一致", in.MchID)
		case in.Description == "" || len(in.Description) > 127:
			return fail(http.StatusBadRequest, CodeParamError, "description 长度须为 1..127 字节")
		case !validOutNo(in.OutTradeNo, 6, 32, "_-|*"):
			return fail(http.StatusBadRequest, CodeParamError, "out_trade_no 须为 6..32 位 [0-9A-Za-z_-|*]")
		case in.Amount.Total <= 0 || in.Amount.Currency != "" && in.Amount.Currency != "CNY":
			return fail(http.StatusBadRequest, CodeParamError, "amount.total 须为正整数（分），currency 须为 CNY")
		}
		if u, err := url.Parse(in.NotifyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			return fail(http.StatusBadRequest, CodeParamError, "notify_url 须为不带参数的 URL")
		}
		var expires time.Time
		if in.TimeExpire != "" {
			t, err := time.Parse(time.RFC3339, in.TimeExpire)
			if err != nil {
				return fail(http.StatusBadRequest, CodeParamError, "time_expire %q 不是 RFC 3339 时间", in.TimeExpire)
			}
			expires = t
		}
		payer := ""
		switch method {
		case string(paygw.PayMethodWalletJSAPI):
			if in.Payer == nil || in.Payer.OpenID == "" {
				return fail(http.StatusBadRequest, CodeParamError, "JSAPI 下单须提供 payer.openid")
			}
			payer = in.Payer.OpenID
		case string(paygw.PayMethodWalletH5):
			if in.SceneInfo == nil || in.SceneInfo.PayerClientIP == "" || in.SceneInfo.H5Info == nil || in.SceneInfo.H5Info.Type == "" {
				return fail(http.StatusBadRequest, CodeParamError, "H5 下单须提供 scene_info.payer_client_ip 与 h5_info.type")
			}
		}
		// An order already paid or closed answers ORDERPAID / ORDER_CLOSED, as WeChat Pay does.
		if t, ok := s.core.Trade(in.OutTradeNo); ok {
			switch t.Status {
			case channel.StatusSucceeded:
				return fail(http.StatusBadRequest, CodeOrderPaid, "该订单已支付")
			case channel.StatusClosed:
				return fail(http.StatusBadRequest, CodeOrderClosed, "订单已关闭")
			}
		}
		t, hang, ref := s.core.Pay(s.baseURL(c.r), sandbox.PayInput{OutTradeNo: in.OutTradeNo, Amount: in.Amount.Total,
			Currency: "CNY", PayMethod: method, Subject: in.Description, NotifyURL: in.NotifyURL, ExpiresAt: expires, Payer: payer})
		if ref != nil {
			switch ref.Code() {
			case sandbox.CodeConflict:
				return fail(http.StatusBadRequest, CodeOutNoUsed, "商户订单号重复: %s", ref.Message())
			case sandbox.CodeDeclined:
				return fail(http.StatusForbidden, CodeTradeError, "交易错误（模拟拒绝）")
			}
			return fail(http.StatusBadRequest, CodeParamError, "%s", ref.Message())
		}
		if hang {
			return answer{hang: true}
		}
		if chance(s.core.Faults().SystemErrorRate, s.core.Faults().Seed, "syserr", in.OutTradeNo) {
			return fail(http.StatusInternalServerError, CodeSystemError, "系统错误（模拟），请使用相同参数稍后重新调用")
		}
		if t.Status == channel.StatusClosed {
			return fail(http.StatusBadRequest, CodeOrderClosed, "订单已关闭")
		}
		switch method {
		case string(paygw.PayMethodWalletQR):
			return answer{status: http.StatusOK, body: PrepayResponse{CodeURL: codeURL(t.TradeNo)}}
		case string(paygw.PayMethodWalletJSAPI):
			return answer{status: http.StatusOK, body: PrepayResponse{PrepayID: prepayID(t.TradeNo)}}
		default:
			return answer{status: http.StatusOK, body: PrepayResponse{H5URL: s.baseURL(c.r) + "/cashier/" + t.TradeNo}}
		}
	}
}

// chance is a repeatable draw of probability p from seed and key (FNV-1a mixed).
func chance(p float64, seed uint64, parts ...string) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	h := uint64(14695981039346656037) ^ seed
	for _, x := range parts {
		for i := 0; i < len(x); i++ {
			h ^= uint64(x[i])
			h *= 1099511628211
		}
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return float64(h>>11)/(1<<53) < p
}

var tradeTypes = map[string]string{
	string(paygw.PayMethodWalletQR): "NATIVE", string(paygw.PayMethodWalletJSAPI): "JSAPI", string(paygw.PayMethodWalletH5): "MWEB",
}

func (s *Simulator) transaction(t sandbox.TradeView) Transaction {
	tx := Transaction{AppID: s.o.AppID, MchID: s.o.MchID, OutTradeNo: t.OutTradeNo, TradeType: tradeTypes[t.PayMethod],
		Amount: Amount{Total: t.Amount, Currency: "CNY", PayerTotal: t.Amount, PayerCurrency: "CNY"}}
	if t.Payer != "" {
		tx.Payer = &Payer{OpenID: t.Payer}
	}
	switch t.Status {
	case channel.StatusSucceeded:
		tx.TradeState, tx.TradeStateDesc, tx.BankType = StateSuccess, "支付成功", "OTHERS"
		if t.Refunded > 0 {
			tx.TradeState, tx.TradeStateDesc = StateRefund, "转入退款"
		}
		tx.TransactionID, tx.SuccessTime = t.TradeNo, t.PaidAt.In(china).Format(time.RFC3339)
	case channel.StatusClosed:
		tx.TradeState, tx.TradeStateDesc = StateClosed, "已关闭"
	case channel.StatusFailed:
		tx.TradeState, tx.TradeStateDesc = StatePayError, "支付失败"
	default:
		tx.TradeState, tx.TradeStateDesc = StateNotPay, "订单未支付"
	}
	return tx
}

func (s *Simulator) handleQuery(c *call) answer {
	if c.r.URL.Query().Get("mchid") != s.o.MchID {
		return fail(http.StatusBadRequest, CodeParamError, "mchid 须为本商户号")
	}
	t, ok := s.core.Trade(c.r.PathValue("no"))
	if !ok || t.Tombstone {
		return fail(http.StatusNotFound, CodeOrderNotExist, "订单不存在")
	}
	return answer{status: http.StatusOK, body: s.transaction(t)}
}

func (s *Simulator) handleClose(c *call) answer {
	var in CloseRequest
	if a := decode(c, &in); a != nil {
		return *a
	}
	if in.MchID != s.o.MchID {
		return fail(http.StatusBadRequest, CodeParamError, "mchid 须为本商户号")
	}
	no := c.r.PathValue("no")
	_, known := s.core.Trade(no)
	t, ref := s.core.Close(no) // an unknown order is remembered closed: a late prepay cannot create it
	if ref != nil {
		if ref.Code() == sandbox.CodeAlreadyPaid {
			return fail(http.StatusBadRequest, CodeOrderPaid, "订单已支付")
		}
		return fail(http.StatusBadRequest, CodeParamError, "%s", ref.Message())
	}
	if !known || t.Tombstone {
		return fail(http.StatusNotFound, CodeOrderNotExist, "订单不存在")
	}
	return answer{status: http.StatusNoContent}
}

func (s *Simulator) refundObject(r sandbox.RefundView, total int64) Refund {
	out := Refund{RefundID: r.RefundNo, OutRefundNo: r.OutRefundNo, TransactionID: r.TradeNo, OutTradeNo: r.OutTradeNo,
		Channel: "ORIGINAL", CreateTime: r.CreatedAt.In(china).Format(time.RFC3339),
		Amount: RefundAmount{Refund: r.Amount, Total: total, Currency: "CNY", PayerTotal: total, PayerRefund: r.Amount}}
	switch r.Status {
	case channel.StatusSucceeded:
		out.Status, out.SuccessTime = RefundSuccess, r.SucceededAt.In(china).Format(time.RFC3339)
	case channel.StatusFailed:
		out.Status = RefundClosed
	default:
		out.Status = RefundProcessing
	}
	return out
}

func (s *Simulator) handleRefund(c *call) answer {
	var in RefundRequest
	if a := decode(c, &in); a != nil {
		return *a
	}
	switch {
	case !validOutNo(in.OutRefundNo, 1, 64, "_-|*@"):
		return fail(http.StatusBadRequest, CodeParamError, "out_refund_no 须为 1..64 位 [0-9A-Za-z_-|*@]")
	case in.OutTradeNo == "" && in.TransactionID == "":
		return fail(http.StatusBadRequest, CodeParamError, "transaction_id 与 out_trade_no 须提供其一")
	case in.Amount.Refund <= 0 || in.Amount.Currency != "CNY":
		return fail(http.StatusBadRequest, CodeParamError, "amount.refund 须为正整数（分），currency 须为 CNY")
	}
	t, ok := s.core.Trade(in.OutTradeNo)
	if !ok || t.Tombstone {
		return fail(http.StatusNotFound, CodeResourceNone, "订单不存在")
	}
	if in.Amount.Total != t.Amount {
		return fail(http.StatusBadRequest, CodeParamError, "amount.total %d 与订单金额 %d 不一致", in.Amount.Total, t.Amount)
	}
	if u, err := url.Parse(in.NotifyURL); in.NotifyURL != "" && (err != nil || u.RawQuery != "") {
		return fail(http.StatusBadRequest, CodeParamError, "notify_url 须为不带参数的 URL")
	}
	r, ref := s.core.Refund(sandbox.RefundInput{OutTradeNo: t.OutTradeNo, OutRefundNo: in.OutRefundNo, Amount: in.Amount.Refund,
		Currency: "CNY", Reason: in.Reason, NotifyURL: in.NotifyURL})
	if ref != nil {
		switch ref.Code() {
		case sandbox.CodeExceedsAmount:
			return fail(http.StatusBadRequest, CodeInvalidReq, "申请退款金额超过订单可退金额")
		case sandbox.CodeConflict:
			return fail(http.StatusForbidden, CodeInvalidReq, "%s", ref.Message())
		}
		return fail(http.StatusBadRequest, CodeParamError, "%s", ref.Message())
	}
	return answer{status: http.StatusOK, body: s.refundObject(r, t.Amount)}
}

func (s *Simulator) handleQueryRefund(c *call) answer {
	r, ok := s.core.RefundOf(c.r.PathValue("no"))
	if !ok {
		return fail(http.StatusNotFound, CodeResourceNone, "退款单不存在")
	}
	t, _ := s.core.Trade(r.OutTradeNo)
	return answer{status: http.StatusOK, body: s.refundObject(r, t.Amount)}
}

func (s *Simulator) handleInject(c *call) answer {
	var in sandbox.Injection
	if err := json.Unmarshal(c.body, &in); err != nil {
		return fail(http.StatusBadRequest, CodeParamError, "body: %v", err)
	}
	out, ref := s.core.Inject(in)
	if ref != nil {
		return fail(http.StatusBadRequest, CodeParamError, "%s", ref.Message())
	}
	return answer{status: http.StatusOK, body: out}
}

// Bill renders the trade bill of a business date in WeChat Pay's layout (ALL, SUCCESS or
// REFUND) with the existing statement writer, discrepancies applied.
func (s *Simulator) Bill(date string, layout statement.WeChatLayout) ([]byte, error) {
	lines, err := s.core.StatementLines(date)
	if err != nil {
		return nil, err
	}
	rows := make([]statement.Row, 0, len(lines))
	for _, l := range lines {
		r := statement.Row{TradeTime: l.At, ChannelTradeNo: l.TradeNo, OutTradeNo: l.OutTradeNo, Amount: l.Amount,
			Fee: l.Fee, Currency: money.Currency(l.Currency), Status: statement.StatusSucceeded, Kind: statement.KindPayment}
		if l.Refund {
			r.Kind, r.ChannelRefundNo, r.OutRefundNo = statement.KindRefund, l.RefundNo, l.OutRefundNo
		}
		if (layout == statement.WeChatSuccess && l.Refund) || (layout == statement.WeChatRefund && !l.Refund) {
			continue
		}
		rows = append(rows, r)
	}
	var buf bytes.Buffer
	if err := statement.WriteWeChatPay(&buf, rows, layout); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Simulator) handleTradeBill(c *call) answer {
	q := c.r.URL.Query()
	date := q.Get("bill_date")
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		return fail(http.StatusBadRequest, CodeParamError, "bill_date 须为 yyyy-MM-DD")
	}
	layout := statement.WeChatLayout(q.Get("bill_type"))
	if layout == "" {
		layout = statement.WeChatAll
	}
	if layout != statement.WeChatAll && layout != statement.WeChatSuccess && layout != statement.WeChatRefund {
		return fail(http.StatusBadRequest, CodeParamError, "bill_type %q 不受支持", layout)
	}
	raw, err := s.Bill(date, layout)
	if errors.Is(err, sandbox.ErrStatementNotReady) {
		return fail(http.StatusBadRequest, CodeNoStatement, "账单不存在（尚未生成）")
	}
	if err != nil {
		return fail(http.StatusInternalServerError, CodeSystemError, "账单生成失败: %v", err)
	}
	sum := sha1.Sum(raw)
	body := raw
	if tar := q.Get("tar_type"); tar == "GZIP" {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw)
		zw.Close()
		body = gz.Bytes()
	} else if tar != "" {
		return fail(http.StatusBadRequest, CodeParamError, "tar_type %q 不受支持", tar)
	}
	token := Nonce(32)
	s.mu.Lock()
	now := time.Now()
	for k, b := range s.bills {
		if now.After(b.expires) {
			delete(s.bills, k)
		}
	}
	s.bills[token] = bill{body: body, expires: now.Add(5 * time.Minute)}
	s.mu.Unlock()
	return answer{status: http.StatusOK, body: BillResponse{HashType: "SHA1", HashValue: hex.EncodeToString(sum[:]),
		DownloadURL: s.baseURL(c.r) + PathBillFile + "?token=" + token}}
}

// handleBillFile serves a bill by its token: the request is signed, the answer is not (as on
// the real channel).
func (s *Simulator) handleBillFile(c *call) answer {
	s.mu.Lock()
	b, ok := s.bills[c.r.URL.Query().Get("token")]
	s.mu.Unlock()
	if !ok || time.Now().After(b.expires) {
		return fail(http.StatusNotFound, CodeResourceNone, "下载链接不存在或已过期")
	}
	return answer{status: http.StatusOK, raw: b.body}
}

// sendCallback makes one callback attempt in WeChat Pay's protocol: a signed envelope whose
// resource is encrypted under the APIv3 key. 200 or 204 acknowledges.
func (s *Simulator) sendCallback(ctx context.Context, target string, cb sandbox.Callback) error {
	var plain any
	var event, summary, aad string
	switch cb.Kind {
	case channel.CallbackPayment:
		if cb.Trade.Status != channel.StatusSucceeded {
			return nil // only paid orders are called back
		}
		tx := s.transaction(*cb.Trade)
		tx.TradeState, tx.TradeStateDesc = StateSuccess, "支付成功"
		plain, event, summary, aad = tx, EventPaySuccess, "支付成功", "transaction"
	case channel.CallbackRefund:
		t, _ := s.core.Trade(cb.Refund.OutTradeNo)
		r := s.refundObject(*cb.Refund, t.Amount)
		r.MchID, r.RefundStatus, r.Status, r.CreateTime, r.Channel = s.o.MchID, r.Status, "", "", ""
		plain, event, aad = r, "REFUND."+r.RefundStatus, "refund"
		summary = map[string]string{RefundSuccess: "退款成功", RefundClosed: "退款关闭"}[r.RefundStatus]
		if summary == "" {
			return nil // nothing to report while processing
		}
	default:
		return nil
	}
	pt, err := json.Marshal(plain)
	if err != nil {
		return err
	}
	nonce := Nonce(12)
	ct, err := Encrypt(s.o.APIv3Key, nonce, aad, pt)
	if err != nil {
		return err
	}
	env := Notification{ID: notificationID(cb.NotifyID), CreateTime: s.o.Now().In(china).Format(time.RFC3339),
		EventType: event, ResourceType: "encrypt-resource", Summary: summary,
		Resource: Resource{Algorithm: Algorithm, Ciphertext: ct, AssociatedData: aad, Nonce: nonce, OriginalType: aad}}
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := s.signHeaders(req.Header, body); err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("callback post: %w", err)
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("callback answered %d %.80q", resp.StatusCode, ack)
	}
	return nil
}

// notificationID derives a stable envelope id (36 characters, UUID-shaped) from the core's
// notify id, so retries and duplicates carry the same id.
func notificationID(notifyID string) string {
	h := sha1.Sum([]byte(notifyID))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
