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

func TestSandboxKeygenAlipay(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI("sandbox", "keygen", "--protocol", "alipay", "--dir", dir, "--simulator-url", "http://127.0.0.1:9092")
	if code != ExitOK || !strings.Contains(out, "kind: alipay") || !strings.Contains(out, "url: http://127.0.0.1:9092/gateway.do") ||
		!strings.Contains(out, "--protocol alipay --keys "+dir) {
		t.Fatalf("keygen: %d %s %s", code, out, errOut)
	}
	for f, mode := range map[string]os.FileMode{"app_private_key.pem": 0o600, "app_public_key.pem": 0o644,
		"alipay_private_key.pem": 0o600, "alipay_public_key.pem": 0o644, "simulator.json": 0o644} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "app_private_key.pem"))
	if code, _, errOut = runCLI("sandbox", "keygen", "--protocol", "alipay", "--dir", dir); code == ExitOK || !strings.Contains(errOut, "never overwritten") {
		t.Fatalf("keygen over an existing set: %d %s", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "app_private_key.pem")); !bytes.Equal(before, after) {
		t.Fatal("keygen overwrote a key")
	}
	// A key directory without the simulator's files is refused before listening.
	empty := t.TempDir()
	code, _, errOut = runCLI("sandbox", "--protocol", "alipay", "--keys", empty, "--addr", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(errOut, "simulator.json") {
		t.Fatalf("empty key dir: %d %s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(empty, "simulator.json"), []byte(`{"app_id":"1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "app_public_key.pem"), []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI("sandbox", "--protocol", "alipay", "--keys", empty, "--addr", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(errOut, "app_public_key.pem") || strings.Contains(errOut, "not a key") {
		t.Fatalf("bad key file: %d %s", code, errOut)
	}
}
