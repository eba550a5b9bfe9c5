package config

import "net/url"

// Tracing configures OpenTelemetry tracing of serve. Off unless an endpoint is set.
type Tracing struct {
	// Endpoint is the OTLP/HTTP collector base URL (http://otel-collector:4318); spans are posted
	// to Endpoint + /v1/traces. Empty: tracing is off and costs nothing.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the share of new traces recorded, 0 < r <= 1 (default 1). A request that
	// arrives with a sampled traceparent is always recorded (parent-based).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName names the service in the traces (default paygw).
	ServiceName string `yaml:"service_name"`
}

func (t *Tracing) finish() error {
	if t.ServiceName == "" {
		t.ServiceName = "paygw"
	}
	if t.SampleRatio == 0 {
		t.SampleRatio = 1
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		return keyErr("tracing.sample_ratio", "%v out of range (0, 1]", t.SampleRatio)
	}
	if t.Endpoint != "" {
		u, err := url.Parse(t.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return keyErr("tracing.endpoint", "%q is not an http(s) URL", t.Endpoint)
		}
	}
	return nil
}
