package wechatpay

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SchemeRSA is the Authorization scheme of an APIv3 request signature.
const SchemeRSA = "WECHATPAY2-SHA256-RSA2048"

// MaxSkew is how far a signed timestamp may be from our clock (both official SDKs: 5 minutes).
const MaxSkew = 5 * time.Minute

// Algorithm is the only callback resource encryption APIv3 uses.
const Algorithm = "AEAD_AES_256_GCM"

// ParsePrivateKey reads a PKCS#8 RSA private key in PEM ("BEGIN PRIVATE KEY"), as in the
// apiclient_key.pem a merchant downloads. Errors never quote the key.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY (PKCS#8)", b.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// ParsePublicKey reads an RSA public key in PEM ("BEGIN PUBLIC KEY", PKIX), as in the
// pub_key.pem of the WeChat Pay public key.
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want PUBLIC KEY", b.Type)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, errors.New("not a PKIX public key")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// EncodePrivateKey and EncodePublicKey write keys in the PEM forms the parsers read.
func EncodePrivateKey(k *rsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(k) // an RSA key always marshals
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// EncodePublicKey writes a PKIX "PUBLIC KEY" PEM block.
func EncodePublicKey(k *rsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// RequestMessage is the string a request signature covers: five lines, each ending in "\n".
// uri is the path plus "?" and the raw query, exactly as sent.
func RequestMessage(method, uri, timestamp, nonce string, body []byte) []byte {
	var b strings.Builder
	b.Grow(len(method) + len(uri) + len(timestamp) + len(nonce) + len(body) + 5)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(timestamp)
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.Write(body)
	b.WriteByte('\n')
	return []byte(b.String())
}

// ResponseMessage is what a response or callback signature covers: timestamp, nonce and the raw
// body, each followed by "\n".
func ResponseMessage(timestamp, nonce string, body []byte) []byte {
	m := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	m = append(m, timestamp...)
	m = append(m, '\n')
	m = append(m, nonce...)
	m = append(m, '\n')
	m = append(m, body...)
	return append(m, '\n')
}

// JSAPIMessage is what the JSAPI paySign covers: appId, timeStamp, nonceStr, package.
func JSAPIMessage(appID, timestamp, nonce, pkg string) []byte {
	return []byte(appID + "\n" + timestamp + "\n" + nonce + "\n" + pkg + "\n")
}

// Sign is Base64(RSASSA-PKCS1-v1_5(SHA-256, key, msg)).
func Sign(key *rsa.PrivateKey, msg []byte) (string, error) {
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("wechatpay sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a Base64 signature over msg. A WECHATPAY/SIGNTEST/ probe fails like any other
// wrong signature: nothing is special-cased.
func Verify(pub *rsa.PublicKey, msg []byte, sigB64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return errors.New("signature is not Base64")
	}
	h := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// Signed is a verified message's signature headers.
type Signed struct {
	Timestamp, Nonce, Signature, Serial string
}

// Header names of a signed response or callback.
const (
	HeaderTimestamp = "Wechatpay-Timestamp"
	HeaderNonce     = "Wechatpay-Nonce"
	HeaderSignature = "Wechatpay-Signature"
	HeaderSerial    = "Wechatpay-Serial"
	HeaderSigType   = "Wechatpay-Signature-Type"
)

// VerifyMessage checks a response's or callback's signature: the serial must be the configured
// public key id, the timestamp within MaxSkew of now, and the signature valid over
// ResponseMessage. Missing headers are errors.
func VerifyMessage(pub *rsa.PublicKey, keyID string, s Signed, body []byte, now time.Time) error {
	if s.Timestamp == "" || s.Nonce == "" || s.Signature == "" || s.Serial == "" {
		return errors.New("unsigned: Wechatpay-Timestamp, -Nonce, -Signature and -Serial are required")
	}
	if s.Serial != keyID {
		return fmt.Errorf("Wechatpay-Serial %.64q is not the configured public key id", s.Serial)
	}
	ts, err := strconv.ParseInt(s.Timestamp, 10, 64)
	if err != nil {
		return errors.New("Wechatpay-Timestamp is not unix seconds")
	}
	if d := now.Sub(time.Unix(ts, 0)); d >= MaxSkew || d <= -MaxSkew {
		return fmt.Errorf("Wechatpay-Timestamp is %s from our clock (more than %s)", d.Round(time.Second), MaxSkew)
	}
	return Verify(pub, ResponseMessage(s.Timestamp, s.Nonce, body), s.Signature)
}

// Authorization builds the Authorization header value of a request.
func Authorization(key *rsa.PrivateKey, mchid, serialNo, method, uri string, now time.Time, nonce string, body []byte) (string, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	sig, err := Sign(key, RequestMessage(method, uri, ts, nonce, body))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%s",serial_no="%s",signature="%s"`,
		SchemeRSA, mchid, nonce, ts, serialNo, sig), nil
}

// Auth is a parsed Authorization header.
type Auth struct {
	MchID, Nonce, Timestamp, SerialNo, Signature string
}

// ParseAuthorization parses `WECHATPAY2-SHA256-RSA2048 k="v",…` (any field order).
func ParseAuthorization(h string) (Auth, error) {
	rest, ok := strings.CutPrefix(h, SchemeRSA+" ")
	if !ok {
		return Auth{}, fmt.Errorf("Authorization scheme is not %s", SchemeRSA)
	}
	var a Auth
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return Auth{}, fmt.Errorf("Authorization field %.32q is not k=\"v\"", part)
		}
		v = v[1 : len(v)-1]
		switch k {
		case "mchid":
			a.MchID = v
		case "nonce_str":
			a.Nonce = v
		case "timestamp":
			a.Timestamp = v
		case "serial_no":
			a.SerialNo = v
		case "signature":
			a.Signature = v
		default:
			return Auth{}, fmt.Errorf("Authorization has unknown field %.32q", k)
		}
	}
	if a.MchID == "" || a.Nonce == "" || a.Timestamp == "" || a.SerialNo == "" || a.Signature == "" {
		return Auth{}, errors.New("Authorization needs mchid, nonce_str, timestamp, serial_no and signature")
	}
	return a, nil
}

// Decrypt opens an AEAD_AES_256_GCM resource: Base64(ciphertext ‖ 16-byte tag) under the 32-byte
// APIv3 key with the 12-byte nonce and the associated data.
func Decrypt(apiv3Key []byte, nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	gcm, err := newGCM(apiv3Key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("nonce has %d bytes, want %d", len(nonce), gcm.NonceSize())
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, errors.New("ciphertext is not Base64")
	}
	if len(ct) < gcm.Overhead() {
		return nil, errors.New("ciphertext shorter than the tag")
	}
	pt, err := gcm.Open(nil, []byte(nonce), ct, []byte(associatedData))
	if err != nil {
		return nil, errors.New("ciphertext does not authenticate under the APIv3 key")
	}
	return pt, nil
}

// Encrypt seals plaintext the way WeChat Pay encrypts a callback resource (the simulator).
func Encrypt(apiv3Key []byte, nonce, associatedData string, plaintext []byte) (string, error) {
	gcm, err := newGCM(apiv3Key)
	if err != nil {
		return "", err
	}
	if len(nonce) != gcm.NonceSize() {
		return "", fmt.Errorf("nonce has %d bytes, want %d", len(nonce), gcm.NonceSize())
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("APIv3 key has %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Nonce returns n random characters of [0-9A-Za-z] (the SDKs use 32 for requests, 12 for AES).
func Nonce(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("wechatpay: crypto/rand: " + err.Error()) // the OS has no randomness: nothing is safe
	}
	for i := range b {
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b)
}
