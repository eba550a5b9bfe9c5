package alipaysim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/sandbox/billfault"
)

// Trade statuses as Alipay names them; "" is a precreated trade nobody has scanned yet (Alipay
// answers ACQ.TRADE_NOT_EXIST for it).
const (
	statusNone    = ""
	statusWait    = "WAIT_BUYER_PAY"
	statusSuccess = "TRADE_SUCCESS"
	statusClosed  = "TRADE_CLOSED"
)

type trade struct {
	OutTradeNo, TradeNo, Subject, Product string
	NotifyURL, ReturnURL, AgreementNo     string
	Amount, Fee, Refunded                 int64
	Status                                string
	Expire, CreatedAt, PaidAt             time.Time
}

type refund struct {
	OutTradeNo, TradeNo, OutRequestNo string
	Amount, Fee                       int64
	At                                time.Time
}

type agreement struct {
	External, No, NotifyURL, ReturnURL, Status string
	SignTime                                   time.Time
}

// Server is the simulator. Its state lives in memory behind one mutex never held across I/O.
type Server struct {
	opts   Options
	seed   uint64
	faults atomic.Pointer[Faults]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *http.Client

	mu         sync.Mutex
	seq        int
	trades     map[string]*trade // by out_trade_no
	byNo       map[string]*trade // by trade_no
	refunds    map[string]*refund
	agreements map[string]*agreement // by external_agreement_no
	agrByNo    map[string]*agreement
	injections []billfault.Injection
	notified   int // notifications acknowledged (tests, summaries)
}

// NewServer validates opts and returns a simulator; Close stops its notification senders.
func NewServer(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, seed: opts.Seed, trades: map[string]*trade{}, byNo: map[string]*trade{},
		refunds: map[string]*refund{}, agreements: map[string]*agreement{}, agrByNo: map[string]*agreement{},
		client: &http.Client{Timeout: opts.NotifyTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if s.seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.seed = binary.LittleEndian.Uint64(b[:])
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.faults.Store(&Faults{FailureRate: opts.FailureRate, ErrorRate: opts.ErrorRate, TimeoutRate: opts.TimeoutRate,
		DuplicateNotifications: opts.DuplicateNotifications, DropNotifications: opts.DropNotifications})
	return s, nil
}

// Faults are the fault rates that can change while the simulator runs (see Options).
type Faults struct {
	FailureRate, ErrorRate, TimeoutRate       float64
	DuplicateNotifications, DropNotifications float64
}

// SetFaults replaces the fault rates (tests and demos switch faults on for a step).
func (s *Server) SetFaults(f Faults) error {
	for _, p := range []float64{f.FailureRate, f.ErrorRate, f.TimeoutRate, f.DuplicateNotifications, f.DropNotifications} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("alipay simulator: fault rate %v out of 0..1", p)
		}
	}
	s.faults.Store(&f)
	return nil
}

func (s *Server) fault() Faults { return *s.faults.Load() }

// Close stops notification delivery and auto-pay and waits for them.
func (s *Server) Close() { s.cancel(); s.wg.Wait() }

// Acknowledged returns how many notifications were answered "success".
func (s *Server) Acknowledged() int { s.mu.Lock(); defer s.mu.Unlock(); return s.notified }

// chance draws a repeatable decision from the seed and the parts naming it.
func (s *Server) chance(p float64, parts ...string) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], s.seed)
	h.Write(b[:])
	for _, x := range parts {
		h.Write([]byte(x))
		h.Write([]byte{0})
	}
	return float64(h.Sum64()>>11)/float64(1<<53) < p
}

func (s *Server) now() time.Time { return s.opts.Clock() }

func (s *Server) nextNo(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%s%010d", prefix, s.now().In(alipay.Beijing).Format("20060102"), s.seq)
}

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return s.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Handler serves the gateway (POST API calls, GET page URLs), the payer's pages, bills and
// the admin injection endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /gateway.do", s.handleAPI)
	mux.HandleFunc("GET /gateway.do", s.handlePage)
	mux.HandleFunc("GET /qr/{trade_no}", s.handleScan)
	mux.HandleFunc("POST /cashier/{trade_no}", s.handleCashierPay)
	mux.HandleFunc("POST /agreement/{external}", s.handleAgreementConfirm)
	mux.HandleFunc("GET /bills/{file}", s.handleBill)
	mux.HandleFunc("POST /admin/inject", s.handleInject)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

// apiError is an answer other than 10000.
type apiError struct{ code, msg, sub, subMsg string }

func bizErr(sub, subMsg string) *apiError {
	return &apiError{alipay.CodeBusinessFailed, "Business Failed", sub, subMsg}
}

// verifyRequest checks a request's common parameters and RSA2 signature (sign_type included in
// the signed text, as Alipay's gateway does).
func (s *Server) verifyRequest(form url.Values) *apiError {
	for k, vs := range form {
		if len(vs) != 1 {
			return &apiError{alipay.CodeInvalidParam, "Invalid Arguments", "isv.invalid-parameter", "parameter " + k + " given twice"}
		}
	}
	if form.Get("app_id") != s.opts.AppID {
		return &apiError{alipay.CodeInvalidParam, "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数"}
	}
	if form.Get("sign_type") != "RSA2" {
		return &apiError{alipay.CodeInvalidParam, "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型"}
	}
	if _, err := time.ParseInLocation(alipay.TimeLayout, form.Get("timestamp"), alipay.Beijing); err != nil {
		return &apiError{alipay.CodeInvalidParam, "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数"}
	}
	if err := alipay.VerifyRSA2(s.opts.AppPublicKey, []byte(alipay.SignContent(form)), form.Get("sign")); err != nil {
		return &apiError{alipay.CodeInvalidParam, "Invalid Arguments", alipay.SubInvalidSignature, "验签出错"}
	}
	return nil
}

// writeAnswer writes {"<method>_response":{…},"sign":"…"} with Alipay's "\/" escapes in the
// signed text. Errors about the caller's own signature or app id are sent unsigned, as Alipay does.
func (s *Server) writeAnswer(w http.ResponseWriter, method string, fields map[string]any, aerr *apiError) {
	if fields == nil {
		fields = map[string]any{}
	}
	signed := true
	if aerr == nil {
		fields["code"], fields["msg"] = alipay.CodeSuccess, "Success"
	} else {
		fields["code"], fields["msg"] = aerr.code, aerr.msg
		if aerr.sub != "" {
			fields["sub_code"], fields["sub_msg"] = aerr.sub, aerr.subMsg
		}
		signed = aerr.code != alipay.CodeInvalidParam
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(fields)
	inner := bytes.ReplaceAll(bytes.TrimSpace(buf.Bytes()), []byte("/"), []byte(`\/`))
	node := alipay.ResponseKey(method)
	if method == "" {
		node = "error_response"
	}
	var out bytes.Buffer
	out.WriteString(`{"` + node + `":`)
	out.Write(inner)
	if signed {
		sig, err := alipay.SignRSA2(s.opts.PrivateKey, inner)
		if err == nil {
			out.WriteString(`,"sign":"` + sig + `"`)
		}
	}
	out.WriteString("}")
	w.Header().Set("Content-Type", "text/html;charset=utf-8") // what Alipay's gateway sends
	w.WriteHeader(http.StatusOK)
	w.Write(out.Bytes())
}

// wait sleeps d unless the request or the server ends first; false if it ended.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.writeAnswer(w, "", nil, &apiError{alipay.CodeMissingParam, "Missing Required Arguments", "isv.missing-method", "bad form"})
		return
	}
	form := r.PostForm
	for k, vs := range r.URL.Query() { // the Java SDK sends common parameters in the query
		if _, ok := form[k]; !ok {
			form[k] = vs
		}
	}
	method := form.Get("method")
	if !s.wait(r, s.opts.Latency) {
		return
	}
	if aerr := s.verifyRequest(form); aerr != nil {
		s.writeAnswer(w, method, nil, aerr)
		return
	}
	biz := map[string]any{}
	if bc := form.Get("biz_content"); bc != "" {
		d := json.NewDecoder(strings.NewReader(bc))
		d.UseNumber()
		if err := d.Decode(&biz); err != nil {
			s.writeAnswer(w, method, nil, &apiError{alipay.CodeInvalidParam, "Invalid Arguments", "isv.invalid-biz-content", "biz_content is not JSON"})
			return
		}
	}
	c := &call{s: s, r: r, form: form, biz: biz}
	var h func(*call) (map[string]any, *apiError)
	switch method {
	case alipay.MethodPrecreate:
		h = (*call).precreate
	case alipay.MethodPay:
		h = (*call).pay
	case alipay.MethodQuery:
		h = (*call).query
	case alipay.MethodClose:
		h = (*call).close
	case alipay.MethodRefund:
		h = (*call).refund
	case alipay.MethodRefundQuery:
		h = (*call).refundQuery
	case alipay.MethodBillURL:
		h = (*call).billURL
	case alipay.MethodAgreementQuery:
		h = (*call).agreementQuery
	case alipay.MethodAgreementStop:
		h = (*call).agreementUnsign
	default:
		s.writeAnswer(w, method, nil, &apiError{alipay.CodeInvalidParam, "Invalid Arguments", "isv.invalid-method", "不存在的方法名"})
		return
	}
	out, aerr := h(c)
	if c.hang && !s.wait(r, s.opts.TimeoutHang) {
		return // the client gave up: it saw a timeout although the call took effect
	}
	s.writeAnswer(w, method, out, aerr)
}

// call is one verified API request.
type call struct {
	s    *Server
	r    *http.Request
	form url.Values
	biz  map[string]any
	hang bool
}

func (c *call) str(k string) string {
	switch v := c.biz[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
