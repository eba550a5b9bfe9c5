package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/store"
)

// TestStoreWithRefusesConflictingOptions: a command opens its database once; a second open
// with other options (a statement timeout, a pool size) used to get the first store back and
// silently run without them. Now the same options give the same store and different ones an
// error that names both.
func TestStoreWithRefusesConflictingOptions(t *testing.T) {
	eachCLIDB(t, func(t *testing.T, db *cliDB) {
		ctx := context.Background()
		app := &App{DB: db.dsn, cmdPath: "paygw report daily", Getenv: func(string) string { return "" }, Now: time.Now}
		defer app.close()
		long := store.Options{StatementTimeout: 30 * time.Minute}
		s1, err := app.StoreWith(ctx, long)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := app.StoreWith(ctx, long)
		if err != nil || s2 != s1 {
			t.Fatalf("same options again: %p %v, want the open store %p", s2, err, s1)
		}
		for _, tt := range []struct {
			name string
			open func() (*store.Store, error)
		}{
			{"Store after StoreWith", func() (*store.Store, error) { return app.Store(ctx) }},
			{"another pool size", func() (*store.Store, error) { return app.StoreWith(ctx, store.Options{MaxConns: 3}) }},
		} {
			s, err := tt.open()
			if err == nil || s != nil {
				t.Errorf("%s: got %p, %v; want an error (the options would be ignored)", tt.name, s, err)
			} else if !strings.Contains(err.Error(), "30m0s") {
				t.Errorf("%s: error %q does not name the options the store was opened with", tt.name, err)
			}
		}
	})
}
