// Package sign holds paygw's HMAC-SHA256 signatures: the canonical strings that are signed and
// constant-time verification. Every signature is lowercase hex behind a version prefix ("v1=").
package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// NotificationVersion is the prefix of a notification signature header value.
const NotificationVersion = "v1="

// Notification returns the Paygw-Signature header value of a merchant notification:
// "v1=" + lowercase hex HMAC-SHA256(secret, TIMESTAMP + "." + body), where TIMESTAMP is the
// decimal unix seconds sent in Paygw-Timestamp (API.md, "Merchant notifications").
func Notification(secret string, ts int64, body []byte) string {
	return NotificationVersion + hex.EncodeToString(notificationMAC(secret, ts, body))
}

func notificationMAC(secret string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	var buf [24]byte
	m.Write(strconv.AppendInt(buf[:0], ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyNotification reports whether header (a Paygw-Signature value) signs ts and body under
// any of secrets, comparing in constant time. It is what a merchant's receiver does; paygw's
// tests use it to check what the delivery workers send.
func VerifyNotification(secrets []string, ts int64, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, NotificationVersion)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	okAny := false
	for _, s := range secrets {
		if hmac.Equal(got, notificationMAC(s, ts, body)) {
			okAny = true
		}
	}
	return okAny
}
