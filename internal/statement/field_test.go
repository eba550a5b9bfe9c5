package statement

import (
	"testing"

	"github.com/paygw/paygw/internal/money"
)

// TestFastMinorAgreesWithMoney checks the allocation-free path against package money.
func TestFastMinorAgreesWithMoney(t *testing.T) {
	inputs := []string{"0", "0.00", "12.34", "-12.34", "12.3", "12.", ".5", "-", "", "1e3", "1,234.56", "+1.00",
		"12.345", "000123.40", "-0", "999999999999999.99", "9999999999999999.99", "0.77000", "1 ", "١٢"}
	for _, cur := range []money.Currency{"CNY", "JPY", "KWD"} {
		exp, _ := cur.Exponent()
		for _, s := range inputs {
			want, err := money.Parse(s, cur)
			got, ok := fastMinor(s, exp)
			if ok && (err != nil || got != want) {
				t.Errorf("fastMinor(%q, %s) = %d; money.Parse = %d, %v", s, cur, got, want, err)
			}
		}
	}
}

func FuzzFastMinor(f *testing.F) {
	for _, s := range []string{"12.34", "-0.01", "1e3", "000.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := money.Parse(s, "CNY")
		if got, ok := fastMinor(s, 2); ok && (err != nil || got != want) {
			t.Fatalf("fastMinor(%q) = %d; money.Parse = %d, %v", s, got, want, err)
		}
	})
}
