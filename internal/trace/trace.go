// Package trace sets up OpenTelemetry tracing for serve and gives the rest of paygw its tracer.
// Until Setup installs an exporting provider, the global provider is OpenTelemetry's no-op one:
// spans cost a few nanoseconds and go nowhere, so packages start spans unconditionally.
//
// Span names: the merchant request is its route ("POST /v1/payments"), a database transaction
// "db.transact", a channel call "channel.OP" (channel.pay, channel.query, …), a channel
// callback "callback", a notification delivery "notify.deliver". Every request span carries
// the request id (paygw.request_id) that the logs and error bodies carry.
package trace

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of paygw's spans.
const Name = "github.com/paygw/paygw"

// Attribute keys paygw sets on its spans.
const (
	RequestID  = attribute.Key("paygw.request_id")
	MerchantID = attribute.Key("paygw.merchant_id")
	Channel    = attribute.Key("paygw.channel")
	Outcome    = attribute.Key("paygw.outcome")
	EventID    = attribute.Key("paygw.event_id")
)

// Tracer returns paygw's tracer from the global provider.
func Tracer() oteltrace.Tracer { return otel.Tracer(Name) }

// defaultProvider is OpenTelemetry's global provider as it is before anything is installed: a
// delegate whose spans record nothing.
var defaultProvider = otel.GetTracerProvider()

// Start starts a span named name as a child of the span in ctx (a root without one).
//
// With no provider installed (tracing off, the default) it makes no span at all: it returns ctx
// and the span ctx already carries. Every span then is a non-recording one (a remote parent or
// OpenTelemetry's no-op), which the default provider's child would have copied, so callers see
// the same span context; what is saved is the child's allocations, the attributes' included, on
// the hot path of every request, database statement and channel call.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, oteltrace.Span) {
	tp := otel.GetTracerProvider()
	if tp == defaultProvider {
		return ctx, oteltrace.SpanFromContext(ctx)
	}
	// A copy, so that the callers' attribute lists do not escape to the heap when tracing is off.
	return tp.Tracer(Name).Start(ctx, name, oteltrace.WithAttributes(slices.Clone(attrs)...))
}

// End records err on span (when not nil) and ends it.
func End(span oteltrace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Propagator is the W3C trace-context propagator serve reads incoming traceparent headers with.
var Propagator = propagation.TraceContext{}

// Config is what Setup needs (config.Tracing carries it from the config file).
type Config struct {
	Endpoint    string  // OTLP/HTTP base URL; empty: off
	SampleRatio float64 // share of new traces recorded (0: all)
	ServiceName string  // default paygw
}

// Setup installs an OTLP/HTTP exporting provider when cfg.Endpoint is set and returns its
// shutdown (flushes pending spans). With no endpoint it installs nothing and returns a no-op.
func Setup(ctx context.Context, cfg Config, version string) (func(context.Context) error, error) {
	if cfg.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/traces")}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	tp := NewProvider(sdktrace.NewBatchSpanProcessor(exp), cfg, version)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
	return tp.Shutdown, nil
}

// NewProvider builds the provider Setup installs, around any span processor (tests pass an
// in-memory one).
func NewProvider(sp sdktrace.SpanProcessor, cfg Config, version string) *sdktrace.TracerProvider {
	name := cfg.ServiceName
	if name == "" {
		name = "paygw"
	}
	ratio := cfg.SampleRatio
	if ratio <= 0 {
		ratio = 1
	}
	res := resource.NewSchemaless(attribute.String("service.name", name), attribute.String("service.version", version))
	return sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
}
