package alipay

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// SignContent builds the string Alipay signs: every parameter except sign and those named in
// exclude, empty values dropped, keys sorted by byte value, raw (not URL-encoded) values joined
// as k=v with &. Requests keep sign_type; notifications exclude it too.
func SignContent(params url.Values, exclude ...string) string {
	keys := make([]string, 0, len(params))
outer:
	for k := range params {
		if k == "sign" {
			continue
		}
		for _, e := range exclude {
			if k == e {
				continue outer
			}
		}
		if params.Get(k) == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params.Get(k))
	}
	return b.String()
}

// SignRSA2 signs content with SHA256withRSA (PKCS#1 v1.5) and returns it in standard Base64.
func SignRSA2(key *rsa.PrivateKey, content []byte) (string, error) {
	h := sha256.Sum256(content)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("alipay: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ErrSignature means a signature is missing, malformed or does not match.
var ErrSignature = errors.New("alipay: bad signature")

// VerifyRSA2 checks a Base64 SHA256withRSA signature over content.
func VerifyRSA2(pub *rsa.PublicKey, content []byte, sign string) error {
	if sign == "" {
		return fmt.Errorf("%w: sign is missing", ErrSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return fmt.Errorf("%w: sign is not Base64", ErrSignature)
	}
	h := sha256.Sum256(content)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		return fmt.Errorf("%w: does not match", ErrSignature)
	}
	return nil
}

// ParsePrivateKey reads an RSA private key: PEM (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE
// KEY") or the bare Base64 the Alipay key tool prints. Errors never quote key material.
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	der, err := keyDER(b)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA private key")
		}
		return rk, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8 or PKCS#1 RSA private key")
}

// ParsePublicKey reads an RSA public key: PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY" (PKCS#1),
// or bare Base64 of either, as the Alipay console shows it.
func ParsePublicKey(b []byte) (*rsa.PublicKey, error) {
	der, err := keyDER(b)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA public key")
		}
		return rk, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKIX or PKCS#1 RSA public key")
}

func keyDER(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("empty key")
	}
	if blk, _ := pem.Decode(b); blk != nil {
		return blk.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return nil, errors.New("neither PEM nor Base64")
	}
	return der, nil
}

// MarshalPrivateKeyPEM encodes key as PKCS#8 PEM ("BEGIN PRIVATE KEY").
func MarshalPrivateKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes pub as PKIX PEM ("BEGIN PUBLIC KEY").
func MarshalPublicKeyPEM(pub *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ResponseKey is the JSON key of a method's answer: "alipay.trade.query" answers under
// "alipay_trade_query_response".
func ResponseKey(method string) string { return strings.ReplaceAll(method, ".", "_") + "_response" }

// ExtractResponse finds the raw JSON value of the method's response node (or error_response) in
// an answer body, exactly as received: the text Alipay signed. It brace-matches the object while
// tracking strings and escapes, and refuses a body where the node's key appears again after the
// extracted value (a second node smuggled in to be believed instead). It also returns the
// top-level "sign".
func ExtractResponse(body []byte, method string) (raw []byte, sign string, err error) {
	node := ResponseKey(method)
	raw, end, err := extractNode(body, node)
	if err != nil {
		var err2 error
		raw, end, err2 = extractNode(body, "error_response")
		if err2 != nil {
			return nil, "", err
		}
		node = "error_response"
	}
	if bytes.Contains(body[end:], []byte(`"`+node+`"`)) {
		return nil, "", fmt.Errorf("alipay: %s appears twice in the answer", node)
	}
	sign, err = topLevelSign(body)
	if err != nil {
		return nil, "", err
	}
	return raw, sign, nil
}

// extractNode returns the object value of key "node" and the offset just after it.
func extractNode(body []byte, node string) ([]byte, int, error) {
	key := []byte(`"` + node + `"`)
	i := bytes.Index(body, key)
	if i < 0 {
		return nil, 0, fmt.Errorf("alipay: answer has no %s", node)
	}
	j := i + len(key)
	for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n') {
		j++
	}
	if j >= len(body) || body[j] != ':' {
		return nil, 0, fmt.Errorf("alipay: %s is not followed by a value", node)
	}
	j++
	for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r' || body[j] == '\n') {
		j++
	}
	if j >= len(body) || body[j] != '{' {
		return nil, 0, fmt.Errorf("alipay: %s is not an object", node)
	}
	start, depth, inStr, esc := j, 0, false, false
	for ; j < len(body); j++ {
		c := body[j]
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return body[start : j+1], j + 1, nil
			}
		}
	}
	return nil, 0, fmt.Errorf("alipay: %s is not closed", node)
}

// topLevelSign returns the "sign" member of the answer object ("" when absent).
func topLevelSign(body []byte) (string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return "", fmt.Errorf("alipay: answer is not a JSON object: %v", err)
	}
	raw, ok := top["sign"]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("alipay: sign is not a string")
	}
	return s, nil
}

// VerifyNotification checks an async notification's form: its sign over every other parameter
// except sign_type (empty values dropped, sorted, URL-decoded values), with sign_type RSA2.
func VerifyNotification(pub *rsa.PublicKey, form url.Values) error {
	if st := form.Get("sign_type"); st != "" && st != "RSA2" {
		return fmt.Errorf("%w: sign_type %q is not RSA2", ErrSignature, st)
	}
	for k, vs := range form {
		if len(vs) != 1 {
			return fmt.Errorf("%w: parameter %s given %d times", ErrSignature, k, len(vs))
		}
	}
	return VerifyRSA2(pub, []byte(SignContent(form, "sign_type")), form.Get("sign"))
}
