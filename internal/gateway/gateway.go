// Package gateway holds paygw's online use cases (DESIGN.md §2): authenticate, validate ∥ risk,
// route, record, call the channel, update, notify — for payments, refunds, agreements and
// channel callbacks — and the sweeper that resolves unknown outcomes, expires unpaid payments and
// purges what need not be kept (expired nonces, delivered notifications past notify.retention).
// State changes go through store's compare-and-set transitions, which post the ledger journal
// and write the merchant notification in the same transaction.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sign"
	"github.com/paygw/paygw/internal/store"
)

// Service is the online gateway.
type Service struct {
	store    *store.Store
	cfg      *config.Config
	channels *channel.Registry
	router   *Router
	risk     *Risk
	log      zerolog.Logger
	now      func() time.Time
	metrics  *Metrics
	secrets  secretCache
	// agreements keeps the active agreements payments named (agreementCache).
	agreements agreementCache
	purge      purgeBounds
	// paying holds the payments this process is paying at a channel right now (id → a channel
	// closed once the call's outcome is recorded): a callback for one of them waits for that
	// instead of racing it for the payment's row (see applyCallback).
	paying sync.Map
	// done remembers the payments this process recorded final, for callbacks confirming them.
	done finished
}

// purgeBounds are the retention purge's batch size, batches per pass and pass intervals, and the
// nonce purge's batch size and batches per pass: the constants below, smaller in tests.
type purgeBounds struct {
	batch, batches           int
	every, catchUp           time.Duration
	nonceBatch, nonceBatches int
}

// secretCache keeps merchants' verification secrets for a moment: every request needs them, and
// reading and decrypting them per request is a database round trip. A rotation keeps the old
// secret valid for its grace period, so a short cache never refuses a correctly signed request
// for long (at most secretTTL after a rotation, for a request signed with the new secret).
type secretCache = expiring[string, []string]

const secretTTL = 2 * time.Second

func (g *Service) merchantSecrets(ctx context.Context, merchantID string, now time.Time) ([]string, error) {
	if secrets, ok := g.secrets.get(merchantID, now); ok {
		return secrets, nil
	}
	secrets, err := g.store.MerchantSecrets(ctx, merchantID, now)
	if err != nil {
		return nil, err
	}
	g.secrets.put(merchantID, secrets, now.Add(secretTTL))
	return secrets, nil
}

// Options configure New.
type Options struct {
	Now     func() time.Time
	Log     zerolog.Logger
	Metrics *Metrics // nil: a private, unregistered set
}

// New builds the gateway over a store, the config and the channel registry.
func New(s *store.Store, cfg *config.Config, chs *channel.Registry, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	r, err := NewRouter(cfg, chs, opts.Metrics)
	if err != nil {
		return nil, err
	}
	// A channel that queries refunds by payment and refund (Alipay's fastpay.refund.query) is told
	// how to find a refund's payment.
	for _, name := range chs.Names() {
		ch, _ := chs.Get(name)
		if rp, ok := ch.(interface {
			SetRefundPayment(func(context.Context, string) (string, error))
		}); ok {
			rp.SetRefundPayment(func(ctx context.Context, refundID string) (string, error) {
				rf, err := s.GetRefund(ctx, refundID)
				return rf.PaymentID, err
			})
		}
	}
	return &Service{
		store: s, cfg: cfg, channels: chs, router: r, risk: NewRisk(cfg.Risk, s, s.Keys(), cfg.Location()),
		log: opts.Log.With().Str("component", "gateway").Logger(), now: opts.Now, metrics: opts.Metrics,
		purge: purgeBounds{batch: purgeBatch, batches: purgeBatches, every: purgeEvery, catchUp: purgeCatchUp,
			nonceBatch: nonceBatch, nonceBatches: nonceBatches},
	}, nil
}

// Router exposes the router (breaker state for metrics and tests).
func (g *Service) Router() *Router { return g.router }

// Auth is a signed request's credentials (API.md "Authentication").
type Auth struct {
	MerchantID string
	Timestamp  string
	Nonce      string
	Signature  string
	Method     string
	Path       string // path with query
	Body       []byte
	// DeferNonce leaves the nonce to the use case, which records it in its own transaction
	// (one commit less on the create-payment path); Authenticate returns it unrecorded.
	DeferNonce bool
}

// Nonce is a verified request's nonce not yet recorded.
type Nonce struct {
	MerchantID string
	Value      string
	Expires    time.Time
}

// Window is how far a request's timestamp may be from server time.
const Window = 300 * time.Second

// Authenticate verifies a merchant request: known merchant, timestamp within ±300 s, signature
// under the current (or, during rotation, previous) secret, nonce not seen in the window —
// recorded in the database so every replica shares it. Checks are in that order so an
// unsigned request can never burn a nonce.
func (g *Service) Authenticate(ctx context.Context, a Auth) (*Nonce, error) {
	if a.MerchantID == "" || a.Timestamp == "" || a.Nonce == "" || a.Signature == "" {
		return nil, paygw.Errorf(paygw.CodeInvalidSignature, "missing Paygw-Merchant, Paygw-Timestamp, Paygw-Nonce or Paygw-Signature header")
	}
	if !validNonce(a.Nonce) {
		return nil, paygw.Errorf(paygw.CodeInvalidSignature, "Paygw-Nonce must be 8 to 64 characters of [A-Za-z0-9_-]")
	}
	ts, err := parseUnix(a.Timestamp)
	if err != nil {
		return nil, paygw.Errorf(paygw.CodeTimestampOutOfWindow, "Paygw-Timestamp must be unix seconds")
	}
	now := g.now()
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return nil, paygw.Errorf(paygw.CodeTimestampOutOfWindow, "Paygw-Timestamp is %ds from server time (window ±300s)", int64(d/time.Second))
	}
	secrets, err := g.merchantSecrets(ctx, a.MerchantID, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, paygw.Errorf(paygw.CodeUnknownMerchant, "unknown merchant")
	}
	if errors.Is(err, store.ErrMerchantSuspended) {
		return nil, paygw.Errorf(paygw.CodeMerchantSuspended, "merchant is suspended; contact the platform operator")
	}
	if err != nil {
		return nil, err
	}
	if !sign.Verify(secrets, sign.Canonical(a.Method, a.Path, ts, a.Nonce, a.Body), a.Signature) {
		return nil, paygw.Errorf(paygw.CodeInvalidSignature, "signature does not match")
	}
	n := &Nonce{MerchantID: a.MerchantID, Value: a.Nonce, Expires: time.Unix(ts, 0).Add(Window + time.Second)}
	if a.DeferNonce {
		return n, nil
	}
	return nil, g.useNonce(ctx, n)
}

var errReplayed = paygw.Errorf(paygw.CodeReplayedNonce, "nonce already used")

// UseNonce records a deferred nonce (nil: nothing to do); a replay is replayed_nonce.
func (g *Service) UseNonce(ctx context.Context, n *Nonce) error {
	if n == nil {
		return nil
	}
	return g.useNonce(ctx, n)
}

// useNonce records a nonce; a nonce seen before within the window is a replay.
func (g *Service) useNonce(ctx context.Context, n *Nonce) error {
	fresh, err := g.store.UseNonce(ctx, n.MerchantID, n.Value, n.Expires, g.now())
	if err != nil {
		return err
	}
	if !fresh {
		return errReplayed
	}
	return nil
}

func validNonce(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func parseUnix(s string) (int64, error) {
	var v int64
	if len(s) == 0 || len(s) > 12 {
		return 0, errors.New("bad timestamp")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad timestamp")
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

// logger is the request's logger (with its request id) when the HTTP layer put one in ctx.
func (g *Service) logger(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		c := l.With().Str("component", "gateway").Logger()
		return &c
	}
	return &g.log
}

// notFound maps store.ErrNotFound to the API's not_found.
func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return paygw.Errorf(paygw.CodeNotFound, "%s not found", what)
	}
	return err
}

// Nonce purge bounds: a batch is one statement (store.PurgeNonces) deleting at most nonceBatch
// nonces of wholly expired slots in key order, so SQLite's writer is held briefly and
// PostgreSQL writes the purge's WAL a little at a time; a pass, every noncePurgeEvery, stops
// after nonceBatches batches: up to 10,000 nonces a second, far more than requests arrive, so a
// pass is one statement at the request rate.
const (
	nonceBatch      = 1000
	nonceBatches    = 10
	noncePurgeEvery = time.Second
)

// PurgeNonces deletes the nonces of wholly expired slots in batches (called by the sweeper). It
// returns how many it deleted and whether it stopped at its bound with more probably left.
func (g *Service) PurgeNonces(ctx context.Context) (purged int, more bool, err error) {
	return purgeInBatches(ctx, g.purge.nonceBatch, g.purge.nonceBatches, func(limit int) (int, error) {
		return g.store.PurgeNonces(ctx, g.now(), limit)
	})
}

// Retention purge bounds (notify.retention). A batch is one transaction of at most purgeBatch
// delivered notifications and their attempts, so it holds its locks (SQLite: the write lock)
// only briefly; a pass stops after purgeBatches batches so it never stalls the sweeper. Passes
// run every purgeEvery, or after purgeCatchUp when the last one stopped at its bound (a backlog,
// e.g. the first passes over a table that was never purged): up to ~2,000 a second then, far
// more than the gateway inserts.
const (
	purgeBatch   = 1000
	purgeBatches = 10
	purgeEvery   = time.Minute
	purgeCatchUp = 5 * time.Second
)

// PurgeNotifications deletes delivered notifications whose delivery is older than
// notify.retention, with their attempts, in batches (called by the sweeper); pending, failed and
// dead ones are kept for replay. It returns how many it deleted and whether it stopped at its
// bound with more probably left. A retention of 0 keeps everything.
func (g *Service) PurgeNotifications(ctx context.Context) (purged int, more bool, err error) {
	keep := g.cfg.Notify.KeepDelivered()
	if keep <= 0 {
		return 0, false, nil
	}
	return purgeInBatches(ctx, g.purge.batch, g.purge.batches, func(limit int) (int, error) {
		now := g.now()
		return g.store.PurgeDeliveredNotifications(ctx, now.Add(-keep), now, limit)
	})
}

// purgeInBatches calls del (one batch of at most limit deletions, its own transaction) up to
// batches times, while each batch comes back full and ctx lives. It returns how many were
// deleted and whether it stopped at its bound with more probably left.
func purgeInBatches(ctx context.Context, limit, batches int, del func(limit int) (int, error)) (purged int, more bool, err error) {
	for range batches {
		n, err := del(limit)
		purged += n
		if err != nil {
			return purged, false, err
		}
		if n < limit {
			return purged, false, nil
		}
		if ctx.Err() != nil {
			return purged, true, ctx.Err()
		}
	}
	return purged, true, nil
}

func (g *Service) channel(name string) (channel.Channel, error) {
	ch, ok := g.channels.Get(name)
	if !ok {
		return nil, fmt.Errorf("channel %q is not configured", name)
	}
	return ch, nil
}

// notifyURL is where a channel calls back.
func (g *Service) notifyURL(channelName string) string {
	return g.cfg.PublicURL + "/v1/channels/" + channelName + "/notify"
}
