// Package notify delivers merchant notifications from the transactional outbox: workers claim
// due notifications as leases (SKIP LOCKED on PostgreSQL, the single write lock on SQLite),
// POST the frozen, signed body, record every attempt and schedule the next one, then give up
// (dead) when the schedule is exhausted. It also selects notifications for an operator's replay.
//
// Isolation: the claim caps each merchant's in-flight notifications, and each endpoint (scheme
// and host) has its own circuit breaker, so one merchant's dead endpoint neither fills the
// workers nor delays another merchant's notifications. Safety: only http(s), no redirects,
// response bodies read up to a cap, and every dialed address is checked (CheckAddr).
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/sign"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/trace"
)

// Headers of an outgoing notification (API.md).
const (
	HeaderEventID   = "Paygw-Event-Id"
	HeaderTimestamp = "Paygw-Timestamp"
	HeaderSignature = "Paygw-Signature"
)

// drainLimit is how much of a response body beyond the captured bytes is read so the
// connection can be reused; a longer body is cut and its connection closed.
const drainLimit = 64 << 10

// secretTTL is how long a merchant's signing secret is cached by a worker: a rotation reaches
// notifications within this time (the merchant accepts both secrets during the grace period).
const secretTTL = 2 * time.Second

// Worker delivers due notifications. Run it once per process; any number of processes share
// the queue.
type Worker struct {
	s        *store.Store
	cfg      config.Notify
	log      zerolog.Logger
	now      func() time.Time
	id       string
	client   *http.Client
	m        *metrics
	batch    int
	statsDur time.Duration
	// spacing is the least time between two claims of Run while the last one was short, and
	// gather how long the recorder waits for more outcomes after the first (see Run).
	spacing, gather time.Duration

	mu       sync.Mutex
	breakers map[string]*breaker
	secrets  map[string]cachedSecret
}

type cachedSecret struct {
	secret string
	until  time.Time
}

// Option configures a Worker.
type Option func(*Worker)

// WithClock sets the clock that stamps attempts, signs timestamps and schedules retries
// (default time.Now). Lease and schedule tests drive it.
func WithClock(now func() time.Time) Option { return func(w *Worker) { w.now = now } }

// WithID sets the worker's lease holder name (default host/pid/random).
func WithID(id string) Option { return func(w *Worker) { w.id = id } }

// WithHTTPClient replaces the delivery client (default NewClient with the config's address
// policy and timeout). A replacement should keep NewClient's dialer checks.
func WithHTTPClient(c *http.Client) Option { return func(w *Worker) { w.client = c } }

// WithStatsInterval sets how often Run refreshes the queue gauges (default 10s; 0 disables).
func WithStatsInterval(d time.Duration) Option { return func(w *Worker) { w.statsDur = d } }

// NewWorker returns a worker over s with cfg (defaults applied by config.Load), logging to log
// and registering its metrics on reg (nil: not registered).
func NewWorker(s *store.Store, cfg config.Notify, log zerolog.Logger, reg prometheus.Registerer, opts ...Option) *Worker {
	w := &Worker{
		s: s, cfg: withDefaults(cfg), now: time.Now, statsDur: 10 * time.Second, spacing: claimSpacing, gather: recordGather,
		breakers: map[string]*breaker{}, secrets: map[string]cachedSecret{},
	}
	for _, o := range opts {
		o(w)
	}
	if w.id == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		w.id = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if w.client == nil {
		w.client = NewClient(w.cfg.AllowPrivate, w.cfg.Timeout.D())
	}
	w.log = log.With().Str("component", "notify").Str("worker", w.id).Logger()
	w.m = newMetrics(reg)
	w.batch = w.cfg.Workers
	return w
}

// withDefaults fills what config.Load would, for callers that build a config.Notify by hand.
func withDefaults(c config.Notify) config.Notify {
	d := func(v *config.Duration, def time.Duration) {
		if *v <= 0 {
			*v = config.Duration(def)
		}
	}
	if len(c.Schedule) == 0 {
		for _, s := range []time.Duration{15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute,
			10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour,
			3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour} {
			c.Schedule = append(c.Schedule, config.Duration(s))
		}
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.PerMerchant <= 0 {
		c.PerMerchant = 8
	}
	d(&c.Timeout, 10*time.Second)
	d(&c.Lease, time.Minute)
	d(&c.PollInterval, 500*time.Millisecond)
	d(&c.BreakerOpenFor, time.Minute)
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.ResponseCaptureSize <= 0 {
		c.ResponseCaptureSize = 512
	}
	return c
}

// ID is the worker's lease holder name.
func (w *Worker) ID() string { return w.id }

// NextAttempt returns when the attempt after a failed one is due, or ok=false when the
// schedule is exhausted (the notification is dead). retry counts the attempts since the
// schedule (re)started, not counting the failed one: the first attempt is retry 0.
func NextAttempt(schedule []config.Duration, retry int, failedAt time.Time) (time.Time, bool) {
	if retry < 0 || retry >= len(schedule) {
		return time.Time{}, false
	}
	return failedAt.Add(schedule[retry].D()), true
}

// claimSpacing and recordGather batch a queue that trickles. Without them, a worker keeping up
// with a steady stream claimed after every answer and recorded every outcome on its own: at 435
// payments/s on PostgreSQL, ~370 claims and ~225 records a second, one or two notifications
// each, the claims alone ~0.4 ms of database time apiece (BENCHMARKS.md, "Issue 12, fourth
// round"). Now a claim that came back short (the queue is caught up) is followed by the next one
// no sooner than claimSpacing, and the recorder waits up to recordGather after an outcome for
// others to share its statement. A backlog is claimed at once: a full claim is followed
// immediately. One merchant's rate is still bounded by its cap and its endpoint, not by these:
// cap ÷ claimSpacing is 800/s at the default cap of 8.
const (
	claimSpacing = 10 * time.Millisecond
	recordGather = 5 * time.Millisecond
)

// Run delivers until ctx is done: it keeps up to notify.workers deliveries in flight, claiming
// more as slots free up and whenever a batch of attempts is recorded (its leases released: a
// merchant at its cap gets its next notifications the moment its earlier ones are recorded),
// and otherwise every notify.poll_interval. When
// ctx is done it stops claiming and waits for the deliveries in flight, each bounded by the
// request timeout (well within the lease), and records them.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info().Int("concurrency", w.cfg.Workers).Int("per_merchant", w.cfg.PerMerchant).
		Dur("lease", w.cfg.Lease.D()).Msg("notification worker started")
	var inflight atomic.Int64
	// freed wakes the loop when a batch of attempts is recorded: slots are free and leases
	// released. It holds one wake-up, so none is lost between a claim that found a merchant
	// still at its cap and the wait after it.
	freed := make(chan struct{}, 1)
	signal := func() {
		select {
		case freed <- struct{}{}:
		default:
		}
	}
	// attempted: outcomes waiting to be recorded. Their leases still hold them, but they are no
	// longer in flight at the endpoint, so a claim does not count them against the cap: a
	// merchant's next notifications go out as its earlier ones are answered, not recorded.
	var att attemptedSet
	var busyQueue atomic.Bool // the last claim found work
	rec := newRecorder(w, func(recorded []outcome) {
		att.remove(recorded)
		signal()
	})
	go rec.loop()
	if w.statsDur > 0 {
		go w.statsLoop(ctx)
	}
	var wg sync.WaitGroup
	// Deliveries outlive ctx: a shutdown finishes them rather than leave them to the lease.
	dctx := context.WithoutCancel(ctx)
	max := int64(w.cfg.Workers)
	poll := time.NewTimer(0)
	defer poll.Stop()
	wait := func() { // until a slot or a lease frees up, or the next poll
		poll.Reset(w.cfg.PollInterval.D())
		select {
		case <-ctx.Done():
		case <-freed:
		case <-poll.C:
		}
	}
	var next time.Time // after a short claim: no claim before this
	for ctx.Err() == nil {
		free := max - inflight.Load()
		if free < (max+1)/2 { // claim in batches, not one slot at a time
			wait()
			continue
		}
		if d := time.Until(next); d > 0 {
			sleep(ctx, d)
			continue
		}
		w.m.statements.WithLabelValues("claim").Inc()
		ds, err := w.s.ClaimNotifications(ctx, store.ClaimOptions{Holder: w.id, Limit: int(free),
			PerMerchant: w.cfg.PerMerchant, Lease: w.cfg.Lease.D(), Attempted: att.ids()}, w.now())
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error().Err(err).Msg("claim notifications")
				sleep(ctx, w.cfg.PollInterval.D())
			}
			continue
		}
		busyQueue.Store(len(ds) > 0) // an empty queue waits for a record or the poll, not every answer
		inflight.Add(int64(len(ds)))
		for _, lane := range w.lanes(ds) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.runLane(dctx, lane, func(o outcome) {
					att.add(o.d.ID)
					inflight.Add(-1)
					rec.add(o)
					if busyQueue.Load() {
						signal() // a slot freed while work may be waiting for it
					}
				})
			}()
		}
		if int64(len(ds)) < free { // merchants at their cap, or the queue is short or empty: never
			next = time.Now().Add(w.spacing)
			wait() // a plain sleep, which made a merchant at its cap wait a whole poll
		}
	}
	wg.Wait()
	rec.close()
	w.log.Info().Msg("notification worker stopped")
	return nil
}

// RunOnce claims one batch of due notifications, delivers them concurrently and records the
// attempts before returning how many it claimed. Tests and benchmarks step the queue with it.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.m.statements.WithLabelValues("claim").Inc()
	ds, err := w.s.ClaimNotifications(ctx, store.ClaimOptions{Holder: w.id, Limit: w.batch,
		PerMerchant: w.cfg.PerMerchant, Lease: w.cfg.Lease.D()}, w.now())
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	outs := make([]outcome, 0, len(ds))
	var wg sync.WaitGroup
	for _, lane := range w.lanes(ds) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runLane(ctx, lane, func(o outcome) {
				mu.Lock()
				outs = append(outs, o)
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	return len(ds), w.record(ctx, outs)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// outcome is a delivery's result: an attempt to record, or a deferral (breaker open).
type outcome struct {
	res      store.AttemptResult
	deferred bool
	until    time.Time // deferred: due again then
	d        store.Delivery
}

// deliver makes one attempt (unless the endpoint's breaker is open) and schedules the next.
func (w *Worker) deliver(ctx context.Context, d store.Delivery) (o outcome) {
	ctx, span := trace.Start(ctx, "notify.deliver", trace.EventID.String(d.ID), trace.MerchantID.String(d.MerchantID))
	defer func() {
		switch {
		case o.deferred:
			span.SetAttributes(trace.Outcome.String("deferred"))
		case o.res.Delivered:
			span.SetAttributes(trace.Outcome.String("delivered"))
		default:
			span.SetAttributes(trace.Outcome.String("failed"))
		}
		span.End()
	}()
	br := w.breaker(d.URL)
	gen, ok, retry := br.allow(w.now())
	if !ok {
		if retry.IsZero() { // a half-open trial is in flight: look again soon
			retry = w.now().Add(w.cfg.PollInterval.D())
		}
		return outcome{deferred: true, d: d, until: retry}
	}
	res := w.attempt(ctx, d, d.Replay)
	br.done(gen, breakerErr(res) != nil, w.now())
	if !res.Delivered {
		res.NextAttemptAt, _ = NextAttempt(w.cfg.Schedule, d.Retry, w.now())
	}
	return outcome{res: res, d: d}
}

// runLane delivers a lane (lanes), passing each outcome to done. The first delivery goes alone:
// to a non-closed endpoint it is the half-open trial. If the breaker is closed after it, the
// rest go concurrently, as they would have to a healthy endpoint (one after another they could
// outlast their leases behind a slow endpoint); otherwise they go in order, and are deferred at
// once while the breaker is open.
func (w *Worker) runLane(ctx context.Context, lane []store.Delivery, done func(outcome)) {
	done(w.deliver(ctx, lane[0]))
	rest := lane[1:]
	if len(rest) == 0 {
		return
	}
	if !w.breaker(lane[0].URL).closed() {
		for _, d := range rest {
			done(w.deliver(ctx, d))
		}
		return
	}
	var wg sync.WaitGroup
	for _, d := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done(w.deliver(ctx, d))
		}()
	}
	wg.Wait()
}

// lanes splits a claimed batch into what may run concurrently: each delivery to an endpoint
// whose breaker is closed on its own, and the deliveries to each other endpoint in one lane, in
// claim order (oldest due first), so the oldest becomes the half-open trial and the rest follow
// at once when it succeeds, or are deferred when it fails.
func (w *Worker) lanes(ds []store.Delivery) [][]store.Delivery {
	var out [][]store.Delivery
	held := map[string]int{}
	for _, d := range ds {
		if w.breaker(d.URL).closed() {
			out = append(out, []store.Delivery{d})
			continue
		}
		key := endpoint(d.URL)
		if i, ok := held[key]; ok {
			out[i] = append(out[i], d)
			continue
		}
		held[key] = len(out)
		out = append(out, []store.Delivery{d})
	}
	return out
}

// breakerErr is what the endpoint's breaker counts as a failure: no answer in time, or a
// server error. A 4xx is the merchant's answer, not an outage.
func breakerErr(r store.AttemptResult) error {
	if r.Delivered || (r.StatusCode >= 400 && r.StatusCode < 500 && r.StatusCode != 429) {
		return nil
	}
	if r.Error == "" {
		return errors.New("failed")
	}
	return errors.New(r.Error)
}

// attempt POSTs the notification's frozen body, signed with the merchant's current secret.
func (w *Worker) attempt(ctx context.Context, d store.Delivery, manual bool) store.AttemptResult {
	start := w.now()
	r := store.AttemptResult{NotificationID: d.ID, Holder: w.id, Attempt: d.Attempts + 1, Manual: manual, StartedAt: start}
	if err := CheckURL(d.URL, w.cfg.AllowPrivate); err != nil {
		r.Error = err.Error()
		return r
	}
	secret, err := w.secret(ctx, d.MerchantID)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		r.Error = fmt.Sprintf("build request: %v", err)
		return r
	}
	ts := start.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygw-notify/1")
	req.Header.Set(HeaderEventID, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, sign.Notification(secret, ts, d.Body))
	t := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		r.Latency = time.Since(t)
		w.m.latency.Observe(r.Latency.Seconds())
		r.Error = describe(err, w.cfg.Timeout.D())
		return r
	}
	head := make([]byte, w.cfg.ResponseCaptureSize)
	n, _ := io.ReadFull(resp.Body, head)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	resp.Body.Close()
	r.Latency = time.Since(t)
	w.m.latency.Observe(r.Latency.Seconds())
	r.StatusCode = resp.StatusCode
	r.Response = printable(head[:n])
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if ctx.Err() != nil { // the answer came after the deadline
			r.Error = fmt.Sprintf("HTTP %d after the %s timeout", resp.StatusCode, w.cfg.Timeout.D())
			return r
		}
		r.Delivered = true
		return r
	}
	r.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		r.Error += " (redirects are not followed)"
	}
	return r
}

// describe shortens a client error for the attempt record.
func describe(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within %s", timeout)
		}
		err = ue.Err
	}
	return err.Error()
}

// printable makes response bytes storable as text: valid UTF-8 without NULs.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "")
}

// secret returns the merchant's current signing secret, cached for secretTTL.
func (w *Worker) secret(ctx context.Context, merchantID string) (string, error) {
	now := w.now()
	w.mu.Lock()
	c, ok := w.secrets[merchantID]
	w.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.secret, nil
	}
	ss, err := w.s.MerchantSecrets(ctx, merchantID, now)
	if err != nil {
		return "", fmt.Errorf("signing secret: %w", err)
	}
	w.mu.Lock()
	w.secrets[merchantID] = cachedSecret{secret: ss[0], until: now.Add(secretTTL)}
	w.mu.Unlock()
	return ss[0], nil
}

// endpoint is the circuit breaker key of a URL: scheme and host.
func endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

func (w *Worker) breaker(rawURL string) *breaker {
	key := endpoint(rawURL)
	w.mu.Lock()
	defer w.mu.Unlock()
	if b, ok := w.breakers[key]; ok {
		return b
	}
	b := &breaker{name: key, trip: int(w.cfg.BreakerFailures), openFor: w.cfg.BreakerOpenFor.D(),
		onChange: func(name string, from, to breakerState) {
			w.log.Warn().Str("endpoint", name).Str("from", from.String()).Str("to", to.String()).Msg("notification endpoint breaker")
		}}
	w.breakers[key] = b
	return b
}

// record stores outcomes: attempts in one transaction, deferrals as released claims.
func (w *Worker) record(ctx context.Context, outs []outcome) error {
	w.m.statements.WithLabelValues("record").Inc()
	var rs []store.AttemptResult
	// Deferred ones are due again when their breaker reopens: every notification deferred by one
	// open period is due at the same instant (released together), and the claim's
	// (next_attempt_at, id) order makes the oldest one the trial.
	deferred := map[time.Time][]string{}
	for _, o := range outs {
		if o.deferred {
			w.m.deliveries.WithLabelValues(OutcomeDeferred).Inc()
			deferred[o.until] = append(deferred[o.until], o.d.ID)
			continue
		}
		rs = append(rs, o.res)
	}
	for until, ids := range deferred {
		if err := w.s.ReleaseNotifications(ctx, ids, w.id, until, w.now()); err != nil {
			w.log.Error().Err(err).Int("notifications", len(ids)).Msg("release deferred notifications")
		}
	}
	lost, err := w.s.RecordAttempts(ctx, rs, w.now())
	if err != nil {
		return err
	}
	lostSet := make(map[string]bool, len(lost))
	for _, id := range lost {
		lostSet[id] = true
	}
	for _, r := range rs {
		o := OutcomeFailed
		switch {
		case lostSet[r.NotificationID]:
			o = OutcomeLost
			w.log.Warn().Str("event_id", r.NotificationID).Msg("lease lost before the attempt was recorded")
		case r.Delivered:
			o = OutcomeDelivered
		case r.NextAttemptAt.IsZero():
			o = OutcomeDead
			w.log.Warn().Str("event_id", r.NotificationID).Int("attempt", r.Attempt).Str("error", r.Error).Msg("notification dead: schedule exhausted")
		}
		w.m.deliveries.WithLabelValues(o).Inc()
	}
	return nil
}

// attemptedSet holds the ids of Run's attempted, not yet recorded notifications (bounded by
// the recorder's queue and batch).
type attemptedSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (a *attemptedSet) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]struct{}{}
	}
	a.m[id] = struct{}{}
}

func (a *attemptedSet) remove(outs []outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, o := range outs {
		delete(a.m, o.d.ID)
	}
}

func (a *attemptedSet) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.m))
	for id := range a.m {
		out = append(out, id)
	}
	return out
}

// recorder records Run's outcomes in batches: whatever has arrived while the previous batch
// was being written goes in the next transaction (at most 256), so batches grow with load and
// an idle worker records at once. After each batch it calls flushed with the batch (recorded,
// or given up on after retries: their leases run out either way).
type recorder struct {
	w       *Worker
	in      chan outcome
	done    chan struct{}
	flushed func([]outcome)
}

func newRecorder(w *Worker, flushed func([]outcome)) *recorder {
	return &recorder{w: w, in: make(chan outcome, 1024), done: make(chan struct{}), flushed: flushed}
}

func (r *recorder) add(o outcome) { r.in <- o }

func (r *recorder) close() {
	close(r.in)
	<-r.done
}

func (r *recorder) loop() {
	defer close(r.done)
	buf := make([]outcome, 0, 256)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for o := range r.in {
		buf = append(buf[:0], o)
		gather.Reset(r.w.gather)
	more:
		for len(buf) < cap(buf) {
			select {
			case o, ok := <-r.in:
				if !ok {
					break more
				}
				buf = append(buf, o)
			case <-gather.C:
				break more
			}
		}
		gather.Stop()
		r.flush(buf)
		r.flushed(buf)
	}
}

func (r *recorder) flush(buf []outcome) {
	ctx, cancel := context.WithTimeout(context.Background(), r.w.cfg.Lease.D())
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := r.w.record(ctx, buf)
		if err == nil {
			return
		}
		r.w.log.Error().Err(err).Int("n", len(buf)).Msg("record notification attempts")
		if attempt == 3 || ctx.Err() != nil {
			return // the leases run out and the notifications are delivered again
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
}

func (w *Worker) statsLoop(ctx context.Context) {
	t := time.NewTicker(w.statsDur)
	defer t.Stop()
	for {
		w.RefreshStats(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshStats reads the queue's depth and oldest due notification into the gauges.
func (w *Worker) RefreshStats(ctx context.Context) {
	now := w.now()
	st, err := w.s.NotificationQueueStats(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error().Err(err).Msg("notification queue stats")
		}
		return
	}
	w.m.waiting.Set(float64(st.Waiting))
	w.m.due.Set(float64(st.Due))
	age := 0.0
	if !st.OldestDue.IsZero() {
		age = now.Sub(st.OldestDue).Seconds()
	}
	w.m.oldestDue.Set(age)
}
