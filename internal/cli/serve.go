package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/dbmetrics"
	"github.com/paygw/paygw/internal/gateway"
	"github.com/paygw/paygw/internal/gauge"
	"github.com/paygw/paygw/internal/gctune"
	"github.com/paygw/paygw/internal/httpapi"
	"github.com/paygw/paygw/internal/notify"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/trace"
)

func init() { register(newServeCmd) }

type serveOpts struct {
	Addr             string
	Pprof            string
	PprofAllowRemote bool
	Role             string
	DBConns          int
	DBWriteBatches   int
}

// checkPprofAddr refuses a --pprof-addr that is not a loopback address (":6060" listens on every
// interface) unless allowRemote: profiles expose memory contents and cost CPU on demand. Only
// literal loopback IPs and "localhost" are accepted; nothing is resolved or dialled.
func checkPprofAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return Usagef("--pprof-addr %q: %v", addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return Usagef("--pprof-addr %q is not a loopback address: use 127.0.0.1:PORT or [::1]:PORT "+
		"(or pass --pprof-allow-remote to serve profiles to the network)", addr)
}

func (o *serveOpts) Validate() error {
	switch o.Role {
	case "all", "api", "worker":
	default:
		return Usagef("--role %q: want all, api or worker", o.Role)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return Usagef("--addr %q: %v", o.Addr, err)
	}
	if o.DBConns < 0 {
		return Usagef("--db-conns must not be negative")
	}
	if o.DBWriteBatches < 0 {
		return Usagef("--db-write-batches must not be negative")
	}
	if o.Pprof != "" {
		return checkPprofAddr(o.Pprof, o.PprofAllowRemote)
	}
	return nil
}

func newServeCmd(app *App) *cobra.Command {
	var o serveOpts
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the online gateway and the notification delivery workers",
		Long: `Runs the merchant HTTP API, channel callbacks, the sweeper that resolves unknown outcomes,
expires unpaid payments and purges delivered notifications past notify.retention, and the
notification delivery workers. --role api serves HTTP only;
--role worker delivers notifications only (scale delivery apart from traffic) and serves just
/healthz, /readyz and /metrics on --addr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if err := app.CheckDSN(); err != nil {
				return err
			}
			if _, err := app.Cfg(); err != nil {
				return err
			}
			return runServe(cmd.Context(), app, o)
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", ":8080", "listen address")
	cmd.Flags().StringVar(&o.Role, "role", "all", "all | api | worker")
	cmd.Flags().StringVar(&o.Pprof, "pprof-addr", "", "serve net/http/pprof on this address (loopback only, e.g. 127.0.0.1:6060; for profiling)")
	cmd.Flags().BoolVar(&o.PprofAllowRemote, "pprof-allow-remote", false, "allow a --pprof-addr that is not loopback (profiles expose memory contents)")
	cmd.Flags().IntVar(&o.DBConns, "db-conns", 0, "database pool size (default: 16 on PostgreSQL, 8 on SQLite)")
	cmd.Flags().IntVar(&o.DBWriteBatches, "db-write-batches", 0, "PostgreSQL: statements of batched payment creates, and as many of outcomes, that may run at once (default 1)")
	return cmd
}

// logGC writes the collector's settings and where each came from (gctune.Apply) as ev.
func logGC(ev *zerolog.Event, gc gctune.Applied) {
	ev.Int("gc_percent", gc.GCPercent).Str("gc_percent_from", gc.GCPercentFrom).
		Int64("memory_limit_mib", gc.MemoryLimit>>20).Str("memory_limit_from", gc.MemoryLimitFrom).Msg("garbage collector")
}

// workerConns is the size of notification delivery's own PostgreSQL pool in `serve --role all`:
// a claim, a batch record and secret reads at a time; deliveries hold no connection while they
// wait for the merchant's endpoint.
const workerConns = 4

func runServe(ctx context.Context, app *App, o serveOpts) error {
	cfg, _ := app.Cfg()
	logGC(app.Log.Info(), gctune.Apply(app.getenv, gctune.Settings{GCPercent: cfg.Server.GCPercent,
		MemoryLimit: cfg.Server.MemoryLimitMiB << 20}, gctune.CgroupMemoryMax))
	s, err := app.StoreWith(ctx, store.Options{MaxConns: o.DBConns, ReadCacheKiB: 4096, WriteBatches: o.DBWriteBatches})
	if err != nil {
		return err
	}
	log := app.Log
	shutdownTracing, err := trace.Setup(ctx, trace.Config{Endpoint: cfg.Tracing.Endpoint,
		SampleRatio: cfg.Tracing.SampleRatio, ServiceName: cfg.Tracing.ServiceName}, buildVersion())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			log.Warn().Err(err).Msg("tracing: flushing spans at shutdown")
		}
	}()
	if cfg.Tracing.Endpoint != "" {
		log.Info().Str("endpoint", redactedURL(cfg.Tracing.Endpoint)).Float64("sample_ratio", cfg.Tracing.SampleRatio).Msg("tracing on")
	}
	if o.Pprof != "" {
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			srv := &http.Server{Addr: o.Pprof, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			log.Info().Str("addr", o.Pprof).Msg("pprof listening")
			_ = srv.ListenAndServe()
		}()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(gauge.New(s, 30*time.Second, app.Now, log)) // job outcomes and open discrepancies, for alerts
	// Pool waits (go_sql_*{db_name="serve"}) and, on SQLite, the writer's time in statements and COMMIT.
	if err := dbmetrics.Register(reg, s, "serve"); err != nil {
		return err
	}

	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()

	if o.Role == "all" || o.Role == "worker" {
		host, _ := os.Hostname()
		ws := s
		if o.Role == "all" && !s.Dialect().SingleWriter() {
			// Delivery gets its own small pool: sharing the API's, an API past saturation queued
			// the worker's claims and records behind hundreds of requests and delivery stopped
			// (BENCHMARKS.md, soak). SQLite keeps one store: its writes go through one writer.
			if ws, err = app.OpenStore(ctx, store.Options{MaxConns: workerConns}); err != nil {
				return err
			}
			if err := dbmetrics.Register(reg, ws, "delivery"); err != nil {
				ws.Close()
				return err
			}
			// Closed only once the worker has stopped, on every return path.
			defer func() { stop(); wg.Wait(); ws.Close() }()
		}
		w := notify.NewWorker(ws, cfg.Notify, log, reg, notify.WithID(host+"/"+itoa(os.Getpid())))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error().Err(err).Msg("notification worker stopped")
			}
		}()
		log.Info().Int("workers", cfg.Notify.Workers).Bool("own_pool", ws != s).Msg("notification delivery started")
	}
	if o.Role == "worker" {
		// A worker serves only /healthz, /readyz and /metrics, for probes and scraping; its
		// probes are the API's (ready = not draining, database reachable, schema current).
		health := httpapi.NewHealth(s)
		mux := http.NewServeMux()
		health.Register(mux)
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs := &http.Server{Addr: o.Addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", o.Addr)
		if err != nil {
			stop()
			wg.Wait()
			return err
		}
		go func() { _ = hs.Serve(ln) }()
		health.SetReady(true)
		log.Info().Str("addr", ln.Addr().String()).Msg("worker health and metrics")
		<-ctx.Done()
		// Drain: fail readiness while the delivery workers stop, then close the probes.
		log.Info().Msg("stopping workers")
		health.SetReady(false)
		stop()
		wg.Wait()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = hs.Shutdown(sctx)
		cancel()
		return nil
	}

	chs, err := Channels(cfg)
	if err != nil {
		return err
	}
	g, err := gateway.New(s, cfg, chs, gateway.Options{Log: log, Now: app.Now, Metrics: gateway.NewMetrics(reg)})
	if err != nil {
		return err
	}
	srv := httpapi.New(g, s, httpapi.Options{Log: log, Registry: reg, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		RateLimit: cfg.Server.RateLimit, RateBurst: cfg.Server.RateBurst, TrustedProxyHops: cfg.Server.TrustedProxyHops})
	hs := &http.Server{
		Addr: o.Addr, Handler: srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: cfg.Server.ReadTimeout.D(),
		WriteTimeout: cfg.Server.WriteTimeout.D(), IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	wg.Add(2)
	go func() { defer wg.Done(); g.RunSweeper(runCtx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				srv.EvictIdleLimiters(10 * time.Minute)
			}
		}
	}()
	srv.SetReady(true)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Str("role", o.Role).Str("db", app.RedactedDB()).Msg("serving")
	select {
	case err := <-errc:
		stop()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	// Drain: fail readiness so the load balancer stops sending, then finish in-flight requests.
	log.Info().Dur("timeout", cfg.Server.ShutdownTimeout.D()).Msg("draining")
	srv.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	err = hs.Shutdown(sctx)
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{digits[i%10]}, b...)
		i /= 10
	}
	return string(b)
}

// buildVersion is the module version the binary was built from ("(devel)" in a work tree).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return "unknown"
}

// redactedURL is u for a log line: a password in it is masked, a query dropped.
func redactedURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	pu.RawQuery, pu.Fragment = "", ""
	return pu.Redacted()
}
