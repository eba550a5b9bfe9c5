package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygw/paygw/internal/storetest"
)

// No command's logs or output carry a DSN password, a merchant secret, PAYGW_SECRET_KEY or a
// full account number: every command path that logs at start runs here at debug level, on
// each database (on PostgreSQL with a password in the DSN), and on a database that cannot be
// reached.
func TestNoSecretsInLogs(t *testing.T) {
	const pw = "dsn-pw-Q7x9"
	const account = "6222021234567890123"
	fixture, _ := filepath.Abs("../../fixtures/statements/sandbox_2026-11-22.csv")
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			env := map[string]string{"PAYGW_DB": withPassword(t, storetest.DSN(t, d), pw), "PAYGW_LOG_LEVEL": "debug", "PAYGW_LOG_FORMAT": "json"}
			out := t.TempDir()
			var secrets []string
			check := func(args []string, texts ...string) {
				t.Helper()
				for _, text := range texts {
					for _, bad := range append([]string{pw, testKeyHex, account}, secrets...) {
						if strings.Contains(text, bad) {
							t.Errorf("paygw %s printed a secret (%.6s…):\n%s", strings.Join(args, " "), bad, text)
						}
					}
				}
			}
			step := func(args ...string) string {
				t.Helper()
				var code int
				var stdout, stderr string
				if args[0] == "serve" { // started, logged, then stopped by the deadline
					code, stdout, stderr = runFor(t, 8*time.Second, env, args...)
				} else {
					code, stdout, stderr = run(t, env, args...)
				}
				if code != 0 {
					t.Fatalf("paygw %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
				}
				check(args, stderr, stdout)
				return stdout
			}
			step("migrate", "up")
			// create prints the secret once on stdout, by design; its logs must not.
			args := []string{"merchant", "create", "--name", "Shop", "--bank-account", account, "--json"}
			code, stdout, stderr := run(t, env, args...)
			var m struct{ ID, Secret string }
			if code != 0 || json.Unmarshal([]byte(stdout), &m) != nil || m.Secret == "" {
				t.Fatalf("create: %d %s %s", code, stdout, stderr)
			}
			secrets = append(secrets, m.Secret)
			check(args, stderr)
			args = []string{"merchant", "rotate-secret", m.ID, "--grace", "1h", "--json"}
			code, stdout, stderr = run(t, env, args...)
			var r struct{ Secret string }
			if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || r.Secret == "" {
				t.Fatalf("rotate: %d %s %s", code, stdout, stderr)
			}
			check(args, stderr, strings.ReplaceAll(stdout, r.Secret, "")) // only the new secret, once
			secrets = append(secrets, r.Secret)
			step("merchant", "list")
			step("merchant", "show", m.ID)
			step("migrate", "status")
			step("serve", "--addr", "127.0.0.1:0")
			step("reconcile", "--channel", "sandbox", "--date", "2026-11-22", "--file", fixture, "--out", out)
			step("reconcile", "list")
			step("settle", "--date", "2026-11-22", "--out", out)
			step("report", "daily", "--date", "2026-11-22", "--out", out)
			step("verify")
			step("jobs", "list")
			step("replay-notify", "--all", "--dry-run")
			// Failures log too.
			for _, args := range [][]string{{"settle", "mark-paid", "--batch", "stb_NOPE", "--bank-ref", "B"}, {"merchant", "show", "mch_NOPE"}} {
				_, stdout, stderr := run(t, env, args...)
				check(args, stderr, stdout)
			}
		})
	}
	// A PostgreSQL server that cannot be reached: the error names the server, not the password.
	env := map[string]string{"PAYGW_DB": "postgres://paygw:" + pw + "@127.0.0.1:1/paygw?sslmode=disable&connect_timeout=2", "PAYGW_LOG_FORMAT": "json"}
	for _, args := range [][]string{{"migrate", "up"}, {"verify"}, {"serve", "--addr", "127.0.0.1:0"}} {
		code, stdout, stderr := runFor(t, 10*time.Second, env, args...)
		if code == 0 || strings.Contains(stderr+stdout, pw) {
			t.Errorf("%v on an unreachable server: exit %d, output %q", args, code, stderr+stdout)
		}
	}
}
