package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/storetest"
)

// TestWorkerReadiness runs `serve --role worker` and probes its /readyz: ready on a current
// schema, 503 once the schema is behind this binary (it used to answer ready as long as the
// database answered a ping), ready again after migrate up; the worker stops on cancel.
func TestWorkerReadiness(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var logs lockedBuffer
		app := &App{DB: db.dsn, cmdPath: "paygw serve", Keys: storetest.TestKeys(), Stdout: io.Discard, Stderr: &logs,
			Getenv: func(string) string { return "" }, Now: time.Now, Log: zerolog.New(&logs)}
		defer app.close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- runServe(ctx, app, serveOpts{Addr: addr, Role: "worker"}) }()
		probe := func() (int, string) {
			res, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return 0, err.Error()
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, strings.TrimSpace(string(b))
		}
		wait := func(step string, code int, body string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				c, b := probe()
				if c == code && b == body {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: /readyz = %d %s, want %d %s\nlogs:\n%s", step, c, b, code, body, logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		wait("started", 200, `{"status":"ready"}`)
		if _, err := db.s.MigrateDown(db.ctx, 1); err != nil {
			t.Fatal(err)
		}
		wait("schema behind", 503, `{"status":"schema not current: run paygw migrate up"}`)
		if _, err := db.s.MigrateUp(db.ctx); err != nil {
			t.Fatal(err)
		}
		wait("migrated again", 200, `{"status":"ready"}`)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("worker: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("worker did not stop")
		}
	})
}
