package sign_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/sign"
)

// vectors parses the ```vector blocks of docs/api.md into key → value maps.
func vectors(t *testing.T) []map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	var cur map[string]string
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "```vector":
			cur = map[string]string{"line": strconv.Itoa(i + 1)}
		case cur != nil && line == "```":
			out = append(out, cur)
			cur = nil
		case cur != nil:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("docs/api.md:%d: want key: value in a vector block, got %q", i+1, line)
			}
			cur[k] = strings.TrimPrefix(v, " ")
		}
	}
	return out
}

// The signature test vectors of docs/api.md are what internal/sign computes: a merchant who
// reproduces them signs and verifies like paygw.
func TestAPIDocSignatureVectors(t *testing.T) {
	vs := vectors(t)
	kinds := map[string]int{}
	for _, v := range vs {
		at := "docs/api.md:" + v["line"]
		kinds[v["kind"]]++
		body := []byte(v["body"])
		switch v["kind"] {
		case "request":
			ts, err := strconv.ParseInt(v["timestamp"], 10, 64)
			if err != nil {
				t.Fatalf("%s: timestamp: %v", at, err)
			}
			sum := sha256.Sum256(body)
			if got := hex.EncodeToString(sum[:]); got != v["body_sha256"] {
				t.Errorf("%s: body_sha256 is %s, want %s", at, v["body_sha256"], got)
			}
			canonical := sign.Canonical(v["method"], v["path"], ts, v["nonce"], body)
			if doc := strings.ReplaceAll(v["canonical"], `\n`, "\n"); doc != canonical {
				t.Errorf("%s: canonical is %q, internal/sign makes %q", at, doc, canonical)
			}
			if got := sign.Request(v["secret"], canonical); got != v["signature"] {
				t.Errorf("%s: signature is %s, internal/sign makes %s", at, v["signature"], got)
			}
			if !sign.Verify([]string{v["secret"]}, canonical, v["signature"]) {
				t.Errorf("%s: the documented signature does not verify", at)
			}
		case "notification":
			ts, err := strconv.ParseInt(v["timestamp"], 10, 64)
			if err != nil {
				t.Fatalf("%s: timestamp: %v", at, err)
			}
			if got := sign.Notification(v["secret"], ts, body); got != v["signature"] {
				t.Errorf("%s: signature is %s, internal/sign makes %s", at, v["signature"], got)
			}
			if !sign.VerifyNotification([]string{v["secret"]}, ts, body, v["signature"]) {
				t.Errorf("%s: the documented notification signature does not verify", at)
			}
		default:
			t.Errorf("%s: unknown vector kind %q", at, v["kind"])
		}
	}
	if kinds["request"] < 2 || kinds["notification"] < 1 {
		t.Errorf("docs/api.md has %d request and %d notification vectors; want at least 2 and 1", kinds["request"], kinds["notification"])
	}
}
