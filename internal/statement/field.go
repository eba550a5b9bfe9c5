package statement

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/money"
)

// billTimeLayout is the time layout of every Chinese channel bill and of the sandbox CSV.
const billTimeLayout = "2006-01-02 15:04:05"

// fieldErr builds an *Error for one field of one line.
func fieldErr(file string, line int, field, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// parseBillTime reads a zone-less "yyyy-MM-dd HH:mm:ss" in loc and returns the UTC instant.
func parseBillTime(file string, line int, field, s string, loc *time.Location) (time.Time, error) {
	if len(s) != len(billTimeLayout) && s != "" {
		// time.Parse accepts "9:05:00" for "15:04:05"; bills always print two digits.
		return time.Time{}, fieldErr(file, line, field, "time %q does not match layout %q", short(s), billTimeLayout)
	}
	return parseTimeLayout(file, line, field, s, billTimeLayout, loc)
}

func parseTimeLayout(file string, line int, field, s, layout string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, fieldErr(file, line, field, "empty time")
	}
	var t time.Time
	err := errors.New("too long")
	if len(s) <= maxQuote {
		t, err = time.ParseInLocation(layout, s, loc)
	}
	if err != nil {
		return time.Time{}, &Error{File: file, Line: line, Field: field,
			Msg: fmt.Sprintf("time %q does not match layout %q", short(s), layout)}
	}
	return t.UTC(), nil
}

// parseAmount reads an exact major-unit decimal into minor units of cur. lenient allows trailing
// zeros beyond the currency's places (WeChat Pay fees have five decimals).
func parseAmount(file string, line int, field, s string, cur money.Currency, lenient bool) (int64, error) {
	if exp, err := cur.Exponent(); err == nil {
		if v, ok := fastMinor(s, exp); ok {
			return v, nil
		}
	}
	if len(s) > maxQuote {
		return 0, fieldErr(file, line, field, "bad amount %q: too long", short(s))
	}
	var v int64
	var err error
	if lenient {
		v, err = money.ParseLenient(s, cur)
	} else {
		v, err = money.Parse(s, cur)
	}
	if err != nil {
		return 0, &Error{File: file, Line: line, Field: field, Msg: "bad amount", Err: err}
	}
	return v, nil
}

// parseCurrency reads a currency cell; an empty cell means def.
func parseCurrency(file string, line int, field, s string, def money.Currency) (money.Currency, error) {
	if s == "" {
		return def, nil
	}
	if len(s) > maxQuote {
		return "", fieldErr(file, line, field, "bad currency %q", short(s))
	}
	c, err := money.ParseCurrency(s)
	if err != nil {
		return "", &Error{File: file, Line: line, Field: field, Msg: "bad currency", Err: err}
	}
	return c, nil
}

// checkID refuses ids that are not printable text: invalid UTF-8, control characters, or
// (when required) empty. Ids are compared byte for byte by reconciliation, so junk must not pass.
func checkID(file string, line int, field, s string, required bool) error {
	if s == "" {
		if required {
			return fieldErr(file, line, field, "empty")
		}
		return nil
	}
	if len(s) > maxID {
		return fieldErr(file, line, field, "id %q longer than %d bytes", short(s), maxID)
	}
	if !utf8.ValidString(s) {
		return fieldErr(file, line, field, "invalid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fieldErr(file, line, field, "control character %q in id", r)
		}
	}
	if strings.TrimSpace(s) != s {
		return fieldErr(file, line, field, "leading or trailing space in id %q", short(s))
	}
	return nil
}

// normalizeStatus maps a channel status word onto the package's vocabulary. Refund SUCCESS and
// PROCESSING both mean refunded (WeChat Pay: a bill's PROCESSING refund is to be treated as
// successful); a PROCESSING payment stays processing. Unknown words are kept in lower case.
func normalizeStatus(kind Kind, s string) string {
	switch strings.ToUpper(s) {
	case "SUCCESS", "SUCCEEDED":
		return StatusSucceeded
	case "PROCESSING":
		if kind == KindRefund {
			return StatusSucceeded
		}
		return StatusProcessing
	case "FAIL", "FAILED", "CHANGE", "ABNORMAL":
		return StatusFailed
	case "CLOSED", "REFUNDCLOSE":
		return StatusClosed
	case "REVOKED":
		return StatusRevoked
	}
	return strings.ToLower(s)
}

// sandboxStatus is the sandbox channel's word for a normalised status.
func sandboxStatus(s string) string {
	switch s {
	case StatusFailed:
		return "FAILED"
	case StatusClosed:
		return "CLOSED"
	}
	return channelStatus(KindPayment, s)
}

// channelStatus is WeChat Pay's word for a normalised status (the inverse of normalizeStatus).
func channelStatus(kind Kind, s string) string {
	switch s {
	case StatusSucceeded:
		return "SUCCESS"
	case StatusProcessing:
		return "PROCESSING"
	case StatusFailed:
		if kind == KindRefund {
			return "CHANGE"
		}
		return "FAILED"
	case StatusClosed:
		if kind == KindRefund {
			return "REFUNDCLOSE"
		}
		return "CLOSED"
	case StatusRevoked:
		return "REVOKED"
	}
	return strings.ToUpper(s)
}

// stripBOM removes a leading UTF-8 byte order mark.
func stripBOM(s string) string { return strings.TrimPrefix(s, "\uFEFF") }

// formatTime prints t as a zone-less bill time in loc.
func formatTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(billTimeLayout)
}

// currencyOf returns the row currency or CNY when unset.
func currencyOf(r Row) money.Currency {
	if r.Currency == "" {
		return "CNY"
	}
	return r.Currency
}

// absInt64 returns |v|; the caller guarantees v is not MinInt64 (amounts are parsed exactly).
func absInt64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// fastMinor converts the common plain form [-]digits[.digits] with at most exp decimals and at
// most 15 integer digits to minor units without allocating. Anything else (errors, lenient
// trailing zeros, huge values) reports false and goes through package money.
func fastMinor(s string, exp int32) (int64, bool) {
	i, neg := 0, false
	if len(s) > 0 && s[0] == '-' {
		neg, i = true, 1
	}
	var v int64
	intDigits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + int64(s[i]-'0')
		intDigits++
	}
	if intDigits == 0 || intDigits > 15 {
		return 0, false
	}
	frac := int32(0)
	if i < len(s) {
		if s[i] != '.' {
			return 0, false
		}
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			v = v*10 + int64(s[i]-'0')
			frac++
		}
		if frac == 0 || frac > exp || i != len(s) {
			return 0, false
		}
	}
	for ; frac < exp; frac++ {
		v *= 10
	}
	if neg {
		v = -v
	}
	return v, true
}
