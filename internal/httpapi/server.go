// Package httpapi is paygw's HTTP surface (API.md): routes, the middleware chain (request id,
// recovery, access log, metrics, body limit, merchant authentication, per-merchant rate limit),
// JSON answers, the one table from error codes to HTTP statuses, and health and metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/paygw/paygw/internal/api"
	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/trace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
)

// statusOf is the single code → HTTP status table.
var statusOf = map[paygw.Code]int{
	paygw.CodeInvalidRequest:       http.StatusBadRequest,
	paygw.CodeInvalidAmount:        http.StatusBadRequest,
	paygw.CodeUnsupportedPayMethod: http.StatusBadRequest,
	paygw.CodeInvalidSignature:     http.StatusUnauthorized,
	paygw.CodeTimestampOutOfWindow: http.StatusUnauthorized,
	paygw.CodeReplayedNonce:        http.StatusUnauthorized,
	paygw.CodeUnknownMerchant:      http.StatusUnauthorized,
	paygw.CodeRiskRejected:         http.StatusForbidden,
	paygw.CodeMerchantSuspended:    http.StatusForbidden,
	paygw.CodeNotFound:             http.StatusNotFound,
	paygw.CodeIdempotencyConflict:  http.StatusConflict,
	paygw.CodeInvalidState:         http.StatusConflict,
	paygw.CodeRefundExceedsAmount:  http.StatusUnprocessableEntity,
	paygw.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	paygw.CodeRateLimited:          http.StatusTooManyRequests,
	paygw.CodeNoChannelAvailable:   http.StatusServiceUnavailable,
	paygw.CodeInternal:             http.StatusInternalServerError,
}

// Status returns the HTTP status of an error code.
func Status(c paygw.Code) int {
	if s, ok := statusOf[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Checker reports readiness: database reachable and schema current.
type Checker interface {
	Ping(ctx context.Context) error
	SchemaCurrent(ctx context.Context) (bool, error)
}

// Options configure the server.
type Options struct {
	Log          zerolog.Logger
	Registry     *prometheus.Registry // where /metrics collectors live; nil: a new one
	MaxBodyBytes int64                // default 64 KiB
	RateLimit    float64              // requests per second per merchant
	RateBurst    int
	// TrustedProxyHops is how many proxies in front of paygw append to X-Forwarded-For (0: the
	// header is ignored and the peer address is the client).
	TrustedProxyHops int
}

// Server routes HTTP requests to the gateway.
type Server struct {
	g        *gateway.Service
	check    Checker
	log      zerolog.Logger
	reg      *prometheus.Registry
	maxBody  int64
	limit    rate.Limit
	burst    int
	limiters sync.Map // merchant id -> *limiterEntry
	mux      *http.ServeMux
	hops     int
	health   *Health
	metrics  *httpMetrics
}

type limiterEntry struct {
	l    *rate.Limiter
	seen atomic.Int64
}

// New builds the server.
func New(g *gateway.Service, check Checker, opts Options) *Server {
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = 2000
	}
	if opts.RateBurst <= 0 {
		opts.RateBurst = int(opts.RateLimit)
	}
	s := &Server{g: g, check: check, log: opts.Log.With().Str("component", "http").Logger(), reg: opts.Registry,
		maxBody: opts.MaxBodyBytes, limit: rate.Limit(opts.RateLimit), burst: opts.RateBurst, mux: http.NewServeMux(),
		hops: opts.TrustedProxyHops, health: NewHealth(check),
		metrics: newHTTPMetrics(opts.Registry)}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.Handle("POST /v1/payments", s.merchantDeferNonce(s.createPayment))
	m.Handle("GET /v1/payments/{id}", s.merchant(s.getPayment))
	m.Handle("GET /v1/payments", s.merchant(s.findPayment))
	m.Handle("POST /v1/payments/{id}/close", s.merchant(s.closePayment))
	m.Handle("POST /v1/payments/{id}/refunds", s.merchant(s.createRefund))
	m.Handle("GET /v1/refunds/{id}", s.merchant(s.getRefund))
	m.Handle("POST /v1/agreements", s.merchant(s.signAgreement))
	m.Handle("GET /v1/agreements/{id}", s.merchant(s.getAgreement))
	m.Handle("DELETE /v1/agreements/{id}", s.merchant(s.terminateAgreement))
	m.Handle("POST /v1/channels/{channel}/notify", s.body(http.HandlerFunc(s.channelNotify)))
	s.health.Register(m)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, paygw.Errorf(paygw.CodeNotFound, "no route %s %s", capped(r.Method, 16), capped(r.URL.Path, maxLogValue)))
	})
}

// Handler is the whole HTTP handler with the middleware chain.
func (s *Server) Handler() http.Handler { return s.observe(s.mux) }

// SetReady marks the server ready or draining (during shutdown /readyz answers 503).
func (s *Server) SetReady(v bool) { s.health.SetReady(v) }

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyBody
	keyLog
	keyNonce
	keyState
)

// reqState is what inner handlers tell the access log: the middleware that authenticates a
// merchant runs on a derived request, so it records the merchant here rather than in a context
// the access log never sees.
type reqState struct {
	merchant string
}

// knownMethods are the methods metrics and logs name; any other method is "other", so a client
// cannot add label values (series) or long log fields by inventing methods.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true, http.MethodConnect: true,
	http.MethodTrace: true,
}

// methodLabel is r.Method from the closed set of knownMethods, else "other".
func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}

// maxLogValue bounds a client-chosen value (path, user agent) written to a log line.
const maxLogValue = 128

// capped cuts s to at most n bytes of valid UTF-8, marking the cut.
func capped(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// RequestID returns the request's id.
func RequestID(ctx context.Context) string { v, _ := ctx.Value(keyRequestID).(string); return v }

func nonceOf(ctx context.Context) *gateway.Nonce {
	v, _ := ctx.Value(keyNonce).(*gateway.Nonce)
	return v
}

func bodyOf(ctx context.Context) []byte { v, _ := ctx.Value(keyBody).([]byte); return v }

func (s *Server) logger(ctx context.Context) *zerolog.Logger {
	if l, ok := ctx.Value(keyLog).(*zerolog.Logger); ok {
		return l
	}
	return &s.log
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// observe assigns the request id, recovers panics, logs one line and records metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = paygw.NewID("req")
		}
		w.Header().Set("X-Request-Id", id)
		l := s.log.With().Str("request_id", id).Logger()
		st := &reqState{}
		ctx := trace.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := trace.Start(ctx, methodLabel(r.Method), trace.RequestID.String(id))
		ctx = l.WithContext(context.WithValue(context.WithValue(ctx, keyRequestID, id), keyLog, &l))
		ctx = context.WithValue(ctx, keyState, st)
		r = r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				l.Error().Interface("panic", p).Str("path", capped(r.URL.Path, maxLogValue)).Msg("panic")
				if rec.status == 0 {
					s.fail(rec, r, paygw.Errorf(paygw.CodeInternal, "internal error"))
				}
			}
			route := r.Pattern // a registered pattern: a closed set
			if route == "" {
				route = "unmatched"
			}
			method := methodLabel(r.Method)
			d := time.Since(start)
			span.SetName(route)
			span.SetAttributes(attribute.Int("http.response.status_code", rec.status), trace.MerchantID.String(st.merchant))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
			span.End()
			s.metrics.observe(route, method, rec.status, d)
			if route == "GET /metrics" || route == "GET /healthz" || route == "GET /readyz" {
				return
			}
			ev := l.Info()
			if rec.status >= 500 {
				ev = l.Error()
			}
			ev = ev.Str("method", method).Str("route", route).Int("status", rec.status).
				Dur("duration", d).Str("merchant_id", st.merchant)
			if route == "/" { // unmatched requests: say what was asked, briefly
				ev = ev.Str("path", capped(r.URL.Path, maxLogValue)).Str("user_agent", capped(r.UserAgent(), maxLogValue))
			}
			ev.Msg("request")
		}()
		next.ServeHTTP(rec, r)
	})
}

// body reads the request body up to the limit (413 beyond it) into the context.
func (s *Server) body(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody {
			s.fail(w, r, paygw.Errorf(paygw.CodePayloadTooLarge, "body larger than %d bytes", s.maxBody))
			return
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.fail(w, r, paygw.Errorf(paygw.CodePayloadTooLarge, "body larger than %d bytes", s.maxBody))
				return
			}
			s.fail(w, r, paygw.Errorf(paygw.CodeInvalidRequest, "cannot read body"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyBody, b)))
	})
}

// merchant authenticates the request and applies the merchant's rate limit.
func (s *Server) merchant(h func(w http.ResponseWriter, r *http.Request, merchantID string)) http.Handler {
	return s.auth(h, false)
}

// merchantDeferNonce is merchant for a handler that records the nonce in its own transaction.
func (s *Server) merchantDeferNonce(h func(w http.ResponseWriter, r *http.Request, merchantID string)) http.Handler {
	return s.auth(h, true)
}

func (s *Server) auth(h func(w http.ResponseWriter, r *http.Request, merchantID string), deferNonce bool) http.Handler {
	return s.body(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mid := r.Header.Get("Paygw-Merchant")
		nonce, err := s.g.Authenticate(r.Context(), gateway.Auth{
			MerchantID: mid, Timestamp: r.Header.Get("Paygw-Timestamp"), Nonce: r.Header.Get("Paygw-Nonce"),
			Signature: r.Header.Get("Paygw-Signature"), Method: r.Method, Path: r.URL.RequestURI(), Body: bodyOf(r.Context()),
			DeferNonce: deferNonce,
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// Limited after authentication, so nobody can spend another merchant's budget with
		// unsigned requests naming it.
		if !s.allow(mid) {
			w.Header().Set("Retry-After", "1")
			s.fail(w, r, paygw.Errorf(paygw.CodeRateLimited, "rate limit exceeded"))
			return
		}
		if st, ok := r.Context().Value(keyState).(*reqState); ok {
			st.merchant = mid
		}
		ctx := r.Context()
		if nonce != nil {
			ctx = context.WithValue(ctx, keyNonce, nonce)
		}
		r = r.WithContext(ctx)
		h(w, r, mid)
	}))
}

func (s *Server) allow(merchantID string) bool {
	now := time.Now().Unix()
	v, ok := s.limiters.Load(merchantID)
	if !ok {
		v, _ = s.limiters.LoadOrStore(merchantID, &limiterEntry{l: rate.NewLimiter(s.limit, s.burst)})
	}
	e := v.(*limiterEntry)
	e.seen.Store(now)
	return e.l.Allow()
}

// EvictIdleLimiters drops the limiters of merchants idle for longer than idle.
func (s *Server) EvictIdleLimiters(idle time.Duration) {
	cutoff := time.Now().Add(-idle).Unix()
	s.limiters.Range(func(k, v any) bool {
		if v.(*limiterEntry).seen.Load() < cutoff {
			s.limiters.Delete(k)
		}
		return true
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// StatusClientClosedRequest is the status logged and counted for a request whose client went
// away before the answer (nginx's 499; nothing is sent).
const StatusClientClosedRequest = 499

// fail answers an error with API.md's body; internal errors are logged once, here.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client hung up before the answer: nobody reads it, and it is not the server's error
		// (it would count as one in the 5xx alert). 499, as nginx logs it; what the request had
		// already written stands (every write is idempotent on the merchant's keys).
		s.logger(r.Context()).Warn().Err(err).Msg("client closed the request")
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	code := paygw.ErrorCode(err)
	msg := paygw.ErrorMessage(err)
	status := Status(code)
	if status >= 500 && code != paygw.CodeNoChannelAvailable {
		s.logger(r.Context()).Error().Err(err).Str("code", string(code)).Msg("request failed")
	}
	if code == paygw.CodeInternal {
		msg = "internal error"
		if e := new(paygw.Error); errors.As(err, &e) && e.Message != "" {
			msg = e.Message
		}
	}
	writeJSON(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: string(code), Message: msg, RequestID: RequestID(r.Context())}})
}

// clientIP is the caller's address. Behind TrustedProxyHops proxies it is the address the
// outermost trusted proxy saw: the hops-th entry of X-Forwarded-For counted from the right
// (entries further left are the client's own claims and cannot be trusted).
func clientIP(r *http.Request, hops int) string {
	if hops > 0 {
		parts := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		if i := len(parts) - hops; i >= 0 && i < len(parts) {
			if ip := trimSpace(parts[i]); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func trimSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygw_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paygw_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}
