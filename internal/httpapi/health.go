package httpapi

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Health answers the probes of every serving role (`serve --role all|api|worker`): /healthz is
// 200 while the process runs; /readyz is 200 only when the process is marked ready (not
// starting, not draining), the database answers and its schema is current.
type Health struct {
	check Checker
	ready atomic.Bool
}

// NewHealth builds the probes over check; it starts not ready (SetReady(true) once serving).
func NewHealth(check Checker) *Health { return &Health{check: check} }

// SetReady marks the process ready or draining (during shutdown /readyz answers 503).
func (h *Health) SetReady(v bool) { h.ready.Store(v) }

// Register adds GET /healthz and GET /readyz to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.Healthz)
	mux.HandleFunc("GET /readyz", h.Readyz)
}

// Healthz is the liveness probe.
func (h *Health) Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz is the readiness probe.
func (h *Health) Readyz(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.check.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
		return
	}
	ok, err := h.check.SchemaCurrent(ctx)
	if err != nil || !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "schema not current: run paygw migrate up"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
