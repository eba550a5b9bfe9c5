package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoUsage(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "paygw.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty dir flag", []string{"demo", "--dir", ""}, "--dir is required"},
		{"too few payments", []string{"demo", "--dir", t.TempDir(), "--payments", "3"}, "--payments 3"},
		{"bad concurrency", []string{"demo", "--dir", t.TempDir(), "--concurrency", "0"}, "--concurrency 0"},
		{"non-empty dir", []string{"demo", "--dir", full}, "is not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), tc.args, strings.NewReader(""), &out, &errb, func(string) string { return "" })
			if code != ExitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q: want %d and %q", code, errb.String(), ExitUsage, tc.want)
			}
		})
	}
	// The existing file is untouched.
	if b, err := os.ReadFile(filepath.Join(full, "paygw.db")); err != nil || string(b) != "x" {
		t.Fatalf("demo touched a non-empty --dir: %q %v", b, err)
	}
}

// The demo is listed in the help: the README tells new users to run it.
func TestDemoListed(t *testing.T) {
	root := NewRoot(&App{})
	cmd, _, err := root.Find([]string{"demo"})
	if err != nil || cmd.Name() != "demo" || cmd.Hidden {
		t.Fatalf("demo command: %v, hidden=%v", err, cmd != nil && cmd.Hidden)
	}
}
