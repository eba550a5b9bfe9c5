package cli

import "testing"

func TestRedactedURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://otel:4318":                       "http://otel:4318",
		"https://u:s3cret@otel:4318/x?token=abc": "https://u:xxxxx@otel:4318/x",
	} {
		if got := redactedURL(in); got != want {
			t.Errorf("redactedURL(%q) = %q, want %q", in, got, want)
		}
	}
}
