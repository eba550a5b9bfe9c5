package cli_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/cli"
	"github.com/paygw/paygw/internal/storetest"
)

// testKeyHex is PAYGW_SECRET_KEY for the commands tests run: storetest.TestKeys' key.
var testKeyHex = hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// run executes the real command tree with env as the whole environment, plus the test key as
// PAYGW_SECRET_KEY unless env holds that variable (even empty: a test of running without one).
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "PAYGW_SECRET_KEY" {
			return v
		}
		return testKeyHex
	}
	code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errb, getenv)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2BeforeOpeningTheDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	env := map[string]string{"PAYGW_DB": "sqlite:" + db}
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"unknown flag", []string{"merchant", "create", "--nope"}, "unknown flag: --nope"},
		{"unsupported dsn", []string{"--db", "mysql://x", "migrate", "up"}, `unsupported scheme "mysql"`},
		{"sqlite without path", []string{"--db", "sqlite:", "migrate", "up"}, "sqlite needs a file path"},
		{"bad log level", []string{"--log-level", "loud", "merchant", "list"}, `--log-level "loud"`},
		{"bad log format", []string{"--log-format", "xml", "merchant", "list"}, `--log-format "xml"`},
		{"invalid date", []string{"settle", "--date", "2026-13-01"}, "--date"},
		{"invalid date reconcile", []string{"reconcile", "--channel", "sandbox", "--date", "26-11-22"}, "--date"},
		{"missing name", []string{"merchant", "create"}, "--name is required"},
		{"bad fee plan", []string{"merchant", "create", "--name", "x", "--fee-min", "9", "--fee-max", "1"}, "fee plan"},
		{"migrate down N", []string{"migrate", "down", "zero"}, "positive integer"},
		{"too many args", []string{"merchant", "show", "a", "b"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, env, tt.args...)
		if code != cli.ExitUsage {
			t.Errorf("%s: exit %d, want 2 (stderr %q)", tt.name, code, stderr)
		}
		if !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: stderr %q does not name %q", tt.name, stderr, tt.want)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a usage error opened the database: %v", err)
	}
	// A bad environment twin is a usage error too, naming the variable.
	code, _, stderr := run(t, map[string]string{"PAYGW_DB": "sqlite:" + db, "PAYGW_FEE_RATE_BPS": "lots"}, "merchant", "create", "--name", "x")
	if code != cli.ExitUsage || !strings.Contains(stderr, "PAYGW_FEE_RATE_BPS") {
		t.Errorf("bad env twin: %d %q", code, stderr)
	}
}

func TestMerchantCommands(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			env := map[string]string{"PAYGW_DB": storetest.DSN(t, d), "PAYGW_LOG_FORMAT": "json"}
			if code, _, e := run(t, env, "migrate", "up"); code != 0 {
				t.Fatalf("migrate up: %d %s", code, e)
			}
			if code, _, e := run(t, env, "migrate", "up"); code != 0 {
				t.Fatalf("migrate up again: %d %s", code, e)
			}
			// Flags from the environment: PAYGW_FEE_RATE_BPS is --fee-rate-bps.
			env["PAYGW_FEE_RATE_BPS"] = "45"
			code, out, stderr := run(t, env, "merchant", "create", "--name", "Acme", "--fee-min", "1",
				"--bank-account", "6222021234567890123", "--json")
			delete(env, "PAYGW_FEE_RATE_BPS")
			if code != 0 {
				t.Fatalf("create: %d %s", code, stderr)
			}
			var m struct {
				ID, Name, Secret string
				FeePlan          struct {
					RateBps int64 `json:"rate_bps"`
					Min     *int64
				} `json:"fee_plan"`
				BankAccount struct {
					AccountNo string `json:"account_no"`
				} `json:"bank_account"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil || strings.Count(out, "\n") != 1 {
				t.Fatalf("create --json is not one object: %q %v", out, err)
			}
			if m.Name != "Acme" || !strings.HasPrefix(m.Secret, "sk_") || m.FeePlan.RateBps != 45 || m.FeePlan.Min == nil ||
				m.BankAccount.AccountNo != "6222***********0123" {
				t.Fatalf("created %+v", m)
			}
			// Logs are JSON lines on stderr and never carry the secret or the account number.
			if !strings.HasPrefix(strings.TrimSpace(stderr), "{") || strings.Contains(stderr, m.Secret) || strings.Contains(stderr, "6222021234567890123") {
				t.Fatalf("stderr: %q", stderr)
			}
			// The secret is shown only by create and rotate-secret.
			_, out, _ = run(t, env, "merchant", "show", m.ID, "--json")
			if strings.Contains(out, m.Secret) || !strings.Contains(out, m.ID) {
				t.Fatalf("show: %q", out)
			}
			_, out, _ = run(t, env, "merchant", "list", "--json")
			if strings.Contains(out, m.Secret) || !strings.Contains(out, `"merchants":[`) {
				t.Fatalf("list: %q", out)
			}
			code, out, _ = run(t, env, "merchant", "rotate-secret", m.ID, "--grace", "1h", "--json")
			var r struct {
				Secret string
				Prev   string `json:"previous_secret_expires_at"`
			}
			if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Secret == m.Secret || r.Prev == "" {
				t.Fatalf("rotate: %d %q", code, out)
			}
			if code, _, _ := run(t, env, "merchant", "show", "mch_nobody"); code != cli.ExitUsage {
				t.Fatalf("show unknown: exit %d", code)
			}
			code, out, _ = run(t, env, "migrate", "status")
			if code != 0 || !strings.Contains(out, "applied") || strings.Contains(out, "  pending ") {
				t.Fatalf("status: %q", out)
			}
		})
	}
}
