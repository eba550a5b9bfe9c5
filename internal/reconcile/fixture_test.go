package reconcile_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/paygw/paygw/internal/statement"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

var updateFixtures = flag.Bool("update", false, "rewrite fixtures/statements")

// TestFixtures keeps fixtures/statements (the demo's sample bills, with one discrepancy of each
// class against the payments seed() writes) in step with the writers; -update rewrites them.
func TestFixtures(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	rows := seed(t, s)
	var b bytes.Buffer
	if err := statement.WriteSandbox(&b, rows); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "fixtures", "statements", "sandbox_"+date+".csv")
	if *updateFixtures {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s is stale; run go test ./internal/reconcile -run TestFixtures -update", path)
	}
}
