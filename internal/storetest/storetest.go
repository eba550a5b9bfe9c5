// Package storetest opens real, migrated stores for tests: a fresh SQLite file, and — when
// PAYGW_TEST_POSTGRES holds a DSN — a fresh PostgreSQL schema per test. There is no mock.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the schema admin connection
	"github.com/jmoiron/sqlx"

	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// EnvPostgres names the environment variable with the PostgreSQL DSN for tests.
const EnvPostgres = "PAYGW_TEST_POSTGRES"

// TestKeys is the keyring tests use.
func TestKeys() *store.Keyring {
	k, err := store.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return k
}

// Dialects lists the databases tests run on: sqlite always, postgres with PAYGW_TEST_POSTGRES.
func Dialects() []store.Dialect {
	ds := []store.Dialect{store.SQLite}
	if os.Getenv(EnvPostgres) != "" {
		ds = append(ds, store.Postgres)
	}
	return ds
}

// Each runs fn as a subtest on every dialect, each with its own migrated store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(string(d), func(t *testing.T) { fn(t, Open(t, d)) })
	}
}

// DSN returns a fresh, empty database DSN of dialect d, removed when the test ends.
func DSN(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "paygw.db")
	}
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Fatalf("%s is not set", EnvPostgres)
	}
	admin, err := sqlx.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("postgres at %s (%s): %v", EnvPostgres, redact(base), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// Open returns a migrated store of dialect d, closed when the test ends.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	return OpenDSN(t, DSN(t, d))
}

// OpenDSN opens and migrates dsn.
func OpenDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn, store.Options{Keys: TestKeys()})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// OpenAt returns a fresh store of dialect d migrated up to version only, closed when the test
// ends: tests of a later migration write data as the schema before it held it.
func OpenAt(t testing.TB, d store.Dialect, version int64) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, DSN(t, d), store.Options{Keys: TestKeys()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.MigrateUpTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	return s
}

// Merchant inserts a merchant with a fee plan of rateBps and returns it with its secret.
func Merchant(t testing.TB, s *store.Store, name string, rateBps int64) (paygw.Merchant, string) {
	t.Helper()
	m := paygw.Merchant{
		ID: paygw.NewID("mch"), Name: name, FeePlan: paygw.FeePlan{RateBps: rateBps},
		BankAccount: paygw.BankAccount{Name: name, Bank: "Test Bank", AccountNo: "6222021234567890123"},
		CreatedAt:   time.Now().UTC(),
	}
	secret := "sk_test_" + m.ID
	if err := s.CreateMerchant(context.Background(), m, secret); err != nil {
		t.Fatalf("create merchant: %v", err)
	}
	return m, secret
}
