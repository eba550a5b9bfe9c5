package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/cli"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// migrated returns the env of a fresh, migrated database of dialect d.
func migrated(t *testing.T, d store.Dialect) map[string]string {
	t.Helper()
	env := map[string]string{"PAYGW_DB": storetest.DSN(t, d), "PAYGW_LOG_FORMAT": "json"}
	if code, _, e := run(t, env, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: %d %s", code, e)
	}
	return env
}

// Every command refuses a --config that does not exist (it used to run on the defaults).
func TestMissingConfigFileRefused(t *testing.T) {
	env := migrated(t, store.SQLite)
	missing := filepath.Join(t.TempDir(), "typo.yaml")
	for _, args := range [][]string{
		{"reconcile", "list"}, {"verify"}, {"merchant", "list"}, {"jobs", "list"},
		{"settle", "--date", "2026-11-22"}, {"report", "daily", "--date", "2026-11-22"}, {"migrate", "status"},
	} {
		code, _, stderr := run(t, env, append([]string{"--config", missing}, args...)...)
		if code != cli.ExitUsage || !strings.Contains(stderr, missing) {
			t.Errorf("%v with a missing --config: exit %d, stderr %q; want 2 naming the file", args, code, stderr)
		}
	}
	env["PAYGW_CONFIG"] = missing
	if code, _, stderr := run(t, env, "verify"); code != cli.ExitUsage || !strings.Contains(stderr, missing) {
		t.Errorf("PAYGW_CONFIG missing: exit %d, %q", code, stderr)
	}
}

// A store not-found error is answered in the operator's terms, naming the object.
func TestNotFoundNamesTheObject(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			env := migrated(t, d)
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"settle", "mark-paid", "--batch", "stb_NOPE", "--bank-ref", "B1"}, "batch stb_NOPE not found"},
				{[]string{"merchant", "show", "mch_NOPE"}, `merchant "mch_NOPE" not found`},
				{[]string{"merchant", "rotate-secret", "mch_NOPE"}, "mch_NOPE"},
			} {
				code, _, stderr := run(t, env, tc.args...)
				if code != cli.ExitUsage || !strings.Contains(stderr, tc.want) {
					t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, stderr, tc.want)
				}
				if strings.Contains(stderr, "sql:") || strings.Contains(stderr, "store:") {
					t.Errorf("%v leaks an internal error: %q", tc.args, stderr)
				}
			}
		})
	}
}

// Usage errors point to the help of the command that was run, not the root's.
func TestUsageErrorsPointToSubcommandHelp(t *testing.T) {
	env := map[string]string{"PAYGW_DB": "sqlite:" + filepath.Join(t.TempDir(), "x.db")}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"settle", "--bogus"}, "Run 'paygw settle --help'"},
		{[]string{"settle", "mark-paid", "--bogus"}, "Run 'paygw settle mark-paid --help'"},
		{[]string{"merchant", "show"}, "Run 'paygw merchant show --help'"},
		{[]string{"merchant", "create"}, "Run 'paygw merchant create --help'"}, // --name is required: a UsageError
		{[]string{"bogus"}, "Run 'paygw --help'"},
	} {
		code, _, stderr := run(t, env, tc.args...)
		if code != cli.ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// verify --help is generated from the list of checks: it names each and counts them right.
func TestVerifyHelpListsEveryCheck(t *testing.T) {
	code, out, _ := run(t, nil, "verify", "--help")
	if code != 0 {
		t.Fatalf("verify --help: %d", code)
	}
	for _, c := range store.LedgerChecks {
		if !strings.Contains(out, c) {
			t.Errorf("verify --help does not name check %s", c)
		}
	}
	if n := len(store.LedgerChecks); !strings.Contains(out, fmt.Sprintf("runs %d checks", n)) {
		t.Errorf("verify --help does not say it runs %d checks:\n%s", n, out)
	}
	if strings.Contains(out, "(no description)") {
		t.Errorf("a check has no description in cli/verify.go's checkHelp:\n%s", out)
	}
}

// The demo is listed in the help (the README tells people to run it).
func TestDemoListedInHelp(t *testing.T) {
	_, out, _ := run(t, nil, "--help")
	if !strings.Contains(out, "demo") {
		t.Errorf("paygw --help does not list demo:\n%s", out)
	}
}

// runFor runs a command that may serve (serve): it is interrupted after d if still running.
func runFor(t *testing.T, d time.Duration, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb lockedBuf
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "PAYGW_SECRET_KEY" {
			return v
		}
		return testKeyHex
	}
	code := cli.Main(ctx, args, strings.NewReader(""), &out, &errb, getenv)
	return code, out.String(), errb.String()
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// withPassword puts a password into a PostgreSQL DSN (the test server trusts any).
func withPassword(t *testing.T, dsn, pw string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}

// commandsNeedingSchema is one command line of each command that reads or writes the database.
var commandsNeedingSchema = [][]string{
	{"merchant", "list"}, {"merchant", "create", "--name", "x", "--bank-account", "6222021234567890123"},
	{"verify"}, {"jobs", "list"}, {"reconcile", "list"},
	{"reconcile", "--channel", "sandbox", "--date", "2026-11-22", "--file", "../../fixtures/statements/sandbox_2026-11-22.csv"},
	{"settle", "--date", "2026-11-22"}, {"settle", "mark-paid", "--batch", "stb_X", "--bank-ref", "B"},
	{"settle", "payout", "--date", "2026-11-22"}, {"merchant", "update", "mch_X", "--name", "y"}, {"merchant", "audit", "mch_X"},
	{"report", "daily", "--date", "2026-11-22"}, {"replay-notify", "--all", "--dry-run"},
	{"serve", "--addr", "127.0.0.1:0"}, {"cron"},
}

// A database that is not migrated (empty, behind, or a mistyped SQLite path) is named with the
// way out, exit 2, before anything runs; a mistyped SQLite path is not created.
func TestUnmigratedDatabaseRefused(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			const pw = "pw-in-dsn-7f3a"
			dsn := withPassword(t, storetest.DSN(t, d), pw)
			if d == store.SQLite {
				dsn = "sqlite:" + filepath.Join(t.TempDir(), "typo.db")
			}
			parsed, _ := store.ParseDSN(dsn)
			want := "database at " + parsed.String() + " is not migrated (run `paygw migrate up`)"
			env := map[string]string{"PAYGW_DB": dsn, "PAYGW_LOG_FORMAT": "json"}
			for _, args := range commandsNeedingSchema {
				code, _, stderr := runFor(t, 10*time.Second, env, args...)
				if code != cli.ExitUsage || !strings.Contains(stderr, want) || strings.Contains(stderr, pw) {
					t.Errorf("%v on an empty database: exit %d, stderr %q; want 2 and %q", args, code, stderr, want)
				}
			}
			if d == store.SQLite {
				if _, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a command created the mistyped database: %v", err)
				}
				// A file that exists but was never migrated.
				empty := filepath.Join(t.TempDir(), "empty.db")
				if err := os.WriteFile(empty, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				env["PAYGW_DB"] = "sqlite:" + empty
				for _, args := range [][]string{{"verify"}, {"serve", "--addr", "127.0.0.1:0"}, {"merchant", "list"}} {
					code, _, stderr := runFor(t, 10*time.Second, env, args...)
					if code != cli.ExitUsage || !strings.Contains(stderr, "is not migrated (run `paygw migrate up`): no migration is applied") {
						t.Errorf("%v on an empty file: exit %d, %q", args, code, stderr)
					}
				}
				return
			}
			// Behind: every migration but the last.
			s := storetest.OpenDSN(t, dsn)
			if _, err := s.MigrateDown(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := run(t, env, "verify")
			if code != cli.ExitUsage || !strings.Contains(stderr, want) || !strings.Contains(stderr, "pending") {
				t.Errorf("verify on a schema one migration behind: exit %d, %q", code, stderr)
			}
		})
	}
}

// Commands run in a new directory with the default --db fail without leaving paygw.db,
// reports/ or anything else behind.
func TestFailedCommandsLeaveNothingBehind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := map[string]string{"PAYGW_LOG_FORMAT": "json"}
	for _, args := range commandsNeedingSchema {
		args = append([]string{}, args...)
		for i, a := range args {
			if strings.HasPrefix(a, "../../") {
				args[i] = filepath.Join(cwd, a)
			}
		}
		code, _, stderr := runFor(t, 10*time.Second, env, args...)
		if code == 0 {
			t.Errorf("%v in an empty directory succeeded: %s", args, stderr)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			t.Errorf("%v left %s behind", args, e.Name())
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

var cwd = func() string { d, _ := os.Getwd(); return d }()

// serve and the other commands that seal or open secrets refuse to start without
// PAYGW_SECRET_KEY (there is no built-in key) or with a key that does not open the stored
// secrets; commands that touch no secret run without one.
func TestSecretKeyRequired(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			env := migrated(t, d)
			env["PAYGW_SECRET_KEY"] = ""
			for _, args := range [][]string{
				{"serve", "--addr", "127.0.0.1:0"}, {"merchant", "create", "--name", "x"}, {"merchant", "list"},
				{"settle", "--date", "2026-11-22"}, {"replay-notify", "--all", "--dry-run"}, {"cron"},
			} {
				code, _, stderr := runFor(t, 10*time.Second, env, args...)
				if code != cli.ExitUsage || !strings.Contains(stderr, "PAYGW_SECRET_KEY is not set") || !strings.Contains(stderr, "openssl rand -hex 32") {
					t.Errorf("%v without a key: exit %d, %q", args, code, stderr)
				}
			}
			if code, _, stderr := run(t, env, "verify"); code != 0 {
				t.Errorf("verify needs no key: exit %d %s", code, stderr)
			}
			delete(env, "PAYGW_SECRET_KEY") // the test key
			if code, _, stderr := run(t, env, "merchant", "create", "--name", "Sealed", "--bank-account", "6222021234567890123"); code != 0 {
				t.Fatalf("create: %d %s", code, stderr)
			}
			env["PAYGW_SECRET_KEY"] = strings.Repeat("ab", 32) // a well-formed key, not this database's
			for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"merchant", "list"}} {
				code, _, stderr := runFor(t, 10*time.Second, env, args...)
				if code != cli.ExitUsage || !strings.Contains(stderr, "does not open the merchant secrets") {
					t.Errorf("%v with the wrong key: exit %d, %q", args, code, stderr)
				}
			}
			env["PAYGW_SECRET_KEY"] = "short"
			if code, _, stderr := run(t, env, "merchant", "list"); code != cli.ExitUsage || !strings.Contains(stderr, "PAYGW_SECRET_KEY must be 32 bytes") {
				t.Errorf("malformed key: exit %d, %q", code, stderr)
			}
		})
	}
}

// --pprof-addr serves only on loopback unless --pprof-allow-remote says otherwise; the refusal
// comes before anything is opened or listened on.
func TestPprofLoopbackOnly(t *testing.T) {
	env := migrated(t, store.SQLite)
	for _, addr := range []string{":16060", "0.0.0.0:6060", "[::]:6060", "192.0.2.1:6060", "pprof.example:6060"} {
		code, _, stderr := runFor(t, 3*time.Second, env, "serve", "--addr", "127.0.0.1:0", "--pprof-addr", addr)
		if code != cli.ExitUsage || !strings.Contains(stderr, "--pprof-addr") || !strings.Contains(stderr, "--pprof-allow-remote") {
			t.Errorf("--pprof-addr %s: exit %d, %q", addr, code, stderr)
		}
	}
}
