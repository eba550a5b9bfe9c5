package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Keyring seals values that must be readable again (merchant API secrets, used for HMAC, and
// bank account numbers, needed in payout files) with AES-256-GCM under a key from the
// environment (PAYGW_SECRET_KEY, 32 bytes as hex or base64). A sealed value is
// "v1:" + base64(nonce ‖ ciphertext); a database dump alone reveals neither.
type Keyring struct {
	aead     cipher.AEAD
	tokenKey []byte
	// Insecure is true when no key was configured and a built-in development key is used.
	Insecure bool
}

// devKey is used only when PAYGW_SECRET_KEY is unset: demos and tests. serve logs a warning.
var devKey = sha256.Sum256([]byte("paygw development key - set PAYGW_SECRET_KEY in production"))

// KeyringFromEnv reads PAYGW_SECRET_KEY; unset means the development key (Insecure).
func KeyringFromEnv() (*Keyring, error) {
	v := strings.TrimSpace(os.Getenv("PAYGW_SECRET_KEY"))
	if v == "" {
		k, err := NewKeyring(devKey[:])
		if err != nil {
			return nil, err
		}
		k.Insecure = true
		return k, nil
	}
	key, err := hex.DecodeString(v)
	if err != nil {
		key, err = base64.StdEncoding.DecodeString(v)
	}
	if err != nil || len(key) != 32 {
		return nil, errors.New("PAYGW_SECRET_KEY must be 32 bytes as hex (64 chars) or base64")
	}
	return NewKeyring(key)
}

// NewKeyring builds a keyring from a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keyring: key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("paygw token key"))
	return &Keyring{aead: aead, tokenKey: m.Sum(nil)}, nil
}

// Seal encrypts plaintext.
func (k *Keyring) Seal(plaintext string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := k.aead.Seal(nonce, nonce, []byte(plaintext), nil)
	return "v1:" + base64.StdEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal.
func (k *Keyring) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	b64, ok := strings.CutPrefix(sealed, "v1:")
	if !ok {
		return "", errors.New("keyring: unknown sealed format")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return "", errors.New("keyring: corrupt sealed value")
	}
	pt, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("keyring: cannot decrypt (wrong PAYGW_SECRET_KEY?)")
	}
	return string(pt), nil
}

// Token is a keyed hash of a value (an account number): equal inputs give equal tokens, and the
// value cannot be recovered from it.
func (k *Keyring) Token(value string) string {
	m := hmac.New(sha256.New, k.tokenKey)
	m.Write([]byte(value))
	return "tok_" + hex.EncodeToString(m.Sum(nil))[:32]
}
