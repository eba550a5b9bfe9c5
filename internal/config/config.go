// Package config is paygw's configuration file (API.md "Config file"): the Config value, its
// defaults, YAML loading with unknown keys refused, and validation whose errors name the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/paygw/paygw/internal/channel"
	_ "github.com/paygw/paygw/internal/channel/kinds" // every channel kind registers itself
	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/statement"
)

// Duration is a time.Duration written as "15s", "3m", "1h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like 15s: %w", n.Line, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the whole configuration. Every key is optional; Default serves a single-machine demo.
type Config struct {
	Timezone  string              `yaml:"timezone"`
	PublicURL string              `yaml:"public_url"`
	Channels  map[string]*Channel `yaml:"channels"`
	Routing   map[string][]Route  `yaml:"routing"`
	Risk      Risk                `yaml:"risk"`
	Server    Server              `yaml:"server"`
	Sweeper   Sweeper             `yaml:"sweeper"`
	Notify    Notify              `yaml:"notify"`
	Reconcile Reconcile           `yaml:"reconcile"`
	Settle    Settle              `yaml:"settle"`
	Cron      Cron                `yaml:"cron"`
	Tracing   Tracing             `yaml:"tracing"`

	loc *time.Location
}

// Channel is one configured channel.
type Channel struct {
	Kind        string             `yaml:"kind"`
	URL         string             `yaml:"url"`
	Secret      string             `yaml:"secret"`
	PayMethods  []string           `yaml:"pay_methods"`
	FeeRateBps  int64              `yaml:"fee_rate_bps"`
	Timeout     Duration           `yaml:"timeout"`
	Format      string             `yaml:"format"`  // statement format for reconcile; default by kind
	Mapping     *statement.Mapping `yaml:"mapping"` // for format mapped
	Breaker     Breaker            `yaml:"breaker"`
	PublishedAt string             `yaml:"statement_published_at"` // HH:MM local time the bill is ready
	// Keys are the kind's own keys (e.g. wechatpay's mchid): only the kind interprets them
	// (channel.Factory.Configure refuses the ones it does not know).
	Keys map[string]any `yaml:",inline"`

	name      string
	publicURL string
}

// Breaker configures a channel's circuit breaker.
type Breaker struct {
	ConsecutiveFailures uint32   `yaml:"consecutive_failures"`
	OpenFor             Duration `yaml:"open_for"`
}

// Route is one candidate channel for a pay method.
type Route struct {
	Channel    string   `yaml:"channel"`
	Priority   int      `yaml:"priority"` // lower first
	Weight     int      `yaml:"weight"`   // among equal priorities
	MinAmount  int64    `yaml:"min_amount"`
	MaxAmount  int64    `yaml:"max_amount"` // 0 = no maximum
	Currencies []string `yaml:"currencies"` // empty = any
}

// Risk holds the risk rules applied to every payment.
type Risk struct {
	MaxAmount        int64    `yaml:"max_amount"`         // per transaction, minor units; default DefaultMaxAmount
	DailyCap         int64    `yaml:"merchant_daily_cap"` // per merchant per business date; 0 = off
	PayerVelocity    int      `yaml:"payer_velocity"`     // payments per payer within window; 0 = off
	VelocityWindow   Duration `yaml:"payer_velocity_window"`
	BlockedAccounts  []string `yaml:"blocked_payer_accounts"`
	BlockedClientIPs []string `yaml:"blocked_client_ips"` // addresses or CIDRs
}

// Server configures `paygw serve`.
type Server struct {
	RateLimit       float64  `yaml:"merchant_rate_limit"` // requests per second per merchant
	RateBurst       int      `yaml:"merchant_rate_burst"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	ReadTimeout     Duration `yaml:"read_timeout"`
	WriteTimeout    Duration `yaml:"write_timeout"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	// TrustedProxyHops is how many load balancers in front of serve append to X-Forwarded-For
	// (0: ignore the header; the TCP peer is the client).
	TrustedProxyHops int `yaml:"trusted_proxy_hops"`
	// GCPercent is serve's GOGC (default 400, internal/gctune); the GOGC environment variable wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is serve's soft Go memory limit (default: 90 % of the container's cgroup
	// limit, none outside a container); the GOMEMLIMIT environment variable wins.
	MemoryLimitMiB int64 `yaml:"memory_limit_mib"`
}

// Sweeper configures the active query of payments and refunds whose outcome is unknown.
type Sweeper struct {
	Schedule []Duration `yaml:"schedule"`
	// RedirectSchedule is when an unpaid redirect payment (the payer pays on the channel's page,
	// QR code or wallet) is queried, from its creation; the last delay repeats until it expires.
	// A lost callback is found within the first delays instead of at expiry.
	RedirectSchedule []Duration `yaml:"redirect_schedule"`
	Interval         Duration   `yaml:"interval"`
	Batch            int        `yaml:"batch"`
}

// Notify configures merchant notification delivery.
type Notify struct {
	Schedule            []Duration `yaml:"schedule"`
	Workers             int        `yaml:"workers"`
	PerMerchant         int        `yaml:"per_merchant_concurrency"`
	Lease               Duration   `yaml:"lease"`
	Timeout             Duration   `yaml:"timeout"`
	AllowPrivate        bool       `yaml:"allow_private_addresses"`
	PollInterval        Duration   `yaml:"poll_interval"`
	BreakerFailures     uint32     `yaml:"breaker_failures"`
	BreakerOpenFor      Duration   `yaml:"breaker_open_for"`
	ReplayDeadAfter     Duration   `yaml:"replay_dead_after"` // policy for the replay sweep job; 0 = off
	ResponseCaptureSize int        `yaml:"response_capture_bytes"`
	// Retention is how long a delivered notification (and its attempts) is kept after its
	// delivery; the sweeper of `serve` deletes older ones. A pointer because 0 is a value (keep
	// forever), not "unset"; read it with KeepDelivered.
	Retention *Duration `yaml:"retention"`
}

// defaultRetention is notify.retention when the key is absent: 30 days.
const defaultRetention = 30 * 24 * time.Hour

// KeepDelivered is notify.retention: how long delivered notifications are kept; 0 means forever.
func (n Notify) KeepDelivered() time.Duration {
	if n.Retention == nil {
		return defaultRetention
	}
	return n.Retention.D()
}

// Reconcile configures reconciliation.
type Reconcile struct {
	PendingWindow Duration `yaml:"pending_window"` // unmatched items this close to the cutoff are pending
	OutDir        string   `yaml:"out_dir"`
}

// Settle configures settlement.
type Settle struct {
	RequireReconciled *bool  `yaml:"require_reconciled"`
	OutDir            string `yaml:"out_dir"`
}

// Cron overrides job schedules by job name.
type Cron struct {
	Schedules map[string]string `yaml:"schedules"`
}

// Reconciled reports the settle policy require_reconciled (default true).
func (s Settle) Reconciled() bool { return s.RequireReconciled == nil || *s.RequireReconciled }

// Location is the settlement timezone.
func (c *Config) Location() *time.Location { return c.loc }

func durations(ss ...string) []Duration {
	out := make([]Duration, len(ss))
	for i, s := range ss {
		d, _ := time.ParseDuration(s)
		out[i] = Duration(d)
	}
	return out
}

// Default returns the configuration used when no file is given: one sandbox channel on
// 127.0.0.1:9090, API.md's notification schedule, Asia/Shanghai.
func Default() *Config {
	c := &Config{}
	if err := c.finish(); err != nil {
		panic(err) // the defaults are valid by construction; a test keeps them so
	}
	return c
}

// Load reads and validates a YAML config file. An empty path returns Default().
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML (unknown keys refused) and validates it.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// KeyError names the config key that is wrong.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

func keyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// finish applies defaults and validates.
func (c *Config) finish() error {
	if c.Timezone == "" {
		c.Timezone = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return keyErr("timezone", "unknown timezone %q", c.Timezone)
	}
	c.loc = loc
	if c.PublicURL == "" {
		c.PublicURL = "http://127.0.0.1:8080"
	}
	if err := checkURL("public_url", c.PublicURL); err != nil {
		return err
	}
	if c.Channels == nil {
		def := channel.DefaultKind()
		c.Channels = map[string]*Channel{def: {Kind: def}}
	}
	if len(c.Channels) == 0 {
		return keyErr("channels", "at least one channel is needed")
	}
	for _, name := range c.ChannelNames() {
		if err := c.Channels[name].finish("channels."+name, name, c.PublicURL); err != nil {
			return err
		}
	}
	if err := c.finishRouting(); err != nil {
		return err
	}
	if err := c.Risk.finish(); err != nil {
		return err
	}
	if err := c.Server.finish(); err != nil {
		return err
	}
	if len(c.Sweeper.Schedule) == 0 {
		c.Sweeper.Schedule = durations("1m", "5m", "15m", "1h", "6h")
	}
	if err := positive("sweeper.schedule", c.Sweeper.Schedule); err != nil {
		return err
	}
	if len(c.Sweeper.RedirectSchedule) == 0 {
		c.Sweeper.RedirectSchedule = durations("30s", "1m", "2m", "5m")
	}
	if err := positive("sweeper.redirect_schedule", c.Sweeper.RedirectSchedule); err != nil {
		return err
	}
	defDur(&c.Sweeper.Interval, "1s")
	if c.Sweeper.Batch <= 0 {
		c.Sweeper.Batch = 100
	}
	if err := c.Notify.finish(); err != nil {
		return err
	}
	defDur(&c.Reconcile.PendingWindow, "30m")
	if c.Reconcile.PendingWindow < 0 {
		return keyErr("reconcile.pending_window", "must not be negative")
	}
	if c.Reconcile.OutDir == "" {
		c.Reconcile.OutDir = "reports"
	}
	if c.Settle.OutDir == "" {
		c.Settle.OutDir = "reports"
	}
	return c.Tracing.finish()
}

func defDur(d *Duration, s string) {
	if *d == 0 {
		v, _ := time.ParseDuration(s)
		*d = Duration(v)
	}
}

func positive(key string, ds []Duration) error {
	for i, d := range ds {
		if d <= 0 {
			return keyErr(fmt.Sprintf("%s[%d]", key, i), "must be a positive duration")
		}
	}
	return nil
}

func checkURL(key, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr(key, "%q is not an http(s) URL", s)
	}
	return nil
}

// ChannelNames lists the configured channel names, sorted.
func (c *Config) ChannelNames() []string {
	names := make([]string, 0, len(c.Channels))
	for n := range c.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (ch *Channel) finish(key, name, publicURL string) error {
	if ch == nil {
		return keyErr(key, "empty channel")
	}
	ch.name, ch.publicURL = name, publicURL
	if ch.Kind == "" {
		ch.Kind = channel.DefaultKind()
	}
	kind, ok := channel.Lookup(ch.Kind)
	if !ok {
		return keyErr(key+".kind", "unknown kind %q (want one of %s)", ch.Kind, strings.Join(channel.Kinds(), ", "))
	}
	defDur(&ch.Timeout, "5s")
	for i, m := range ch.PayMethods {
		if _, err := paygw.ParsePayMethod(m); err != nil {
			return keyErr(fmt.Sprintf("%s.pay_methods[%d]", key, i), "unknown pay method %q", m)
		}
	}
	// The kind checks its own keys and sets its defaults (url, secret, pay_methods).
	sec := ch.Section()
	if err := kind.Configure(&sec); err != nil {
		var ke *channel.KeyError
		if errors.As(err, &ke) {
			return keyErr(ke.Key, "%s", ke.Msg)
		}
		return err
	}
	ch.URL, ch.Secret, ch.PayMethods = sec.URL, sec.Secret, sec.PayMethods
	if ch.FeeRateBps < 0 || ch.FeeRateBps > 10000 {
		return keyErr(key+".fee_rate_bps", "%d out of range 0..10000", ch.FeeRateBps)
	}
	if ch.Format == "" {
		ch.Format = kind.Format
		if ch.Format == "" {
			ch.Format = name
		}
	}
	if _, err := statement.ParseFormat(ch.Format); err != nil {
		return keyErr(key+".format", "%v", err)
	}
	if ch.Format == "mapped" {
		if ch.Mapping == nil {
			return keyErr(key+".mapping", "format mapped needs a mapping")
		}
		if err := ch.Mapping.Validate(); err != nil {
			return keyErr(key+".mapping", "%v", err)
		}
	}
	if ch.Breaker.ConsecutiveFailures == 0 {
		ch.Breaker.ConsecutiveFailures = 5
	}
	defDur(&ch.Breaker.OpenFor, "30s")
	if ch.PublishedAt == "" {
		ch.PublishedAt = "09:00"
	}
	if _, err := time.Parse("15:04", ch.PublishedAt); err != nil {
		return keyErr(key+".statement_published_at", "%q is not HH:MM", ch.PublishedAt)
	}
	return nil
}

// Online reports whether paygw calls this channel (its kind has an adapter): only online
// channels take payments.
func (ch *Channel) Online() bool {
	k, ok := channel.Lookup(ch.Kind)
	return ok && k.Online()
}

// Section is the channel's configuration as its kind sees it (channel.Build builds the adapter).
func (ch *Channel) Section() channel.Section {
	return channel.Section{Name: ch.name, Kind: ch.Kind, URL: ch.URL, Secret: ch.Secret,
		PayMethods: ch.PayMethods, Timeout: ch.Timeout.D(), PublicURL: ch.publicURL, Keys: ch.Keys}
}

// finishRouting defaults to every online channel for each of its pay methods, and checks routes.
func (c *Config) finishRouting() error {
	if c.Routing == nil {
		c.Routing = map[string][]Route{}
		for _, name := range c.ChannelNames() {
			ch := c.Channels[name]
			if !ch.Online() {
				continue
			}
			for _, m := range ch.PayMethods {
				c.Routing[m] = append(c.Routing[m], Route{Channel: name, Weight: 1, Currencies: []string{"CNY"}})
			}
		}
	}
	for method, routes := range c.Routing {
		key := "routing." + method
		if _, err := paygw.ParsePayMethod(method); err != nil {
			return keyErr(key, "unknown pay method %q", method)
		}
		for i := range routes {
			r := &routes[i]
			rk := fmt.Sprintf("%s[%d]", key, i)
			ch, ok := c.Channels[r.Channel]
			if !ok {
				return keyErr(rk+".channel", "unknown channel %q", r.Channel)
			}
			if !ch.Online() {
				return keyErr(rk+".channel", "channel %q of kind %s cannot take payments", r.Channel, ch.Kind)
			}
			if !contains(ch.PayMethods, method) {
				return keyErr(rk+".channel", "channel %q does not offer %s", r.Channel, method)
			}
			if r.Weight == 0 {
				r.Weight = 1
			}
			if r.Weight < 0 {
				return keyErr(rk+".weight", "must be positive")
			}
			if r.MinAmount > money.MaxAmount || r.MaxAmount > money.MaxAmount {
				return keyErr(rk+".max_amount", "amounts are at most %d (money.MaxAmount)", money.MaxAmount)
			}
			if r.MinAmount < 0 || (r.MaxAmount != 0 && r.MaxAmount < r.MinAmount) {
				return keyErr(rk+".max_amount", "amount range %d..%d is empty", r.MinAmount, r.MaxAmount)
			}
			for j, cur := range r.Currencies {
				if !money.Currency(cur).Valid() {
					return keyErr(fmt.Sprintf("%s.currencies[%d]", rk, j), "unknown currency %q", cur)
				}
			}
		}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// DefaultMaxAmount is risk.max_amount when the config does not set it: 5,000,000 minor units
// (50,000.00 in a 2-decimal currency).
const DefaultMaxAmount int64 = 5_000_000

func (r *Risk) finish() error {
	if r.MaxAmount == 0 {
		r.MaxAmount = DefaultMaxAmount
	}
	if r.MaxAmount < 0 || r.MaxAmount > money.MaxAmount {
		return keyErr("risk.max_amount", "%d out of range 1..%d (money.MaxAmount)", r.MaxAmount, money.MaxAmount)
	}
	if r.DailyCap < 0 || r.DailyCap > money.MaxAmount {
		return keyErr("risk.merchant_daily_cap", "%d out of range 0..%d (0 = off; money.MaxAmount)", r.DailyCap, money.MaxAmount)
	}
	if r.PayerVelocity < 0 {
		return keyErr("risk.payer_velocity", "must not be negative")
	}
	defDur(&r.VelocityWindow, "1h")
	for i, ip := range r.BlockedClientIPs {
		if !validIPOrCIDR(ip) {
			return keyErr(fmt.Sprintf("risk.blocked_client_ips[%d]", i), "%q is not an IP address or CIDR", ip)
		}
	}
	return nil
}

func (s *Server) finish() error {
	if s.GCPercent < 0 {
		return keyErr("server.gc_percent", "must not be negative (0 = the default, 400; GOGC=off is for the environment)")
	}
	if s.MemoryLimitMiB < 0 || s.MemoryLimitMiB > 1<<30 {
		return keyErr("server.memory_limit_mib", "must be 0 to 1073741824 MiB (0 = 90 %% of the container's memory limit, if any)")
	}
	if s.RateLimit == 0 {
		s.RateLimit = 2000
	}
	if s.RateBurst == 0 {
		s.RateBurst = int(s.RateLimit)
		if s.RateBurst < 1 {
			s.RateBurst = 1
		}
	}
	defDur(&s.ShutdownTimeout, "20s")
	defDur(&s.ReadTimeout, "10s")
	defDur(&s.WriteTimeout, "30s")
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 64 << 10
	}
	return nil
}

func (n *Notify) finish() error {
	if len(n.Schedule) == 0 {
		n.Schedule = durations("15s", "15s", "30s", "3m", "10m", "20m", "30m", "30m", "30m", "1h", "3h", "3h", "3h", "6h", "6h")
	}
	if err := positive("notify.schedule", n.Schedule); err != nil {
		return err
	}
	if n.Workers <= 0 {
		n.Workers = 16
	}
	if n.PerMerchant <= 0 {
		n.PerMerchant = 8
	}
	defDur(&n.Lease, "1m")
	defDur(&n.Timeout, "10s")
	if n.Timeout.D() > 10*time.Second {
		return keyErr("notify.timeout", "at most 10s (API.md: delivered = 2xx within 10 s)")
	}
	if n.Lease.D() <= n.Timeout.D() {
		return keyErr("notify.lease", "must be longer than notify.timeout")
	}
	defDur(&n.PollInterval, "500ms")
	if n.BreakerFailures == 0 {
		n.BreakerFailures = 5
	}
	defDur(&n.BreakerOpenFor, "1m")
	if n.ResponseCaptureSize <= 0 {
		n.ResponseCaptureSize = 512
	}
	if n.Retention == nil {
		d := Duration(defaultRetention)
		n.Retention = &d
	}
	if *n.Retention < 0 {
		return keyErr("notify.retention", "must not be negative (0 keeps delivered notifications forever)")
	}
	return nil
}

// String renders the configuration as YAML with secrets hidden.
func (c *Config) String() string {
	cp := *c
	cp.Channels = map[string]*Channel{}
	for k, v := range c.Channels {
		ch := *v
		if ch.Secret != "" {
			ch.Secret = "***"
		}
		cp.Channels[k] = &ch
	}
	b, _ := yaml.Marshal(&cp)
	return strings.TrimSpace(string(b))
}
