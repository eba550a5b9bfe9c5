package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// FuzzObserveLabels sends requests with client-chosen methods, paths and user agents through
// the middleware chain to the catch-all route: every metric label comes from the closed set and
// no log line grows with the input (issue 14 item 2; the seeds are its reproduction).
func FuzzObserveLabels(f *testing.F) {
	f.Add("GET", "/nowhere", "curl/8")
	f.Add(strings.Repeat("X", 8000), "/", "")
	f.Add("PROPFIND", "/"+strings.Repeat("p", 5000), strings.Repeat("u", 5000))
	f.Add("get", "/v1", "\xff\xfe")
	f.Fuzz(func(t *testing.T, method, path, ua string) {
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !validMethod(method) {
			t.Skip()
		}
		req.Method = method
		req.URL.Path = "/fuzz/" + path // never a gateway route: the server has no gateway here
		req.Header.Set("User-Agent", ua)
		var logs bytes.Buffer
		reg := prometheus.NewRegistry()
		s := New(nil, nil, Options{Log: zerolog.New(&logs), Registry: reg})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 { // 404, or the mux's redirect to the cleaned path
			t.Fatalf("status %d", rec.Code)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					v := lp.GetValue()
					switch lp.GetName() {
					case "method":
						if v != "other" && !knownMethods[v] {
							t.Fatalf("method label %.40q", v)
						}
					case "route":
						if v != "/" && v != "unmatched" {
							t.Fatalf("route label %.40q", v)
						}
					}
				}
			}
		}
		for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
			if len(line) > 1024 {
				t.Fatalf("log line of %d bytes", len(line))
			}
		}
	})
}

// validMethod is the token rule net/http applies to a request method.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
