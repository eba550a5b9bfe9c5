package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

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
