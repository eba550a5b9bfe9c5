package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
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
//
// There is no built-in key: a store opened without a keyring refuses to seal or open anything
// (ErrNoSecretKey), and the commands that need one refuse to start without PAYGW_SECRET_KEY.
type Keyring struct {
	aead     cipher.AEAD
	tokenKey []byte
}

// ErrNoSecretKey is sealing or opening a secret on a store opened without a keyring.
var ErrNoSecretKey = errors.New("PAYGW_SECRET_KEY is not set: merchant secrets and bank accounts cannot be sealed or opened (generate a key with `openssl rand -hex 32`)")

// ParseKey builds a keyring from PAYGW_SECRET_KEY's value: 32 bytes as hex (64 characters) or
// base64. The error never quotes the value.
func ParseKey(v string) (*Keyring, error) {
	v = strings.TrimSpace(v)
	key, err := hex.DecodeString(v)
	if err != nil {
		key, err = base64.StdEncoding.DecodeString(v)
	}
	if err != nil || len(key) != 32 {
		return nil, errors.New("PAYGW_SECRET_KEY must be 32 bytes as hex (64 chars) or base64 (generate one with `openssl rand -hex 32`)")
	}
	return NewKeyring(key)
}

// KeyringFromEnv reads PAYGW_SECRET_KEY from the process environment; unset is ErrNoSecretKey.
// The command line reads it through its own getenv (cli), not through this.
func KeyringFromEnv() (*Keyring, error) {
	v := os.Getenv("PAYGW_SECRET_KEY")
	if strings.TrimSpace(v) == "" {
		return nil, ErrNoSecretKey
	}
	return ParseKey(v)
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
	if k == nil {
		return "", ErrNoSecretKey
	}
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
	if k == nil {
		return "", ErrNoSecretKey
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
// A nil keyring panics: only serve tokenizes, and it refuses to start without a key.
func (k *Keyring) Token(value string) string {
	if k == nil {
		panic(ErrNoSecretKey)
	}
	m := hmac.New(sha256.New, k.tokenKey)
	m.Write([]byte(value))
	return "tok_" + hex.EncodeToString(m.Sum(nil))[:32]
}

// KeyMismatchError is a PAYGW_SECRET_KEY that does not open the secrets already in the database.
type KeyMismatchError struct {
	DSN        DSN
	MerchantID string
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("PAYGW_SECRET_KEY does not open the merchant secrets in %s (tried merchant %s): "+
		"it is not the key this database was sealed with; set the original key", e.DSN, e.MerchantID)
}

// CheckKeys opens one sealed merchant secret with the store's keyring, so that a process with
// the wrong key refuses to start instead of failing on every signature it checks.
func (s *Store) CheckKeys(ctx context.Context) error {
	var r struct {
		ID  string `db:"id"`
		Enc string `db:"secret_enc"`
	}
	err := s.db.GetContext(ctx, &r, `SELECT id, secret_enc FROM merchants ORDER BY created_at, id LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // nothing sealed yet: any key is the key
	}
	if err != nil {
		return fmt.Errorf("check secret key: %w", translate(err))
	}
	if _, err := s.keys.Open(r.Enc); err != nil {
		if errors.Is(err, ErrNoSecretKey) {
			return err
		}
		return &KeyMismatchError{DSN: s.dsn, MerchantID: r.ID}
	}
	return nil
}
