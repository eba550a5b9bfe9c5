package trace_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
	"github.com/paygw/paygw/internal/trace"
)

// TestSpanTreeOfOnePayment takes a withhold payment through a real gateway and sandbox and
// checks the spans it leaves: one request span named by its route, carrying the request id of
// the response header, with the database transactions and the channel call as its children,
// all in one trace.
func TestSpanTreeOfOnePayment(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := trace.NewProvider(sdktrace.NewSimpleSpanProcessor(exp), trace.Config{}, "test")
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		e := gwtest.Start(t, s, gwtest.Options{})
		agr, err := e.Client.SignAgreement(ctx, "AGR-T1", "withhold", "Zhang San", "6222021234560123", "13800000000")
		if err != nil {
			t.Fatal(err)
		}
		exp.Reset()
		req, err := e.Client.Request(ctx, "POST", "/v1/payments", []byte(`{"out_trade_no":"T1","amount":1234,"currency":"CNY",`+
			`"pay_method":"withhold","subject":"Order T1","agreement_id":"`+agr.ID+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d", resp.StatusCode)
		}
		reqID := resp.Header.Get("X-Request-Id")

		// The request span ends after the response is written: wait for it.
		var spans tracetest.SpanStubs
		var root *tracetest.SpanStub
		gwtest.Eventually(t, 5*time.Second, "the request span", func() bool {
			spans = exp.GetSpans()
			for i := range spans {
				if spans[i].Name == "POST /v1/payments" {
					root = &spans[i]
				}
			}
			return root != nil
		})
		if root.Parent.IsValid() {
			t.Errorf("request span has a parent: %v", root.Parent)
		}
		attrs := map[string]string{}
		for _, a := range root.Attributes {
			attrs[string(a.Key)] = a.Value.String()
		}
		if attrs[string(trace.RequestID)] != reqID || reqID == "" {
			t.Errorf("request span request_id = %q, response header %q", attrs[string(trace.RequestID)], reqID)
		}
		if attrs["http.response.status_code"] != "201" {
			t.Errorf("status attribute %q", attrs["http.response.status_code"])
		}
		children := map[string]int{}
		for _, sp := range spans {
			if sp.Parent.SpanID() == root.SpanContext.SpanID() {
				children[sp.Name]++
				if sp.SpanContext.TraceID() != root.SpanContext.TraceID() {
					t.Errorf("%s in another trace", sp.Name)
				}
			}
		}
		if children["db.transact"] < 1 || children["channel.pay"] != 1 {
			t.Errorf("children of the request span: %v; want db.transact and one channel.pay", children)
		}
	})
}
