package store_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/store"
)

// FuzzParseKey: PAYGW_SECRET_KEY is outside input. Whatever it holds, parsing never panics, an
// error never quotes the value, and an accepted key seals and opens.
func FuzzParseKey(f *testing.F) {
	k := []byte("0123456789abcdef0123456789abcdef")
	for _, s := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), " " + hex.EncodeToString(k) + "\n",
		"", "short", strings.Repeat("z", 64), hex.EncodeToString(k[:31]), "change-me-please-this-is-not-hex"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		kr, err := store.ParseKey(v)
		if err != nil {
			if len(strings.TrimSpace(v)) >= 4 && strings.Contains(err.Error(), strings.TrimSpace(v)) {
				t.Fatalf("the error quotes the key: %v", err)
			}
			return
		}
		sealed, err := kr.Seal("sk_secret")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := kr.Open(sealed); err != nil || got != "sk_secret" {
			t.Fatalf("open: %q %v", got, err)
		}
	})
}

// A store opened without a keyring refuses to seal or open; it never falls back to a built-in key.
func TestNoKeyringRefuses(t *testing.T) {
	var k *store.Keyring
	if _, err := k.Seal("x"); !errors.Is(err, store.ErrNoSecretKey) {
		t.Fatalf("seal without a key: %v", err)
	}
	if _, err := k.Open("v1:AAAA"); !errors.Is(err, store.ErrNoSecretKey) {
		t.Fatalf("open without a key: %v", err)
	}
	t.Setenv("PAYGW_SECRET_KEY", "")
	if _, err := store.KeyringFromEnv(); !errors.Is(err, store.ErrNoSecretKey) {
		t.Fatalf("KeyringFromEnv with the variable unset: %v", err)
	}
}
