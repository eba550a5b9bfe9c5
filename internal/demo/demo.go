// Package demo runs `make demo`: the whole daily cycle of paygw on one machine, with the real
// binary. It migrates a SQLite file, starts `paygw sandbox` and `paygw serve` as subprocesses on
// free loopback ports, onboards two merchants, takes a few hundred payments through the merchant
// API (redirect and withhold, refunds, declines, abandoned checkouts, channel timeouts),
// receives and verifies the merchants' notifications on a local receiver, injects one statement
// discrepancy at the sandbox, then reconciles, settles and reports the day with the same CLI
// commands an operator runs, checks the ledger, and stops everything.
package demo

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paygw/paygw/internal/api/cliout"
	"github.com/paygw/paygw/internal/client"
	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/sandbox"
)

// Options configure a demo run.
type Options struct {
	// Dir receives everything: paygw.db, paygw.yaml, logs/ and reports/. It must be empty or absent.
	Dir string
	// Exe is the paygw binary run for every subcommand (the cli passes os.Executable()).
	Exe string
	// Env is added to the subprocesses' environment (tests use it to re-enter the test binary).
	Env []string
	// Payments is how many payments to take (default 300); Concurrency how many clients send
	// them at once (default 12).
	Payments    int
	Concurrency int
	// Seed makes amounts and the mix of pay methods repeatable (default: random).
	Seed uint64
	// Progress receives one line per step (nil: none).
	Progress io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validate checks the options and applies defaults.
func (o *Options) Validate() error {
	if o.Dir == "" {
		return errors.New("demo: a directory is required")
	}
	if o.Exe == "" {
		return errors.New("demo: the paygw executable is required")
	}
	if o.Payments == 0 {
		o.Payments = 300
	}
	if o.Payments < 20 || o.Payments > 20000 {
		return fmt.Errorf("demo: payments %d: want 20..20000", o.Payments)
	}
	if o.Concurrency == 0 {
		o.Concurrency = 12
	}
	if o.Concurrency < 1 || o.Concurrency > 256 {
		return fmt.Errorf("demo: concurrency %d: want 1..256", o.Concurrency)
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Tuning of the run. The channel timeout is short so that a timed-out payment is cheap; the
// sandbox's callbacks wait a little so that the sweeper's query, not a callback, resolves the
// timed-out payments, as it must when a channel never calls back.
const (
	channelTimeout  = 1500 * time.Millisecond
	callbackDelay   = 3 * time.Second
	autoPay         = time.Second
	failureRate     = 0.05
	timeoutRate     = 0.025
	refuseOneIn     = 20 // the receiver refuses the first attempt of one notification in 20
	agreementsEach  = 4
	injectedDelta   = 100 // the injected amount discrepancy, minor units
	stopGrace       = 15 * time.Second
	awaitPaymentsIn = 40 * time.Second
	awaitNotifyIn   = 40 * time.Second
)

// Summary is what a run did and where its files are.
type Summary struct {
	Dir, DB, Config, Logs string
	// KeyFile holds the run's PAYGW_SECRET_KEY (hex), for looking at its database afterwards.
	KeyFile string
	Date    string // the business date (today in Asia/Shanghai)
	Elapsed time.Duration
	Seed    uint64

	Merchants []Merchant
	// Payments by final status and by pay method; Rejected by API error code.
	Payments    map[string]int
	Methods     map[string]int
	Rejected    map[string]int
	P50, P95    float64 // payment creation latency, ms
	Timeouts    int     // channel calls with an unknown outcome (timed out)
	SweptPaid   int     // payments the sweeper resolved by querying the channel
	Refunds     map[string]int
	RefundTotal int64

	// Notifications: unique events received by type (Expected: what the final objects imply).
	Notified     map[string]int
	Expected     map[string]int
	NotifyTries  int // delivery attempts seen by the receiver
	NotifyRetry  int // events whose first attempt the receiver refused, delivered later
	NotifyDups   int
	NotifyBadSig int

	Injected    sandbox.Injection
	Reconcile   cliout.Reconcile
	Batches     []cliout.SettleBatch
	Held        int // succeeded payments no batch took (not reconciled as matched)
	LedgerOK    bool
	LedgerCheck []string

	ReconReport, SettleReport, DailyReport, PayoutFile string

	Alipay    *AlipayRun // the Alipay simulator leg (alipay.go)
	WeChatPay *WeChatPay // the WeChat Pay simulator part (wechatpay.go)
}

// Merchant is a demo merchant.
type Merchant struct {
	ID, Name string
	FeeBps   int64
}

// Run runs the demo. Every subprocess is stopped before it returns, also on failure.
func Run(ctx context.Context, o Options) (_ *Summary, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	start := o.Now()
	d := &run{o: o, sum: &Summary{Seed: o.Seed}, start: time.Now()}
	defer func() {
		if serr := d.stopAll(); serr != nil && err == nil {
			err = serr
		}
	}()
	if err := d.setup(); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		f    func(context.Context) error
	}{
		{"migrate", d.migrate},
		{"start", d.startServers},
		{"merchants", d.merchants},
		{"traffic", d.traffic},
		{"alipay", d.alipayTraffic},
		{"notifications", d.awaitNotifications},
		{"inject", d.inject},
		{"reconcile", d.reconcile},
		{"reconcile alipay", d.alipayReconcile},
		{"wechatpay", d.wechatpay},
		{"settle", d.settle},
		{"report", d.report},
		{"verify", d.verify},
	}
	for _, s := range steps {
		if err := s.f(ctx); err != nil {
			return d.sum, fmt.Errorf("demo %s: %w", s.name, err)
		}
	}
	if err := d.stopAll(); err != nil {
		return d.sum, fmt.Errorf("demo stop: %w", err)
	}
	d.step("stopped sandbox and gateway")
	d.sum.Elapsed = o.Now().Sub(start)
	return d.sum, nil
}

// run is one demo run's state.
type run struct {
	o     Options
	sum   *Summary
	start time.Time

	r        *runner
	date     string
	secret   string
	gwURL    string
	sbURL    string
	sandbox  *proc
	serve    *proc
	recv     *receiver
	shops    []*shop
	orders   []*order
	injected string
	stopped  bool
	ali      *alipayDemo
	wx       *wechat
}

func (d *run) step(format string, args ...any) {
	fmt.Fprintf(d.o.Progress, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *run) setup() error {
	dir, err := filepath.Abs(d.o.Dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("demo: %s is not empty (the demo writes a fresh database there)", d.o.Dir)
	}
	logs, reports := filepath.Join(dir, "logs"), filepath.Join(dir, "reports")
	for _, p := range []string{logs, reports} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	gwPort, err := freePort()
	if err != nil {
		return err
	}
	sbPort, err := freePort()
	if err != nil {
		return err
	}
	d.gwURL, d.sbURL = "http://127.0.0.1:"+strconv.Itoa(gwPort), "http://127.0.0.1:"+strconv.Itoa(sbPort)
	d.secret = "sbx_" + client.Nonce()
	if err := d.wechatSetup(dir); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "paygw.yaml")
	aliChannel, err := d.alipaySetup(dir)
	if err != nil {
		return err
	}
	yaml := configYAML(d.gwURL, d.sbURL, d.secret, reports, d.wechatConfig()+aliChannel)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	d.date = paygw.BusinessDate(d.o.Now(), cfg.Location())
	// The demo's own secret key: every subprocess gets it (there is no built-in key), and it
	// is kept beside the database so that the demo's data can be looked at afterwards.
	key := make([]byte, 32)
	if _, err := crand.Read(key); err != nil {
		return fmt.Errorf("demo key: %w", err)
	}
	keyFile := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("demo key: %w", err)
	}
	env := append(append([]string{}, d.o.Env...), "PAYGW_SECRET_KEY="+hex.EncodeToString(key))
	d.r = &runner{exe: d.o.Exe, env: env, db: "sqlite:" + filepath.Join(dir, "paygw.db"), cfg: cfgPath, logs: logs}
	s := d.sum
	s.Dir, s.DB, s.Config, s.Logs, s.Date, s.KeyFile = d.o.Dir, d.r.db, cfgPath, logs, d.date, keyFile
	d.recv, err = newReceiver(refuseOneIn)
	return err
}

// configYAML is fixtures/config/demo.yaml on the run's ports, with a short channel timeout,
// fast sweeps and retries so that everything settles within seconds, and breakers that a few
// simulated declines in a row do not open.
// extraChannels are more channel sections (indented under channels:).
func configYAML(gwURL, sbURL, secret, reports, extraChannels string) string {
	return fmt.Sprintf(`# generated by paygw demo (fixtures/config/demo.yaml on free ports, with fast retries)
timezone: Asia/Shanghai
public_url: %s
channels:
  sandbox:
    kind: sandbox
    url: %s
    secret: %s
    pay_methods: [wallet_qr, online_banking, quick_pay, withhold]
    fee_rate_bps: 30
    timeout: %s
    breaker:
      consecutive_failures: 50
      open_for: 2s
%sserver:
  shutdown_timeout: 5s
sweeper:
  schedule: [500ms, 1s, 2s, 5s]
  interval: 200ms
notify:
  allow_private_addresses: true
  schedule: [1s, 2s, 5s, 10s, 30s]
  poll_interval: 100ms
  lease: 30s
  timeout: 5s
  breaker_failures: 50
  breaker_open_for: 2s
reconcile:
  out_dir: %s
settle:
  # Only transactions reconciled as matched settle: the injected discrepancy stays out of the
  # batch until an operator resolves it (paygw reconcile resolve).
  require_reconciled: true
  out_dir: %s
`, gwURL, sbURL, secret, channelTimeout, extraChannels, reports, reports)
}

func (d *run) migrate(ctx context.Context) error {
	if _, err := d.r.run(ctx, "migrate", "migrate", "up"); err != nil {
		return err
	}
	d.step("migrated %s", strings.TrimPrefix(d.r.db, "sqlite:"))
	return nil
}

func (d *run) startServers(ctx context.Context) error {
	var err error
	// The shared secret reaches the sandbox through --secret's environment twin, not argv.
	d.sandbox, err = d.r.start("sandbox", []string{"PAYGW_SECRET=" + d.secret}, "sandbox", "--addr", strings.TrimPrefix(d.sbURL, "http://"),
		"--gateway-url", d.gwURL, "--auto-pay", autoPay.String(),
		"--refund-delay", "300ms", "--failure-rate", ftoa(failureRate), "--timeout-rate", ftoa(timeoutRate),
		"--timeout-hang", (channelTimeout + time.Second).String(), "--callback-delay", callbackDelay.String(),
		"--seed", strconv.FormatUint(d.o.Seed, 10), "--state-file", filepath.Join(filepath.Dir(d.r.cfg), "sandbox-state.jsonl"))
	if err != nil {
		return err
	}
	if err := d.startWeChat(ctx); err != nil {
		return err
	}
	d.serve, err = d.r.start("serve", nil, "serve", "--addr", strings.TrimPrefix(d.gwURL, "http://"))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, d.sandbox, d.sbURL+"/healthz", 15*time.Second); err != nil {
		return err
	}
	if err := waitHTTP(ctx, d.serve, d.gwURL+"/readyz", 15*time.Second); err != nil {
		return err
	}
	if err := d.startAlipay(ctx); err != nil {
		return err
	}
	d.step("sandbox channel on %s (auto-pay %s, %.0f%% declines, %.1f%% timeouts); gateway on %s",
		d.sbURL, autoPay, failureRate*100, timeoutRate*100, d.gwURL)
	return nil
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (d *run) merchants(ctx context.Context) error {
	defs := []struct {
		name, bank string
		args       []string
		bps        int64
	}{
		{"Demo Coffee", "6222021234567890123", []string{"--fee-rate-bps", "60"}, 60},
		{"Demo Books", "6228480012345678901", []string{"--fee-rate-bps", "38", "--fee-min", "50"}, 38},
	}
	for i, m := range defs {
		key := strconv.Itoa(i + 1)
		args := append([]string{"merchant", "create", "--json", "--name", m.name, "--bank-name", "Demo Bank",
			"--bank-account-name", m.name + " Ltd", "--bank-account", m.bank, "--notify-url", d.recv.endpoint(key)}, m.args...)
		out, err := d.r.run(ctx, "merchant", args...)
		if err != nil {
			return err
		}
		var j cliout.Merchant
		if err := json.Unmarshal(out, &j); err != nil || j.ID == "" || j.Secret == "" {
			return fmt.Errorf("merchant create --json: unexpected output %q (%v)", out, err)
		}
		d.recv.register(key, j.ID, j.Secret)
		d.shops = append(d.shops, &shop{ID: j.ID, Name: m.name, Secret: j.Secret, Client: client.New(d.gwURL, j.ID, j.Secret)})
		d.sum.Merchants = append(d.sum.Merchants, Merchant{ID: j.ID, Name: m.name, FeeBps: m.bps})
	}
	if err := signAgreements(ctx, d.shops, agreementsEach); err != nil {
		return err
	}
	d.step("onboarded %s and %s (%d withhold agreements each); notifications go to %s",
		d.shops[0].Name, d.shops[1].Name, agreementsEach, d.recv.url)
	return nil
}

func (d *run) traffic(ctx context.Context) error {
	s := d.sum
	d.orders = plan(d.o.Payments, d.shops, d.o.Seed)
	t0 := time.Now()
	createPayments(ctx, d.shops, d.orders, d.o.Concurrency)
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Rejected = map[string]int{}
	created := 0
	for _, o := range d.orders {
		if o.Err == nil {
			created++
			continue
		}
		var ae *client.APIError
		if errors.As(o.Err, &ae) {
			s.Rejected[ae.Body.Code]++
			continue
		}
		return fmt.Errorf("create payment %s: %w", o.OutNo, o.Err)
	}
	if created < len(d.orders)*9/10 {
		return fmt.Errorf("only %d of %d payments were accepted (rejections %v)", created, len(d.orders), s.Rejected)
	}
	s.P50, s.P95 = latencies(d.orders)
	d.step("created %d payments in %.1fs with %d clients (p50 %.0f ms, p95 %.0f ms)",
		created, time.Since(t0).Seconds(), d.o.Concurrency, s.P50, s.P95)
	if err := awaitPayments(ctx, d.shops, d.orders, d.o.Concurrency, awaitPaymentsIn); err != nil {
		return err
	}
	// The demo's discrepancy goes on a withhold payment nobody refunds.
	for _, o := range d.orders {
		if o.Err == nil && o.Payment.Status == "succeeded" && o.Method == "withhold" && o.Shop == 0 {
			d.injected = o.Payment.ID
			break
		}
	}
	refunds := refundPlan(d.orders, d.injected)
	if err := createRefunds(ctx, d.shops, refunds, d.o.Concurrency); err != nil {
		return err
	}
	if err := awaitRefunds(ctx, d.shops, d.orders, d.o.Concurrency, awaitPaymentsIn); err != nil {
		return err
	}
	var done []*order
	for _, o := range d.orders {
		if o.Err == nil {
			done = append(done, o)
		}
	}
	refresh(ctx, d.shops, done, d.o.Concurrency)
	s.Payments, s.Methods, s.Refunds = map[string]int{}, map[string]int{}, map[string]int{}
	for _, o := range done {
		s.Payments[o.Payment.Status]++
		s.Methods[o.Method]++
		for _, r := range o.Refunds {
			s.Refunds[r.Status]++
			if r.Status == "succeeded" {
				s.RefundTotal += r.Amount
			}
		}
	}
	if err := d.scrapeMetrics(ctx); err != nil {
		return err
	}
	d.step("all payments final: %s; %d refunds; %d channel timeouts, %d payments resolved by the sweeper's query",
		counts(s.Payments), len(refunds), s.Timeouts, s.SweptPaid)
	return nil
}

// scrapeMetrics reads the gateway's counters of timed-out channel calls and sweeper resolutions.
func (d *run) scrapeMetrics(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.gwURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, labels, value, ok := metricLine(line)
		if !ok {
			continue
		}
		switch {
		case name == "paygw_channel_call_seconds_count" && labels["op"] == "pay" && labels["outcome"] == "unknown":
			d.sum.Timeouts += int(value)
		case name == "paygw_sweeper_checks_total" && labels["kind"] == "payment" &&
			(labels["result"] == "succeeded" || labels["result"] == "failed" || labels["result"] == "closed"):
			d.sum.SweptPaid += int(value)
		}
	}
	return sc.Err()
}

// metricLine parses one sample line of the Prometheus text format: name{k="v",…} value.
func metricLine(line string) (string, map[string]string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", nil, 0, false
	}
	head := line[:sp]
	labels := map[string]string{}
	name := head
	if i := strings.IndexByte(head, '{'); i >= 0 && strings.HasSuffix(head, "}") {
		name = head[:i]
		for _, kv := range strings.Split(head[i+1:len(head)-1], ",") {
			k, val, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(val, `"`)
			}
		}
	}
	return name, labels, v, true
}

func (d *run) awaitNotifications(ctx context.Context) error {
	exp := expectedEvents(d.orders)
	d.sum.Expected = exp
	deadline := time.Now().Add(awaitNotifyIn)
	for {
		st := d.recv.stats()
		missing := 0
		for typ, n := range exp {
			if st.ByType[typ] < n {
				missing += n - st.ByType[typ]
			}
		}
		if missing == 0 {
			d.sum.Notified, d.sum.NotifyTries, d.sum.NotifyRetry = st.ByType, st.Attempts, st.Refused
			d.sum.NotifyDups, d.sum.NotifyBadSig = st.Dups, st.Bad
			if st.Bad > 0 {
				return fmt.Errorf("%d notifications failed signature or merchant checks", st.Bad)
			}
			d.step("%d notifications received, signatures verified, deduplicated by event id (%d attempts, %d retried after a refused first attempt)",
				st.Unique, st.Attempts, st.Refused)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d notifications not received within %s (expected %v, got %v)", missing, awaitNotifyIn, exp, st.ByType)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func (d *run) inject(ctx context.Context) error {
	if d.injected == "" {
		return errors.New("no succeeded withhold payment to put a discrepancy on")
	}
	ch, err := sandbox.NewChannel("sandbox", d.sbURL, d.secret)
	if err != nil {
		return err
	}
	in := sandbox.Injection{Kind: sandbox.InjectAmount, OutTradeNo: d.injected, Delta: injectedDelta}
	if err := ch.Inject(ctx, in); err != nil {
		return fmt.Errorf("sandbox inject: %w", err)
	}
	d.sum.Injected = in
	d.step("injected a discrepancy at the sandbox: payment %s shows %s CNY more on today's statement", d.injected, fmtMoney(injectedDelta))
	return nil
}

func (d *run) reconcile(ctx context.Context) error {
	out, err := d.r.run(ctx, "reconcile", "reconcile", "--channel", "sandbox", "--date", d.date, "--json")
	if err != nil {
		return err
	}
	rec := &d.sum.Reconcile
	if err := json.Unmarshal(out, rec); err != nil {
		return fmt.Errorf("reconcile --json: %w (output %q)", err, out)
	}
	d.sum.ReconReport = rec.Report
	found := false
	for _, it := range rec.Items {
		if it.Class == "amount_mismatch" && it.PaymentID == d.injected && it.ChannelAmount-it.InternalAmount == injectedDelta {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("reconciliation did not find the injected amount_mismatch on %s (counts %v)", d.injected, rec.Counts)
	}
	d.step("reconciled %s: %d matched, %d discrepancies (the injected one found)", d.date, rec.Counts["matched"], rec.Discrepancies)
	return nil
}

func (d *run) settle(ctx context.Context) error {
	out, err := d.r.run(ctx, "settle", "settle", "--date", d.date, "--allow-open-day", "--json")
	if err != nil {
		return err
	}
	var j cliout.Settle
	if err := json.Unmarshal(out, &j); err != nil {
		return fmt.Errorf("settle --json: %w (output %q)", err, out)
	}
	if len(j.Batches) != len(d.shops) {
		return fmt.Errorf("settle wrote %d batches, want one per merchant (%d)", len(j.Batches), len(d.shops))
	}
	d.sum.Batches = j.Batches
	paid := 0
	for _, o := range d.orders {
		switch o.Payment.Status {
		case "succeeded", "partially_refunded", "refunded":
			paid++
		}
	}
	paid += d.wechatPaid()
	for _, b := range j.Batches {
		paid -= int(b.Payments)
	}
	d.sum.Held = paid
	reports := filepath.Dir(d.sum.ReconReport)
	if d.sum.PayoutFile, err = exists(filepath.Join(reports, "payout_"+d.date+".csv")); err != nil {
		return err
	}
	if d.sum.SettleReport, err = exists(filepath.Join(reports, "settlement_"+d.date+".xlsx")); err != nil {
		return err
	}
	d.step("settled %s: %d batches, payout file written", d.date, len(j.Batches))
	return nil
}

func (d *run) report(ctx context.Context) error {
	if _, err := d.r.run(ctx, "report", "report", "daily", "--date", d.date); err != nil {
		return err
	}
	var err error
	if d.sum.DailyReport, err = exists(filepath.Join(filepath.Dir(d.sum.ReconReport), "daily_"+d.date+".xlsx")); err != nil {
		return err
	}
	d.step("daily report written")
	return nil
}

func (d *run) verify(ctx context.Context) error {
	out, err := d.r.run(ctx, "verify", "verify", "--json")
	var j cliout.Verify
	if jerr := json.Unmarshal(out, &j); jerr != nil && err == nil {
		err = fmt.Errorf("verify --json: %w (output %q)", jerr, out)
	}
	if err != nil {
		return err
	}
	d.sum.LedgerOK = j.OK
	for _, c := range j.Checks {
		d.sum.LedgerCheck = append(d.sum.LedgerCheck, c.Name)
	}
	d.step("ledger verified: %d checks, no problems", len(j.Checks))
	return nil
}

// stopAll stops the servers (gateway first, so nothing calls a stopped sandbox) and the receiver.
func (d *run) stopAll() error {
	if d.stopped {
		return nil
	}
	d.stopped = true
	var errs []error
	if d.serve != nil {
		errs = append(errs, d.serve.stop(stopGrace))
	}
	if d.sandbox != nil {
		errs = append(errs, d.sandbox.stop(stopGrace))
	}
	if d.ali != nil && d.ali.proc != nil {
		errs = append(errs, d.ali.proc.stop(stopGrace))
	}
	if d.wx != nil && d.wx.sim != nil {
		errs = append(errs, d.wx.sim.stop(stopGrace))
	}
	if d.recv != nil {
		d.recv.close()
	}
	return errors.Join(errs...)
}

func exists(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("expected file: %w", err)
	}
	if st.Size() == 0 {
		return "", fmt.Errorf("expected file %s is empty", path)
	}
	return path, nil
}

// counts renders a map as "a 1 · b 2" in key order.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, " · ")
}
