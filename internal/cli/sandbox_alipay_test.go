package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, nil, &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

func TestSandboxAlipayUsage(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI("sandbox", "keyset", "--dir", dir)
	if code != ExitOK || !strings.Contains(out, "kind: alipay") {
		t.Fatalf("keyset: %d %s %s", code, out, errOut)
	}
	for _, f := range []string{"app_private_key.pem", "app_public_key.pem", "alipay_private_key.pem", "alipay_public_key.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "app_private_key.pem"))
	if code, _, errOut = runCLI("sandbox", "keyset", "--dir", dir); code != ExitUsage || !strings.Contains(errOut, "never overwritten") {
		t.Fatalf("keyset over an existing set: %d %s", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "app_private_key.pem")); !bytes.Equal(before, after) {
		t.Fatal("keyset overwrote a key")
	}
	pub, priv := filepath.Join(dir, "app_public_key.pem"), filepath.Join(dir, "alipay_private_key.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sandbox", "--protocol", "alipay", "--app-public-key-file", pub, "--private-key-file", priv}, "--app-id"},
		{[]string{"sandbox", "--protocol", "alipay", "--app-id", "1", "--private-key-file", priv}, "--app-public-key-file"},
		{[]string{"sandbox", "--protocol", "alipay", "--app-id", "1", "--app-public-key-file", priv, "--private-key-file", priv}, "--app-public-key-file " + priv},
		{[]string{"sandbox", "--protocol", "alipay", "--app-id", "1", "--app-public-key-file", pub, "--private-key-file", pub}, "--private-key-file " + pub},
		{[]string{"sandbox", "--protocol", "alipay", "--app-id", "1", "--app-public-key-file", pub, "--private-key-file", priv, "--state-file", "x"}, "--state-file is for --protocol sandbox"},
		{[]string{"sandbox", "--protocol", "alipay", "--app-id", "1", "--app-public-key-file", pub, "--private-key-file", priv, "--error-rate", "2"}, "--error-rate"},
		{[]string{"sandbox", "--secret", "s", "--app-id", "1"}, "--app-id is for --protocol alipay"},
		{[]string{"sandbox", "--protocol", "wechat"}, "--protocol"},
		{[]string{"sandbox", "keyset", "--protocol", "x", "--dir", dir}, "--protocol"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %s, want 2 naming %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "BEGIN") {
			t.Errorf("%v: key material in the error: %s", tc.args, errOut)
		}
	}
}
