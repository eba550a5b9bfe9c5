package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/cli"
	"github.com/paygw/paygw/internal/storetest"
)

// migrationCounts runs migrate status: how many migrations are applied and pending, and the
// newest applied version's line.
func migrationCounts(t *testing.T, env map[string]string) (applied, pending int, newest string) {
	t.Helper()
	code, out, stderr := run(t, env, "migrate", "status")
	if code != 0 {
		t.Fatalf("migrate status: %d %s", code, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.Contains(line, " applied "):
			applied++
			newest = strings.Fields(line)[0]
		case strings.Contains(line, " pending "):
			pending++
		}
	}
	return applied, pending, newest
}

// migrate down drops tables: it says which, refuses an impossible count before touching
// anything, and does nothing without --yes or an exact --to target.
func TestMigrateDownIsConfirmed(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			env := migrated(t, d)
			if code, _, e := run(t, env, "merchant", "create", "--name", "Kept", "--bank-account", "6222021234567890123"); code != 0 {
				t.Fatalf("create: %s", e)
			}
			all, _, newest := migrationCounts(t, env)
			unchanged := func(what string) {
				t.Helper()
				if a, p, _ := migrationCounts(t, env); a != all || p != 0 {
					t.Fatalf("%s changed the schema: %d applied, %d pending", what, a, p)
				}
				if code, out, _ := run(t, env, "merchant", "list"); code != 0 || !strings.Contains(out, "Kept") {
					t.Fatalf("%s lost the merchants: %d %q", what, code, out)
				}
			}

			// Not confirmed: the plan is printed, nothing happens, exit 2.
			for _, args := range [][]string{{"migrate", "down"}, {"migrate", "down", "1"}} {
				code, out, stderr := run(t, env, args...)
				if code != cli.ExitUsage || !strings.Contains(stderr, "--yes") || !strings.Contains(out, newest+" ") || !strings.Contains(out, "would roll back 1 migration") {
					t.Errorf("%v: exit %d\nstdout %q\nstderr %q", args, code, out, stderr)
				}
				unchanged(strings.Join(args, " "))
			}
			// More than is applied: refused before anything is dropped, confirmed or not.
			for _, args := range [][]string{{"migrate", "down", "99", "--yes"}, {"migrate", "down", "99"}} {
				code, _, stderr := run(t, env, args...)
				if code != cli.ExitUsage || !strings.Contains(stderr, "only") || !strings.Contains(stderr, "applied") {
					t.Errorf("%v: exit %d, %q", args, code, stderr)
				}
				unchanged(strings.Join(args, " "))
			}
			// Bad targets.
			for _, args := range [][]string{{"migrate", "down", "--to", "9999"}, {"migrate", "down", "2", "--to", "1"}, {"migrate", "down", "--to", "-1"}} {
				if code, _, stderr := run(t, env, args...); code != cli.ExitUsage {
					t.Errorf("%v: exit %d, %q", args, code, stderr)
				}
				unchanged(strings.Join(args, " "))
			}

			// Confirmed: the whole plan names every table it drops, with its rows.
			code, out, stderr := run(t, env, "migrate", "down", "--to", "0")
			if code != 0 {
				t.Fatalf("down --to 0 (an exact target confirms): %d %s", code, stderr)
			}
			if !strings.Contains(out, "merchants (1 rows)") || !strings.Contains(out, "payments (0 rows)") {
				t.Errorf("down --to 0 does not list the tables it drops:\n%s", out)
			}
			if a, p, _ := migrationCounts(t, env); a != 0 || p != all {
				t.Fatalf("after down --to 0: %d applied, %d pending", a, p)
			}
			if code, _, stderr := run(t, env, "merchant", "list"); code != cli.ExitUsage || !strings.Contains(stderr, "is not migrated") {
				t.Errorf("merchant list after down: %d %q", code, stderr)
			}
			if code, _, e := run(t, env, "migrate", "up"); code != 0 {
				t.Fatalf("up again: %s", e)
			}
			code, out, stderr = run(t, env, "migrate", "down", "2", "--yes")
			if code != 0 || !strings.Contains(out, "would roll back 2 migration") {
				t.Fatalf("down 2 --yes: %d %q %q", code, out, stderr)
			}
			if a, p, _ := migrationCounts(t, env); a != all-2 || p != 2 {
				t.Fatalf("after down 2: %d applied, %d pending", a, p)
			}
			if code, out, _ := run(t, env, "migrate", "down", "--to", "0", "--yes"); code != 0 || !strings.Contains(out, "would roll back "+itoa(all-2)+" migration") {
				t.Errorf("down --to 0 --yes: %d %q", code, out)
			}
			if code, _, _ := run(t, env, "migrate", "down", "--yes"); code != cli.ExitUsage {
				t.Errorf("down with nothing applied: exit %d (want 2: 1 asked, 0 applied)", code)
			}
		})
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}

// migrate up creates the SQLite file 0600 and makes an older, world-readable one private.
func TestMigrateUpMakesSQLiteFilesPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paygw.db")
	env := map[string]string{"PAYGW_DB": "sqlite:" + path}
	if code, _, e := run(t, env, "migrate", "up"); code != 0 {
		t.Fatal(e)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new database: %v %v", fi.Mode(), err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, env, "migrate", "up")
	if fi, _ := os.Stat(path); code != 0 || fi.Mode().Perm() != 0o600 || !strings.Contains(stderr, "owner only") {
		t.Fatalf("migrate up on a 0644 database: exit %d, mode %v, %s", code, fi.Mode(), stderr)
	}
}
