package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/httpapi"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestHealthReadiness: /readyz is 503 until marked ready, while draining, and while the schema
// is behind this binary's migrations; /healthz is 200 throughout (the process is alive).
func TestHealthReadiness(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		h := httpapi.NewHealth(s)
		mux := http.NewServeMux()
		h.Register(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		get := func(path string) (int, string) {
			t.Helper()
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, strings.TrimSpace(string(b))
		}
		expect := func(step, path string, code int, body string) {
			t.Helper()
			if c, b := get(path); c != code || b != body {
				t.Errorf("%s: %s = %d %s, want %d %s", step, path, c, b, code, body)
			}
		}
		expect("not yet ready", "/readyz", 503, `{"status":"draining"}`)
		h.SetReady(true)
		expect("ready", "/readyz", 200, `{"status":"ready"}`)
		expect("ready", "/healthz", 200, `{"status":"ok"}`)
		ctx := context.Background()
		if _, err := s.MigrateDown(ctx, 1); err != nil {
			t.Fatal(err)
		}
		expect("schema behind", "/readyz", 503, `{"status":"schema not current: run paygw migrate up"}`)
		if _, err := s.MigrateUp(ctx); err != nil {
			t.Fatal(err)
		}
		expect("migrated again", "/readyz", 200, `{"status":"ready"}`)
		h.SetReady(false)
		expect("draining", "/readyz", 503, `{"status":"draining"}`)
		expect("draining", "/healthz", 200, `{"status":"ok"}`)
	})
}
