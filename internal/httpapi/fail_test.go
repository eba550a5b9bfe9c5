package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// A request whose client hung up is answered 499 and logged as a warning, not as a server error;
// the same error while the client still waits (a statement cancelled by the server) stays a 500.
func TestClientClosedRequestIsNotAServerError(t *testing.T) {
	err := fmt.Errorf("merchant secrets mch_1: %w", context.Canceled)
	for _, tc := range []struct {
		name   string
		gone   bool
		status int
		level  string
		msg    string
	}{
		{name: "client gone", gone: true, status: 499, level: `"level":"warn"`, msg: "client closed the request"},
		{name: "client waiting", gone: false, status: 500, level: `"level":"error"`, msg: "request failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := New(nil, nil, Options{Log: zerolog.New(&logs), Registry: prometheus.NewRegistry()})
			ctx, cancel := context.WithCancel(context.Background())
			if tc.gone {
				cancel()
			} else {
				defer cancel()
			}
			req := httptest.NewRequest("POST", "/v1/payments", nil).WithContext(ctx)
			rec := httptest.NewRecorder()
			s.fail(rec, req, err)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if line := logs.String(); !strings.Contains(line, tc.level) || !strings.Contains(line, tc.msg) {
				t.Errorf("log %q, want %s %q", line, tc.level, tc.msg)
			}
		})
	}
}
