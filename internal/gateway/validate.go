package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/money"
	"github.com/paygw/paygw/internal/paygw"
)

// CreatePayment is the create-payment request body of API.md.
type CreatePayment struct {
	OutTradeNo  string          `json:"out_trade_no"`
	Amount      json.RawMessage `json:"amount"`
	Currency    string          `json:"currency"`
	PayMethod   string          `json:"pay_method"`
	Subject     string          `json:"subject"`
	NotifyURL   string          `json:"notify_url"`
	ReturnURL   string          `json:"return_url"`
	ExpiresIn   *int64          `json:"expires_in"`
	AgreementID *string         `json:"agreement_id"`
	Metadata    json.RawMessage `json:"metadata"`
	Payer       *PaymentPayer   `json:"payer"`
	ClientIP    string          `json:"client_ip"` // the payer's IP address (wallet_h5 sends it to the channel)
}

// PaymentPayer identifies the payer of a payment to the channel.
type PaymentPayer struct {
	OpenID string `json:"openid"` // the payer's openid under the channel's app (wallet_jsapi)
}

// CreateRefund is the refund request body.
type CreateRefund struct {
	OutRefundNo string          `json:"out_refund_no"`
	Amount      json.RawMessage `json:"amount"`
	Reason      string          `json:"reason"`
	NotifyURL   string          `json:"notify_url"`
}

// SignAgreement is the agreement request body.
type SignAgreement struct {
	OutAgreementNo string `json:"out_agreement_no"`
	PayMethod      string `json:"pay_method"`
	Payer          struct {
		Name      string `json:"name"`
		AccountNo string `json:"account_no"`
		Phone     string `json:"phone"`
	} `json:"payer"`
}

// Decode reads a JSON request body strictly: one object, no unknown fields, no trailing data,
// and text that a database can store: no NUL, no invalid UTF-8 (json would silently turn it into
// U+FFFD), no lone surrogate escape. A bad text answers invalid_request naming its field.
func Decode(body []byte, v any) error {
	if err := checkBodyText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return paygw.Errorf(paygw.CodeInvalidRequest, "body is not a valid JSON object: %s", jsonErr(err))
	}
	if dec.More() {
		return paygw.Errorf(paygw.CodeInvalidRequest, "body has data after the JSON object")
	}
	return nil
}

func jsonErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func invalid(field, format string, args ...any) error {
	return paygw.Errorf(paygw.CodeInvalidRequest, "%s: %s", field, fmt.Sprintf(format, args...))
}

func checkOutNo(field, s string) error {
	if s == "" || len(s) > 64 {
		return invalid(field, "required, 1 to 64 characters")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return invalid(field, "only [A-Za-z0-9_.-] allowed")
		}
	}
	return nil
}

func checkURL(field, s string, required bool) error {
	if s == "" {
		if required {
			return invalid(field, "required")
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 1024 {
		return invalid(field, "must be an http(s) URL of at most 1024 characters")
	}
	return nil
}

func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "must be valid UTF-8 without NUL characters")
	}
	if utf8.RuneCountInString(s) > max {
		return invalid(field, "at most %d characters", max)
	}
	return nil
}

// checkBodyText checks every string of a JSON object body, keys included, for text no database
// stores faithfully (see rawTextOK) and names the field that holds it (payer.name, metadata).
// A body that is not an object is left to the decoder's own error.
func checkBodyText(body []byte) error {
	// The common case: the whole body is good text, and so is every string in it (rawTextOK's
	// checks are local to a character or an escape, and every field starts at a token
	// boundary). Only a body that fails is taken apart to name the field.
	if rawTextOK(body) {
		return nil
	}
	return badTextField(body)
}

// badTextField names the first field of body (in key order) whose text rawTextOK refuses, the
// body itself when no value is to blame (a key, or a body that is not an object), or nil.
func badTextField(body []byte) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		if !rawTextOK(body) {
			return invalid("body", "must be valid UTF-8 without NUL characters")
		}
		return nil
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := top[k]
		field := k
		var nested map[string]json.RawMessage
		if k == "payer" && json.Unmarshal(raw, &nested) == nil {
			for nk, nraw := range nested {
				if !rawTextOK(nraw) {
					return invalid("payer."+nk, "must be valid UTF-8 without NUL characters")
				}
			}
		}
		if !rawTextOK(raw) {
			return invalid(field, "must be valid UTF-8 without NUL characters")
		}
	}
	// A bad key at the top level (the values were fine).
	if !rawTextOK(body) {
		return invalid("body", "must be valid UTF-8 without NUL characters")
	}
	return nil
}

// rawTextOK reports whether raw JSON text is valid UTF-8 and has no \u0000 escape and no
// unpaired surrogate escape: PostgreSQL refuses all three in text (a 500 before), and SQLite
// would store them as given.
func rawTextOK(raw []byte) bool {
	if !utf8.Valid(raw) || bytes.IndexByte(raw, 0) >= 0 {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue // \" \\ \n … (or a truncated escape, the decoder's to refuse)
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			continue
		}
		i += 4
		switch {
		case r == 0:
			return false
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low surrogate without its high half
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := rune(0), false
			if i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				lo, ok = hex4(raw, i+3)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 reads the 4 hex digits of a \u escape starting at raw[i].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// amountOf parses an integer amount in minor units: a JSON number, positive, at most
// money.MaxAmount, no fraction, no exponent ("12" as a string is refused).
func amountOf(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if s == "" || s == "null" {
		return 0, paygw.Errorf(paygw.CodeInvalidAmount, "amount is required (integer, minor units)")
	}
	if strings.ContainsAny(s, ".eE+") || strings.HasPrefix(s, "-") || (len(s) > 1 && s[0] == '0') {
		return 0, paygw.Errorf(paygw.CodeInvalidAmount, "amount must be a positive integer in minor units (1234 = 12.34 CNY)")
	}
	if strings.Trim(s, "0123456789") != "" {
		return 0, paygw.Errorf(paygw.CodeInvalidAmount, "amount must be a positive integer in minor units (1234 = 12.34 CNY)")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v > money.MaxAmount {
		return 0, paygw.Errorf(paygw.CodeInvalidAmount, "amount must be a positive integer in minor units, at most %d", money.MaxAmount)
	}
	return v, nil
}

// MaxExpiresIn bounds expires_in (seconds).
const MaxExpiresIn = 7 * 24 * 3600

// ValidPayment is a validated create-payment request.
type ValidPayment struct {
	OutTradeNo  string
	Amount      int64
	Currency    money.Currency
	PayMethod   paygw.PayMethod
	Subject     string
	NotifyURL   string
	ReturnURL   string
	ExpiresIn   int64
	AgreementID string
	Metadata    json.RawMessage
	PayerOpenID string
	ClientIP    string // the payer's IP as the merchant gave it; "" = the request's client address
	Hash        string
}

// ValidatePayment checks every field of a create-payment request.
func ValidatePayment(r CreatePayment) (ValidPayment, error) {
	v := ValidPayment{OutTradeNo: r.OutTradeNo, Subject: r.Subject, NotifyURL: r.NotifyURL, ReturnURL: r.ReturnURL}
	if err := checkOutNo("out_trade_no", r.OutTradeNo); err != nil {
		return v, err
	}
	amt, err := amountOf(r.Amount)
	if err != nil {
		return v, err
	}
	v.Amount = amt
	cur, err := money.ParseCurrency(r.Currency)
	if err != nil {
		return v, invalid("currency", "unsupported currency %q", r.Currency)
	}
	v.Currency = cur
	pm, err := paygw.ParsePayMethod(r.PayMethod)
	if err != nil {
		return v, err
	}
	v.PayMethod = pm
	if err := checkText("subject", r.Subject, 256); err != nil {
		return v, err
	}
	if err := checkURL("notify_url", r.NotifyURL, false); err != nil {
		return v, err
	}
	if err := checkURL("return_url", r.ReturnURL, false); err != nil {
		return v, err
	}
	v.ExpiresIn = 900
	if r.ExpiresIn != nil {
		if *r.ExpiresIn < 60 || *r.ExpiresIn > MaxExpiresIn {
			return v, invalid("expires_in", "between 60 and %d seconds", MaxExpiresIn)
		}
		v.ExpiresIn = *r.ExpiresIn
	}
	if r.AgreementID != nil {
		v.AgreementID = *r.AgreementID
	}
	if pm.NeedsAgreement() && v.AgreementID == "" {
		return v, invalid("agreement_id", "required for %s", pm)
	}
	if !pm.NeedsAgreement() && v.AgreementID != "" {
		return v, invalid("agreement_id", "only for quick_pay and withhold")
	}
	if len(r.Metadata) > 0 && string(r.Metadata) != "null" {
		var m map[string]any
		if err := json.Unmarshal(r.Metadata, &m); err != nil {
			return v, invalid("metadata", "must be a JSON object")
		}
		if len(r.Metadata) > 4096 {
			return v, invalid("metadata", "at most 4096 bytes")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.Metadata); err != nil {
			return v, invalid("metadata", "must be a JSON object")
		}
		v.Metadata = buf.Bytes()
	}
	if r.Payer != nil {
		v.PayerOpenID = r.Payer.OpenID
		if err := checkOpenID(v.PayerOpenID); err != nil {
			return v, err
		}
	}
	if pm == paygw.PayMethodWalletJSAPI && v.PayerOpenID == "" {
		return v, invalid("payer.openid", "required for %s", pm)
	}
	if r.ClientIP != "" {
		ip, err := netip.ParseAddr(r.ClientIP)
		if err != nil || ip.Zone() != "" {
			return v, invalid("client_ip", "%q is not an IPv4 or IPv6 address", truncate(r.ClientIP, 64))
		}
		v.ClientIP = ip.String()
	}
	fields := []string{v.OutTradeNo, fmt.Sprint(v.Amount), string(v.Currency), string(v.PayMethod), v.Subject,
		v.NotifyURL, v.ReturnURL, fmt.Sprint(v.ExpiresIn), v.AgreementID, string(v.Metadata)}
	if v.PayerOpenID != "" || v.ClientIP != "" {
		// Appended only when given, so requests without them keep the fingerprint they always had.
		fields = append(fields, v.PayerOpenID, v.ClientIP)
	}
	v.Hash = hashFields(fields...)
	return v, nil
}

// checkOpenID accepts a WeChat openid: 1 to 128 characters of [A-Za-z0-9_-].
func checkOpenID(s string) error {
	if s == "" || len(s) > 128 {
		return invalid("payer.openid", "1 to 128 characters")
	}
	if strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
		return invalid("payer.openid", "only [A-Za-z0-9_-] allowed")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// hashFields is the idempotency fingerprint of a request: the same fields give the same hash.
func hashFields(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidRefund is a validated refund request.
type ValidRefund struct {
	OutRefundNo string
	Amount      int64
	Reason      string
	NotifyURL   string
	Hash        string
}

// ValidateRefund checks a refund request.
func ValidateRefund(paymentID string, r CreateRefund) (ValidRefund, error) {
	v := ValidRefund{OutRefundNo: r.OutRefundNo, Reason: r.Reason, NotifyURL: r.NotifyURL}
	if err := checkOutNo("out_refund_no", r.OutRefundNo); err != nil {
		return v, err
	}
	amt, err := amountOf(r.Amount)
	if err != nil {
		return v, err
	}
	v.Amount = amt
	if err := checkText("reason", r.Reason, 256); err != nil {
		return v, err
	}
	if err := checkURL("notify_url", r.NotifyURL, false); err != nil {
		return v, err
	}
	v.Hash = hashFields(paymentID, v.OutRefundNo, fmt.Sprint(v.Amount), v.Reason, v.NotifyURL)
	return v, nil
}

// ValidateAgreement checks an agreement request.
func ValidateAgreement(r SignAgreement) (paygw.PayMethod, error) {
	if err := checkOutNo("out_agreement_no", r.OutAgreementNo); err != nil {
		return "", err
	}
	pm, err := paygw.ParsePayMethod(r.PayMethod)
	if err != nil {
		return "", err
	}
	if !pm.NeedsAgreement() {
		return "", paygw.Errorf(paygw.CodeUnsupportedPayMethod, "agreements are for quick_pay and withhold, not %s", pm)
	}
	if err := checkText("payer.name", r.Payer.Name, 64); err != nil || r.Payer.Name == "" {
		return "", invalid("payer.name", "required, at most 64 characters")
	}
	if n := len(r.Payer.AccountNo); n < 12 || n > 32 || strings.Trim(r.Payer.AccountNo, "0123456789") != "" {
		return "", invalid("payer.account_no", "12 to 32 digits")
	}
	if n := len(r.Payer.Phone); n != 0 && (n < 7 || n > 20 || strings.Trim(r.Payer.Phone, "0123456789+") != "") {
		return "", invalid("payer.phone", "7 to 20 digits")
	}
	return pm, nil
}
