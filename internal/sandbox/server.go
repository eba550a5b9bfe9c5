package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
)

// Options configure a sandbox Server. The zero value of every field except Secret is usable.
type Options struct {
	// Secret is the HMAC-SHA256 key shared with the gateway (required).
	Secret string
	// GatewayURL is where callbacks go when a request carries no notify_url: a base URL
	// (e.g. http://127.0.0.1:8080) gets "/v1/channels/{ChannelName}/notify" appended; a URL
	// with a path is used as is. Empty: such requests get no callback.
	GatewayURL string
	// ChannelName is the gateway's name for this channel, used with GatewayURL (default "sandbox").
	ChannelName string
	// PublicURL is the sandbox's own base URL for pay_url (default: taken from each request's Host).
	PublicURL string
	// FeeRateBps is the sandbox's fee rate in basis points (0 means the default, 30).
	FeeRateBps int64
	// AutoPay, when positive, pays every redirect payment by itself after this delay.
	AutoPay time.Duration
	// RefundDelay is how long a refund stays processing before it succeeds and is called back
	// (default 1s). Refunds are always asynchronous.
	RefundDelay time.Duration
	// Clock gives business time: created/paid/refunded times and statement dates (default time.Now).
	// Signature windows, delays and retries use the wall clock.
	Clock func() time.Time
	// Location is the channel's local time zone for business dates and statement trade_time
	// (default Asia/Shanghai).
	Location *time.Location
	// StateFile, when set, persists the state as JSON lines: replayed and compacted on start,
	// changed objects appended every second and on shutdown (cost O(changes), not O(state)), so
	// that a restarted sandbox still serves yesterday's statement.
	StateFile string

	// Latency is added to every API answer.
	Latency time.Duration
	// FailureRate is the probability (0..1) that a pay or withhold is declined (a definite failure).
	FailureRate float64
	// TimeoutRate is the probability that a pay request is executed and recorded but its answer
	// then hangs for TimeoutHang (longer than the client's timeout): an unknown outcome.
	TimeoutRate float64
	// TimeoutHang is how long a "timed out" answer hangs (default 30s; ends early when the client
	// goes away or the server shuts down).
	TimeoutHang time.Duration
	// DuplicateCallbacks is the probability that an acknowledged callback is sent once more.
	DuplicateCallbacks float64
	// DropCallbacks is the probability that a callback attempt is silently not sent (each attempt
	// decides on its own, so early attempts get lost and a retry gets through; 1 loses them all).
	DropCallbacks float64
	// CallbackDelay delays the first callback attempt.
	CallbackDelay time.Duration
	// CallbackBackoff is the wait before each retry; the last entry repeats
	// (default 1s, 2s, 5s, 15s, 30s, 1m, 2m, 5m, 10m, 30m, 1h).
	CallbackBackoff []time.Duration
	// CallbackMaxAttempts stops retrying a callback that was never acknowledged (default 20).
	CallbackMaxAttempts int
	// CallbackWorkers is the number of concurrent callback senders (default 64).
	CallbackWorkers int
	// CallbackTimeout bounds one callback attempt (default 10s).
	CallbackTimeout time.Duration
	// Seed makes fault decisions repeatable: each decision draws from a math/rand/v2 PCG source
	// seeded with Seed and the object's id, so it does not depend on request order. 0 picks a
	// random seed.
	Seed uint64
	// StatementDropRate is the probability that a statement row is left out (missing_channel).
	StatementDropRate float64
	// StatementAmountSkewRate is the probability that a statement row's amount is 0.01 major
	// unit (one minor unit) too high (amount_mismatch).
	StatementAmountSkewRate float64
	// Logger receives callback failures and state-file errors (default: disabled).
	Logger zerolog.Logger

	// SystemErrorRate is the probability that a pay request is recorded but answered with the
	// channel's server error (5xx): an unknown outcome the gateway resolves by querying.
	SystemErrorRate float64
	// CallbackScale compresses a protocol front's real callback retry schedule (1 or 0 = real
	// time, 0.001 = a thousand times faster, for tests and demos).
	CallbackScale float64

	// TradeNoPrefix and RefundNoPrefix start the channel's trade and refund numbers (default
	// "SBX" and "SBXR"; a protocol front may choose the real channel's shape).
	TradeNoPrefix, RefundNoPrefix string
	// CallbackSender, when set, sends callbacks in another channel's protocol instead of the
	// sandbox's own: one attempt for the object's current state; a nil error means acknowledged.
	// Delays, retries, drops and duplicates stay the sandbox's (the fault flags above).
	CallbackSender func(ctx context.Context, url string, cb Callback) error
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate() error {
	if o.Secret == "" {
		return errors.New("sandbox: secret is required")
	}
	if o.GatewayURL != "" {
		if u, err := url.Parse(o.GatewayURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("sandbox: gateway url %q is not an absolute URL", o.GatewayURL)
		}
	}
	if o.PublicURL != "" {
		if u, err := url.Parse(o.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("sandbox: public url %q is not an absolute URL", o.PublicURL)
		}
		o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	}
	if o.FeeRateBps < 0 || o.FeeRateBps > 10000 {
		return fmt.Errorf("sandbox: fee rate %d bps out of 0..10000", o.FeeRateBps)
	}
	if o.FeeRateBps == 0 {
		o.FeeRateBps = 30
	}
	for name, p := range map[string]float64{
		"failure rate": o.FailureRate, "timeout rate": o.TimeoutRate,
		"duplicate callbacks": o.DuplicateCallbacks, "drop callbacks": o.DropCallbacks,
		"statement drop rate": o.StatementDropRate, "statement amount skew rate": o.StatementAmountSkewRate,
		"system error rate": o.SystemErrorRate,
	} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("sandbox: %s %v out of 0..1", name, p)
		}
	}
	for name, d := range map[string]time.Duration{
		"auto-pay": o.AutoPay, "refund delay": o.RefundDelay, "latency": o.Latency,
		"timeout hang": o.TimeoutHang, "callback delay": o.CallbackDelay, "callback timeout": o.CallbackTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("sandbox: %s %v is negative", name, d)
		}
	}
	if o.CallbackMaxAttempts < 0 || o.CallbackWorkers < 0 {
		return errors.New("sandbox: callback attempts and workers must not be negative")
	}
	if o.ChannelName == "" {
		o.ChannelName = "sandbox"
	}
	if o.TradeNoPrefix == "" {
		o.TradeNoPrefix = "SBX"
	}
	if o.RefundNoPrefix == "" {
		o.RefundNoPrefix = "SBXR"
	}
	if o.RefundDelay == 0 {
		o.RefundDelay = time.Second
	}
	if o.TimeoutHang == 0 {
		o.TimeoutHang = 30 * time.Second
	}
	if len(o.CallbackBackoff) == 0 {
		o.CallbackBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 15 * time.Second,
			30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if o.CallbackMaxAttempts == 0 {
		o.CallbackMaxAttempts = 20
	}
	if o.CallbackWorkers == 0 {
		o.CallbackWorkers = 64
	}
	if o.CallbackTimeout == 0 {
		o.CallbackTimeout = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600) // no tzdata: China has had no DST since 1991
		}
		o.Location = loc
	}
	return nil
}

// Server is the simulated third-party channel. Its state lives in memory behind one mutex that is
// never held across I/O.
type Server struct {
	opts   Options
	secret []byte
	seed   uint64
	log    zerolog.Logger

	mu              sync.Mutex
	seq             uint64
	changed         changes           // what the state file has not got yet
	trades          map[string]*trade // by out_trade_no
	tradesByNo      map[string]*trade // by trade_no
	refunds         map[string]*refund
	agreements      map[string]*agreement // by agreement_no
	agreementsByOut map[string]*agreement
	injections      []Injection

	sched      scheduler
	client     *http.Client
	stopping   chan struct{}
	stopOnce   sync.Once
	runStarted sync.Once
}

// NewServer validates opts, loads the state file if any, and returns a server. Call Run to send
// callbacks, complete refunds and auto-pay; Handler serves the HTTP API.
func NewServer(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:            opts,
		secret:          []byte(opts.Secret),
		seed:            opts.Seed,
		log:             opts.Logger.With().Str("component", "sandbox").Logger(),
		trades:          map[string]*trade{},
		tradesByNo:      map[string]*trade{},
		refunds:         map[string]*refund{},
		agreements:      map[string]*agreement{},
		agreementsByOut: map[string]*agreement{},
		stopping:        make(chan struct{}),
	}
	if s.seed == 0 {
		s.seed = rand.Uint64()
	}
	s.sched.init()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	s.client = &http.Client{Transport: tr, Timeout: opts.CallbackTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// chance decides an event of probability p, repeatably for the same seed and parts: the draw
// comes from a math/rand/v2 PCG source seeded with the server's seed and a hash of parts, so it
// does not depend on the order of concurrent requests (and allocates nothing).
func (s *Server) chance(p float64, parts ...string) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	const offset64, prime64 = 14695981039346656037, 1099511628211 // FNV-1a
	h := uint64(offset64)
	for _, x := range parts {
		for i := 0; i < len(x); i++ {
			h ^= uint64(x[i])
			h *= prime64
		}
		h *= prime64 // separator
	}
	var src rand.PCG
	src.Seed(s.seed, h)
	return float64(src.Uint64()>>11)/(1<<53) < p
}

// Handler returns the sandbox's HTTP handler: the signed JSON API, the cashier pages and the
// statements.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathPay, s.api(s.handlePay))
	mux.HandleFunc("POST "+PathQueryPayment, s.api(s.handleQueryPayment))
	mux.HandleFunc("POST "+PathClose, s.api(s.handleClose))
	mux.HandleFunc("POST "+PathRefund, s.api(s.handleRefund))
	mux.HandleFunc("POST "+PathQueryRefund, s.api(s.handleQueryRefund))
	mux.HandleFunc("POST "+PathSignAgreement, s.api(s.handleSign))
	mux.HandleFunc("POST "+PathTerminateAgreement, s.api(s.handleTerminate))
	mux.HandleFunc("POST "+PathQueryAgreement, s.api(s.handleQueryAgreement))
	mux.HandleFunc("POST "+PathInject, s.api(s.handleInject))
	mux.HandleFunc("GET /cashier/{trade_no}", s.handleCashierGet)
	mux.HandleFunc("POST /cashier/{trade_no}", s.handleCashierPost)
	mux.HandleFunc("GET /statements/{file}", s.handleStatement)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

// apiCall is a decoded, verified API request.
type apiCall struct {
	r    *http.Request
	body []byte
	hang bool // set by the handler: hang instead of answering (TimeoutRate)
}

// decode unmarshals the body into v.
func (c *apiCall) decode(v any) *apiError {
	if err := json.Unmarshal(c.body, v); err != nil {
		return badRequest("body: %v", err)
	}
	return nil
}

const maxBody = 64 << 10

// api wraps a JSON handler: body limit, signature check, latency, hang, encoding.
func (s *Server) api(h func(*apiCall) (any, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, wireError{CodeInvalidRequest, "body too large or unreadable"})
			return
		}
		if err := verify(s.secret, r.Header, r.Method, r.URL.RequestURI(), time.Now(), body); err != nil {
			writeJSON(w, http.StatusUnauthorized, wireError{CodeBadSignature, err.Error()})
			return
		}
		c := &apiCall{r: r, body: body}
		out, aerr := h(c)
		if c.hang {
			s.wait(r, s.opts.TimeoutHang)
			return // the client has given up; if it has not, it gets an empty 200 it cannot parse
		}
		if s.opts.Latency > 0 && !s.wait(r, s.opts.Latency) {
			return
		}
		if aerr != nil {
			writeJSON(w, aerr.status, wireError{aerr.code, aerr.message})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// wait sleeps for d unless the request or the server ends first; it reports whether d passed.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.stopping:
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal","message":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// now returns business time.
func (s *Server) now() time.Time { return s.opts.Clock() }

// nextNo returns a new channel number like SBX20261122000001; callers hold s.mu.
func (s *Server) nextNo(prefix string, now time.Time) string {
	s.seq++
	return fmt.Sprintf("%s%s%06d", prefix, now.In(s.opts.Location).Format("20060102"), s.seq)
}

// notifyURL picks the callback URL of an object.
func (s *Server) notifyURL(u string) string {
	if u != "" {
		return u
	}
	if s.opts.GatewayURL == "" {
		return ""
	}
	if p, err := url.Parse(s.opts.GatewayURL); err == nil && strings.Trim(p.Path, "/") != "" {
		return s.opts.GatewayURL
	}
	return strings.TrimRight(s.opts.GatewayURL, "/") + "/v1/channels/" + url.PathEscape(s.opts.ChannelName) + "/notify"
}

// baseURL is the sandbox's public base URL as seen by r.
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

func (s *Server) handlePay(c *apiCall) (any, *apiError) {
	var req payRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	expires, err := parseTime(req.ExpireTime)
	if err != nil {
		return nil, badRequest("expire_time: %v", err)
	}
	t, hang, aerr := s.pay(s.baseURL(c.r), PayInput{OutTradeNo: req.OutTradeNo, Amount: req.Amount, Currency: req.Currency,
		PayMethod: req.PayMethod, Subject: req.Subject, NotifyURL: req.NotifyURL, ReturnURL: req.ReturnURL,
		ExpiresAt: expires, AgreementNo: req.AgreementNo})
	c.hang = hang
	if aerr != nil {
		return nil, aerr
	}
	if s.chance(s.opts.SystemErrorRate, "syserr", req.OutTradeNo) {
		return nil, &apiError{http.StatusInternalServerError, CodeInternal, "system error (simulated); the trade may exist: query it"}
	}
	return t.wire(), nil
}

// pay creates (or answers again) a trade; base is the sandbox's public URL for pay_url. It
// reports whether the answer should hang (TimeoutRate) after the trade was recorded.
func (s *Server) pay(base string, req PayInput) (trade, bool, *apiError) {
	if e := checkID("out_trade_no", req.OutTradeNo); e != nil {
		return trade{}, false, e
	}
	if req.Amount <= 0 {
		return trade{}, false, badRequest("amount must be positive minor units")
	}
	if _, err := money.ParseCurrency(req.Currency); err != nil {
		return trade{}, false, badRequest("currency: %v", err)
	}
	if !isRedirect(req.PayMethod) && !isAgreementPay(req.PayMethod) {
		return trade{}, false, badRequest("pay_method %q is not offered", req.PayMethod)
	}
	if len(req.Subject) > 256 {
		return trade{}, false, badRequest("subject longer than 256 bytes")
	}
	expires := req.ExpiresAt
	for _, u := range []string{req.NotifyURL, req.ReturnURL} {
		if u != "" {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") {
				return trade{}, false, badRequest("url %q is not an http(s) URL", u)
			}
		}
	}

	now := s.now()
	declined := s.chance(s.opts.FailureRate, "fail", req.OutTradeNo)
	hang := s.chance(s.opts.TimeoutRate, "timeout", req.OutTradeNo)

	s.mu.Lock()
	if t, ok := s.trades[req.OutTradeNo]; ok {
		defer s.mu.Unlock()
		if t.Tombstone {
			return *t, false, nil
		}
		if t.Amount != req.Amount || t.Currency != req.Currency || t.PayMethod != req.PayMethod {
			return trade{}, false, &apiError{http.StatusConflict, CodeConflict, "out_trade_no already used with other fields"}
		}
		if t.expire(now) {
			s.touchTrade(t)
		}
		if t.Code != "" {
			return trade{}, false, &apiError{http.StatusPaymentRequired, t.Code, t.Reason}
		}
		return *t, false, nil
	}
	t := &trade{
		OutTradeNo: req.OutTradeNo, Amount: req.Amount, Currency: req.Currency, PayMethod: req.PayMethod,
		Subject: req.Subject, NotifyURL: req.NotifyURL, ReturnURL: req.ReturnURL, AgreementNo: req.AgreementNo,
		CreatedAt: now, ExpiresAt: expires, Status: channel.StatusProcessing, Payer: req.Payer,
	}
	t.TradeNo = s.nextNo(s.opts.TradeNoPrefix, now)
	s.trades[t.OutTradeNo] = t
	s.tradesByNo[t.TradeNo] = t
	s.touchTrade(t)
	var aerr *apiError
	switch {
	case isAgreementPay(req.PayMethod) && req.AgreementNo == "":
		aerr = &apiError{http.StatusPaymentRequired, CodeAgreementInvalid, "agreement_no is required for " + req.PayMethod}
	case isAgreementPay(req.PayMethod) && (s.agreements[req.AgreementNo] == nil || s.agreements[req.AgreementNo].Status != agreementActive):
		aerr = &apiError{http.StatusPaymentRequired, CodeAgreementInvalid, "agreement is unknown or terminated"}
	case declined:
		aerr = &apiError{http.StatusPaymentRequired, CodeDeclined, "declined by the issuer (simulated)"}
	}
	var cb bool
	switch {
	case aerr != nil:
		t.Status, t.Code, t.Reason = channel.StatusFailed, aerr.code, aerr.message
	case isRedirect(t.PayMethod):
		t.PayURL = base + "/cashier/" + t.TradeNo
	default:
		cb = s.succeedLocked(t, now)
	}
	out := *t
	notify := s.notifyURL(t.NotifyURL)
	s.mu.Unlock()

	if cb && notify != "" {
		s.schedule(&task{kind: taskCallback, cbKind: "payment", key: t.OutTradeNo, url: notify}, s.opts.CallbackDelay)
	}
	if aerr == nil && isRedirect(t.PayMethod) && s.opts.AutoPay > 0 {
		s.schedule(&task{kind: taskAutoPay, key: t.OutTradeNo}, s.opts.AutoPay)
	}
	if aerr != nil {
		return trade{}, hang, aerr
	}
	return out, hang, nil
}

// succeedLocked marks a processing trade paid; callers hold s.mu. It reports whether it did.
func (s *Server) succeedLocked(t *trade, now time.Time) bool {
	if t.Status != channel.StatusProcessing {
		return false
	}
	fee, err := money.Bps(t.Amount, s.opts.FeeRateBps)
	if err != nil {
		fee = 0 // unreachable: amount × ≤10000 bps ÷ 10000 never overflows after MulDivHalfUp's big path
	}
	t.Status, t.PaidAt, t.Fee = channel.StatusSucceeded, now, fee
	s.touchTrade(t)
	return true
}

// payTrade pays a redirect trade (cashier form or auto-pay). It returns the trade's state.
func (s *Server) payTrade(tradeNo string, byOut bool) (trade, bool) {
	now := s.now()
	s.mu.Lock()
	var t *trade
	if byOut {
		t = s.trades[tradeNo]
	} else {
		t = s.tradesByNo[tradeNo]
	}
	if t == nil || t.Tombstone {
		s.mu.Unlock()
		return trade{}, false
	}
	if t.expire(now) {
		s.touchTrade(t)
	}
	cb := s.succeedLocked(t, now)
	out := *t
	notify := s.notifyURL(t.NotifyURL)
	s.mu.Unlock()
	if cb && notify != "" {
		s.schedule(&task{kind: taskCallback, cbKind: "payment", key: out.OutTradeNo, url: notify}, s.opts.CallbackDelay)
	}
	return out, true
}

func (s *Server) handleQueryPayment(c *apiCall) (any, *apiError) {
	var req outTradeNoRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	if e := checkID("out_trade_no", req.OutTradeNo); e != nil {
		return nil, e
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[req.OutTradeNo]
	if !ok {
		return wireTrade{OutTradeNo: req.OutTradeNo, Status: string(channel.StatusNotFound)}, nil
	}
	if t.expire(now) {
		s.touchTrade(t)
	}
	return t.wire(), nil
}

func (s *Server) handleClose(c *apiCall) (any, *apiError) {
	var req outTradeNoRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	t, aerr := s.close(req.OutTradeNo)
	if aerr != nil {
		return nil, aerr
	}
	return t.wire(), nil
}

func (s *Server) close(outTradeNo string) (trade, *apiError) {
	if e := checkID("out_trade_no", outTradeNo); e != nil {
		return trade{}, e
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[outTradeNo]
	if !ok {
		// Remember the id, so that a pay request still in flight cannot create it later.
		t = &trade{OutTradeNo: outTradeNo, Status: channel.StatusClosed, Tombstone: true,
			CreatedAt: now, Reason: "closed before payment"}
		s.trades[t.OutTradeNo] = t
		s.touchTrade(t)
		return *t, nil
	}
	if t.expire(now) {
		s.touchTrade(t)
	}
	switch t.Status {
	case channel.StatusSucceeded:
		return trade{}, &apiError{http.StatusConflict, CodeAlreadyPaid, "trade " + t.TradeNo + " is paid"}
	case channel.StatusProcessing:
		t.Status, t.Reason = channel.StatusClosed, "closed by merchant"
		s.touchTrade(t)
	}
	return *t, nil
}

func (s *Server) handleRefund(c *apiCall) (any, *apiError) {
	var req refundRequest
	if e := c.decode(&req); e != nil {
		return refund{}, e
	}
	r, aerr := s.refund(req)
	if aerr != nil {
		return nil, aerr
	}
	return r.wire(), nil
}

func (s *Server) refund(req refundRequest) (refund, *apiError) {
	if e := checkID("out_refund_no", req.OutRefundNo); e != nil {
		return refund{}, e
	}
	if req.OutTradeNo == "" && req.TradeNo == "" {
		return refund{}, badRequest("out_trade_no or trade_no is required")
	}
	if req.Amount <= 0 {
		return refund{}, badRequest("amount must be positive minor units")
	}
	now := s.now()
	s.mu.Lock()
	if r, ok := s.refunds[req.OutRefundNo]; ok {
		defer s.mu.Unlock()
		if r.Amount != req.Amount || (req.OutTradeNo != "" && r.OutTradeNo != req.OutTradeNo) {
			return refund{}, &apiError{http.StatusConflict, CodeConflict, "out_refund_no already used with other fields"}
		}
		return *r, nil
	}
	t := s.trades[req.OutTradeNo]
	if t == nil {
		t = s.tradesByNo[req.TradeNo]
	}
	var aerr *apiError
	switch {
	case t == nil || t.Tombstone:
		aerr = &apiError{http.StatusNotFound, CodeNotFound, "no such trade"}
	case t.Status != channel.StatusSucceeded:
		aerr = &apiError{http.StatusConflict, CodeConflict, "trade is " + string(t.Status) + ", not paid"}
	case req.Currency != "" && req.Currency != t.Currency:
		aerr = badRequest("currency %s differs from the trade's %s", req.Currency, t.Currency)
	case req.Amount > t.Amount-t.Refunded:
		aerr = &apiError{http.StatusUnprocessableEntity, CodeExceedsAmount,
			fmt.Sprintf("refund %d exceeds the refundable %d", req.Amount, t.Amount-t.Refunded)}
	}
	if aerr != nil {
		s.mu.Unlock()
		return refund{}, aerr
	}
	var fee int64
	if t.Refunded+req.Amount == t.Amount {
		fee = t.Fee - t.FeeReturned // the refund completing a full refund returns what is left
	} else {
		f, err := money.MulDivHalfUp(t.Fee, req.Amount, t.Amount)
		if err != nil {
			s.mu.Unlock()
			return refund{}, &apiError{http.StatusInternalServerError, CodeInternal, "fee: " + err.Error()}
		}
		fee = f
	}
	r := &refund{
		OutRefundNo: req.OutRefundNo, RefundNo: s.nextNo(s.opts.RefundNoPrefix, now), OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo,
		Amount: req.Amount, Currency: t.Currency, Fee: fee, Status: channel.StatusProcessing, Reason: req.Reason,
		NotifyURL: req.NotifyURL, CreatedAt: now, DueAt: time.Now().Add(s.opts.RefundDelay),
	}
	t.Refunded += req.Amount
	t.FeeReturned += fee
	s.refunds[r.OutRefundNo] = r
	s.touchTrade(t)
	s.touchRefund(r)
	out := *r
	s.mu.Unlock()
	s.schedule(&task{kind: taskRefund, key: r.OutRefundNo}, s.opts.RefundDelay)
	return out, nil
}

// completeRefund makes a processing refund succeed and schedules its callback.
func (s *Server) completeRefund(outRefundNo string) {
	now := s.now()
	s.mu.Lock()
	r := s.refunds[outRefundNo]
	if r == nil || r.Status != channel.StatusProcessing {
		s.mu.Unlock()
		return
	}
	r.Status, r.SucceededAt = channel.StatusSucceeded, now
	s.touchRefund(r)
	notify := s.notifyURL(r.NotifyURL)
	s.mu.Unlock()
	if notify != "" {
		s.schedule(&task{kind: taskCallback, cbKind: "refund", key: outRefundNo, url: notify}, s.opts.CallbackDelay)
	}
}

func (s *Server) handleQueryRefund(c *apiCall) (any, *apiError) {
	var req outRefundNoRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	if e := checkID("out_refund_no", req.OutRefundNo); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[req.OutRefundNo]
	if !ok {
		return wireRefund{OutRefundNo: req.OutRefundNo, Status: string(channel.StatusNotFound)}, nil
	}
	return r.wire(), nil
}

func (s *Server) handleSign(c *apiCall) (any, *apiError) {
	var req signRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	if e := checkID("out_agreement_no", req.OutAgreementNo); e != nil {
		return nil, e
	}
	if !isAgreementPay(req.PayMethod) {
		return nil, badRequest("pay_method %q takes no agreement", req.PayMethod)
	}
	if strings.TrimSpace(req.PayerName) == "" || len(req.PayerName) > 128 {
		return nil, badRequest("payer_name must have 1..128 bytes")
	}
	if !allDigits(req.AccountNo) || len(req.AccountNo) < 8 || len(req.AccountNo) > 32 {
		return nil, badRequest("account_no must be 8..32 digits")
	}
	if req.Phone != "" && (!allDigits(req.Phone) || len(req.Phone) < 7 || len(req.Phone) > 15) {
		return nil, badRequest("phone must be 7..15 digits")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.agreementsByOut[req.OutAgreementNo]; ok {
		if a.PayMethod != req.PayMethod || a.AccountMasked != maskAccount(req.AccountNo) {
			return nil, &apiError{http.StatusConflict, CodeConflict, "out_agreement_no already used with other fields"}
		}
		return a.wire(), nil
	}
	a := &agreement{
		AgreementNo: s.nextNo("SBXA", now), OutAgreementNo: req.OutAgreementNo, PayMethod: req.PayMethod,
		Status: agreementActive, PayerName: req.PayerName, AccountMasked: maskAccount(req.AccountNo),
		PhoneMasked: maskPhone(req.Phone), CreatedAt: now,
	}
	s.agreements[a.AgreementNo] = a
	s.agreementsByOut[a.OutAgreementNo] = a
	s.touchAgreement(a)
	return a.wire(), nil
}

// handleQueryAgreement answers an agreement by the gateway's out_agreement_no: what a gateway
// that lost the answer to a sign request asks.
func (s *Server) handleQueryAgreement(c *apiCall) (any, *apiError) {
	var req outAgreementNoRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	if e := checkID("out_agreement_no", req.OutAgreementNo); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreementsByOut[req.OutAgreementNo]
	if !ok {
		return wireAgreement{OutAgreementNo: req.OutAgreementNo, Status: string(channel.StatusNotFound)}, nil
	}
	return a.wire(), nil
}

func (s *Server) handleTerminate(c *apiCall) (any, *apiError) {
	var req agreementNoRequest
	if e := c.decode(&req); e != nil {
		return nil, e
	}
	if e := checkID("agreement_no", req.AgreementNo); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agreements[req.AgreementNo]
	if !ok {
		return nil, &apiError{http.StatusNotFound, CodeNotFound, "no such agreement"}
	}
	if a.Status != agreementTerminated {
		a.Status = agreementTerminated
		s.touchAgreement(a)
	}
	return a.wire(), nil
}

func (s *Server) handleInject(c *apiCall) (any, *apiError) {
	var in Injection
	if e := c.decode(&in); e != nil {
		return nil, e
	}
	out, aerr := s.inject(in)
	if aerr != nil {
		return nil, aerr
	}
	return out, nil
}

func (s *Server) inject(in Injection) (Injection, *apiError) {
	switch in.Kind {
	case InjectDrop, InjectAmount, InjectFee, InjectDuplicate:
		if in.OutTradeNo == "" && in.OutRefundNo == "" {
			return Injection{}, badRequest("%s needs out_trade_no or out_refund_no", in.Kind)
		}
	case InjectExtra:
		if in.Date != "" {
			if _, err := time.Parse(time.DateOnly, in.Date); err != nil {
				return Injection{}, badRequest("date %q is not YYYY-MM-DD", in.Date)
			}
		}
		if in.Currency != "" && !money.Currency(in.Currency).Valid() {
			return Injection{}, badRequest("currency %q is not supported", in.Currency)
		}
		if in.Amount < 0 {
			return Injection{}, badRequest("amount must not be negative")
		}
	default:
		return Injection{}, badRequest("kind %q is not one of drop, amount, fee, duplicate, extra", in.Kind)
	}
	if in.Delta == 0 {
		in.Delta = 1
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Kind == InjectExtra {
		if in.Date == "" {
			in.Date = now.In(s.opts.Location).Format(time.DateOnly)
		}
		if in.Amount == 0 {
			in.Amount = 100
		}
		if in.Currency == "" {
			in.Currency = "CNY"
		}
		if in.OutTradeNo == "" {
			in.OutTradeNo = fmt.Sprintf("phantom_%d", len(s.injections)+1)
		}
	}
	s.injections = append(s.injections, in)
	return in, nil
}
