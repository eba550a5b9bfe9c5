package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// TestServeDeliveryHasItsOwnPool: on PostgreSQL `serve --role all` gives notification delivery
// its own pool, so requests queued for the API's connections cannot starve delivery (the soak
// in BENCHMARKS.md); SQLite keeps one store, whose writes go through one writer anyway.
func TestServeDeliveryHasItsOwnPool(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			env := map[string]string{"PAYGW_DB": storetest.DSN(t, d), "PAYGW_LOG_FORMAT": "json"}
			if code, _, stderr := run(t, env, "migrate", "up"); code != 0 {
				t.Fatalf("migrate: %d %s", code, stderr)
			}
			code, _, stderr := runFor(t, 3*time.Second, env, "serve", "--addr", "127.0.0.1:0", "--db-conns", "2")
			if code != 0 {
				t.Fatalf("serve: exit %d\n%s", code, stderr)
			}
			found := false
			for _, line := range strings.Split(stderr, "\n") {
				var ev struct {
					Msg     string `json:"message"`
					OwnPool *bool  `json:"own_pool"`
				}
				if json.Unmarshal([]byte(line), &ev) != nil || ev.Msg != "notification delivery started" {
					continue
				}
				found = true
				if ev.OwnPool == nil || *ev.OwnPool != (d == store.Postgres) {
					t.Errorf("own_pool = %v on %s, want %v", ev.OwnPool, d, d == store.Postgres)
				}
			}
			if !found {
				t.Fatalf("no 'notification delivery started' line:\n%s", stderr)
			}
		})
	}
}
