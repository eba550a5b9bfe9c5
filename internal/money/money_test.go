package money

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		cur  Currency
		want int64
		ok   bool
	}{
		{"0.01", "CNY", 1, true},
		{"1234.56", "CNY", 123456, true},
		{"12", "CNY", 1200, true},
		{"12.3", "CNY", 1230, true},
		{"-0.01", "CNY", -1, true},
		{"0", "JPY", 0, true},
		{"1500", "JPY", 1500, true},
		{"1.5", "JPY", 0, false},
		{"1.234", "BHD", 1234, true},
		{"92233720368547758.07", "CNY", 9223372036854775807, true},
		{"92233720368547758.08", "CNY", 0, false}, // overflow
		{"1,234.56", "CNY", 0, false},
		{"12.345", "CNY", 0, false},
		{"1e3", "CNY", 0, false},
		{"", "CNY", 0, false},
		{" 1.00", "CNY", 0, false},
		{"+1.00", "CNY", 0, false},
		{"1.", "CNY", 0, false},
		{".5", "CNY", 0, false},
		{"-", "CNY", 0, false},
		{"1.00", "XXX", 0, false},
		{"NaN", "CNY", 0, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, tt.cur)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q, %s) = %d, %v; want %d ok=%v", tt.in, tt.cur, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseLenient(t *testing.T) {
	for in, want := range map[string]int64{"0.77000": 77, "-0.27000": -27, "1.00000": 100, "5": 500} {
		got, err := ParseLenient(in, "CNY")
		if err != nil || got != want {
			t.Errorf("ParseLenient(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseLenient("0.77100", "CNY"); err == nil {
		t.Error("ParseLenient accepted a sub-fen fee")
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		minor int64
		cur   Currency
		want  string
	}{
		{1, "CNY", "0.01"}, {123456, "CNY", "1234.56"}, {-5, "CNY", "-0.05"}, {0, "CNY", "0.00"},
		{1500, "JPY", "1500"}, {1234, "BHD", "1.234"}, {-9223372036854775808, "CNY", "-92233720368547758.08"},
	}
	for _, tt := range tests {
		if got := Format(tt.minor, tt.cur); got != tt.want {
			t.Errorf("Format(%d, %s) = %q; want %q", tt.minor, tt.cur, got, tt.want)
		}
	}
}

func TestMulDivHalfUp(t *testing.T) {
	tests := []struct{ a, b, c, want int64 }{
		{250, 1, 100, 3},   // 2.5 -> 3
		{249, 1, 100, 2},   // 2.49 -> 2
		{-250, 1, 100, -3}, // half away from zero
		{10000, 30, 10000, 30},
		{1667, 30, 10000, 5}, // 5.001
		{1666, 30, 10000, 5}, // 4.998
		{1650, 30, 10000, 5}, // 4.95
		{1649, 30, 10000, 5}, // 4.947
		{1483, 30, 10000, 4}, // 4.449
		{1500, 30, 10000, 5}, // 4.5 -> 5
		{9223372036854775807, 10000, 10000, 9223372036854775807},
		{9223372036854775807, 5000, 10000, 4611686018427387904},
	}
	for _, tt := range tests {
		got, err := MulDivHalfUp(tt.a, tt.b, tt.c)
		if err != nil || got != tt.want {
			t.Errorf("MulDivHalfUp(%d,%d,%d) = %d, %v; want %d", tt.a, tt.b, tt.c, got, err, tt.want)
		}
	}
	if _, err := MulDivHalfUp(9223372036854775807, 20000, 10000); !errors.Is(err, ErrOverflow) {
		t.Errorf("want overflow, got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0.01", "1234.56", "1,234.56", "12.345", "1e3", "", "-0.00", "92233720368547758.08"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, cur := range []Currency{"CNY", "JPY", "BHD"} {
			v, err := Parse(s, cur)
			if err != nil {
				continue
			}
			// Round trip: formatting and parsing again gives the same minor units.
			back, err := Parse(Format(v, cur), cur)
			if err != nil || back != v {
				t.Fatalf("round trip %q %s: %d -> %q -> %d, %v", s, cur, v, Format(v, cur), back, err)
			}
		}
	})
}
