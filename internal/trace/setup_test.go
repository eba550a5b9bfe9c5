package trace_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/paygw/paygw/internal/trace"
)

// TestSetupExportsOTLP: with an endpoint, Setup installs a provider that posts spans to
// ENDPOINT/v1/traces over OTLP/HTTP (protobuf) — a real exporter against a loopback collector.
func TestSetupExportsOTLP(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var bytes int
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		bytes += len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer col.Close()
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	ctx := context.Background()
	shutdown, err := trace.Setup(ctx, trace.Config{Endpoint: col.URL}, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := trace.Start(ctx, "probe", trace.RequestID.String("req_1"))
	span.End()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "POST /v1/traces application/x-protobuf" || bytes == 0 {
		t.Fatalf("collector got %v (%d bytes)", paths, bytes)
	}

	// Without an endpoint nothing is installed.
	otel.SetTracerProvider(prev)
	off, err := trace.Setup(ctx, trace.Config{}, "test")
	if err != nil || off(ctx) != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != prev {
		t.Error("Setup without an endpoint replaced the provider")
	}
}
