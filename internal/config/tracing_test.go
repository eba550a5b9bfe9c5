package config

import (
	"strings"
	"testing"
)

func TestTracing(t *testing.T) {
	c, err := Parse([]byte("tracing: {endpoint: \"http://127.0.0.1:4318\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.SampleRatio != 1 || c.Tracing.ServiceName != "paygw" {
		t.Errorf("defaults: %+v", c.Tracing)
	}
	if d := Default(); d.Tracing.Endpoint != "" {
		t.Errorf("tracing on by default: %+v", d.Tracing)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"tracing: {sample_ratio: 1.5}", "tracing.sample_ratio"},
		{"tracing: {sample_ratio: -0.1}", "tracing.sample_ratio"},
		{"tracing: {endpoint: \"otel:4318\"}", "tracing.endpoint"},
		{"tracing: {endpoin: \"http://x\"}", "endpoin"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: err = %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
}
