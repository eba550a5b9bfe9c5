// Package money holds amounts as int64 minor units of an ISO 4217 currency and converts them
// exactly to and from decimal strings. No floating point is used anywhere.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 alphabetic code such as "CNY".
type Currency string

// exponents lists the minor-unit exponent of the currencies paygw accepts.
var exponents = map[Currency]int32{
	"CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "SGD": 2, "AUD": 2, "CAD": 2, "CHF": 2,
	"MOP": 2, "TWD": 2, "THB": 2, "MYR": 2, "NZD": 2, "SEK": 2, "NOK": 2, "DKK": 2,
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

// ErrUnknownCurrency is returned for a currency code paygw does not know.
var ErrUnknownCurrency = errors.New("unknown currency")

// ParseCurrency checks that s is a supported ISO 4217 code (upper case).
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if _, ok := exponents[c]; !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownCurrency, s)
	}
	return c, nil
}

// Exponent is the number of decimal places of the currency's minor unit (CNY 2, JPY 0).
func (c Currency) Exponent() (int32, error) {
	e, ok := exponents[c]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownCurrency, string(c))
	}
	return e, nil
}

// Valid reports whether the currency is supported.
func (c Currency) Valid() bool { _, ok := exponents[c]; return ok }

// ParseError says why a decimal string was refused.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("invalid amount %q: %s", e.Input, e.Reason) }

// checkSyntax accepts only [-]digits[.digits]; no exponent, sign '+', separators or spaces.
func checkSyntax(s string) string {
	if s == "" {
		return "empty"
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	digits, dot, frac := 0, false, 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if dot {
				frac++
			} else {
				digits++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return fmt.Sprintf("unexpected character %q", c)
		}
	}
	if digits == 0 {
		return "no digits before the decimal point"
	}
	if dot && frac == 0 {
		return "no digits after the decimal point"
	}
	return ""
}

// ParseDecimal parses a plain decimal string ("12.34", "-0.01") strictly: no exponent, no
// thousands separators, no spaces. Normalising such input is the caller's explicit choice.
func ParseDecimal(s string) (decimal.Decimal, error) {
	if reason := checkSyntax(s); reason != "" {
		return decimal.Decimal{}, &ParseError{Input: s, Reason: reason}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, &ParseError{Input: s, Reason: err.Error()}
	}
	return d, nil
}

// Parse converts a major-unit decimal string to minor units of cur, exactly: "12.34" CNY is 1234;
// "12.345" CNY is refused (a third decimal would be lost), as are "1e3", "1,234.56" and "".
func Parse(s string, cur Currency) (int64, error) {
	exp, err := cur.Exponent()
	if err != nil {
		return 0, err
	}
	d, err := ParseDecimal(s)
	if err != nil {
		return 0, err
	}
	return ToMinor(d, exp, s)
}

// ParseLenient is Parse allowing trailing zeros beyond the currency exponent ("0.77000" is 77 fen),
// as channel bills print fees with five decimals. Non-zero sub-minor digits are still refused.
func ParseLenient(s string, cur Currency) (int64, error) { return Parse(trimZeros(s), cur) }

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	t := strings.TrimRight(s, "0")
	if strings.HasSuffix(t, ".") {
		t += "0"
	}
	return t
}

// ToMinor shifts d by exp places and requires an exact int64 result. input names d in errors.
func ToMinor(d decimal.Decimal, exp int32, input string) (int64, error) {
	m := d.Shift(exp)
	if !m.IsInteger() {
		return 0, &ParseError{Input: input, Reason: fmt.Sprintf("more than %d decimal places", exp)}
	}
	bi := m.BigInt()
	if !bi.IsInt64() {
		return 0, &ParseError{Input: input, Reason: "out of range"}
	}
	return bi.Int64(), nil
}

// Format prints minor units as a major-unit decimal string with exactly the currency's places.
func Format(minor int64, cur Currency) string {
	exp, err := cur.Exponent()
	if err != nil {
		exp = 2
	}
	return FormatExp(minor, exp)
}

// FormatExp prints minor units with exp decimal places.
func FormatExp(minor int64, exp int32) string {
	neg := minor < 0
	var u uint64
	if neg {
		u = uint64(-(minor + 1)) + 1 // safe for MinInt64
	} else {
		u = uint64(minor)
	}
	s := fmt.Sprintf("%0*d", int(exp)+1, u)
	if exp > 0 {
		s = s[:len(s)-int(exp)] + "." + s[len(s)-int(exp):]
	}
	if neg {
		return "-" + s
	}
	return s
}

// ErrOverflow is returned when a result does not fit in int64.
var ErrOverflow = errors.New("amount overflow")

// MulDivHalfUp returns round_half_up(a × b ÷ c) computed exactly; half-up means half away from
// zero, as Chinese channel contracts round fees. c must be positive.
func MulDivHalfUp(a, b, c int64) (int64, error) {
	if c <= 0 {
		return 0, errors.New("MulDivHalfUp: divisor must be positive")
	}
	// Fast path: no overflow in a*b.
	if hi, ok := mulNoOverflow(a, b); ok {
		q, r := hi/c, hi%c
		if r < 0 {
			r = -r
		}
		if 2*r >= c || (r > math.MaxInt64/2) {
			if hi < 0 {
				q--
			} else {
				q++
			}
		}
		return q, nil
	}
	n := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	neg := n.Sign() < 0
	n.Abs(n)
	q, r := new(big.Int).QuoRem(n, big.NewInt(c), new(big.Int))
	if r.Mul(r, big.NewInt(2)).Cmp(big.NewInt(c)) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	if !q.IsInt64() {
		return 0, ErrOverflow
	}
	return q.Int64(), nil
}

func mulNoOverflow(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return p, true
}

// Bps returns round_half_up(amount × bps ÷ 10000): a rate in basis points applied to an amount.
func Bps(amount, bps int64) (int64, error) { return MulDivHalfUp(amount, bps, 10000) }

// Add returns a+b or ErrOverflow.
func Add(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, ErrOverflow
	}
	return s, nil
}
