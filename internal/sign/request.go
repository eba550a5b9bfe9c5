// Package sign computes and verifies paygw's HMAC-SHA256 signatures: merchant API requests
// (API.md "Authentication") and outgoing merchant notifications. Comparisons are constant-time.
package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Canonical is the string a merchant signs:
// METHOD \n PATH_WITH_QUERY \n TIMESTAMP \n NONCE \n hex(sha256(body)).
func Canonical(method, pathWithQuery string, timestamp int64, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	var b strings.Builder
	b.Grow(len(method) + len(pathWithQuery) + len(nonce) + 90)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(pathWithQuery)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(timestamp, 10))
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.String()
}

// Request returns the Paygw-Signature header value for a canonical string: "v1=<hex>".
func Request(secret, canonical string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(canonical))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid v1 signature of canonical under any of secrets
// (the current secret and, during a rotation's grace period, the previous one).
func Verify(secrets []string, canonical, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "v1=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	valid := false
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(canonical))
		if hmac.Equal(got, m.Sum(nil)) {
			valid = true // keep going: the time taken does not depend on which secret matched
		}
	}
	return valid
}
