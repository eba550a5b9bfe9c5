package notify

import (
	"fmt"
	"net/netip"
	"testing"
)

// FuzzNumericHost: numericHost never panics on any host, and reads back every 32-bit address
// written in each of inet_aton's forms (one to four parts, decimal, octal, hexadecimal).
func FuzzNumericHost(f *testing.F) {
	f.Add("127.1", uint32(0x7f000001), uint8(0))
	f.Add("0177.0.0.1", uint32(0x7f000001), uint8(1))
	f.Add("2130706433", uint32(0x7f000001), uint8(2))
	f.Add("0x7f000001", uint32(0xcb007107), uint8(3))
	f.Add("0x", uint32(0), uint8(4))
	f.Add("08.1", uint32(0xffffffff), uint8(5))
	f.Fuzz(func(t *testing.T, host string, n uint32, form uint8) {
		if a, numeric, ok := numericHost(host); ok && (!numeric || !a.Is4()) {
			t.Fatalf("numericHost(%q) = %v, %v, %v", host, a, numeric, ok)
		}
		b := [4]uint32{n >> 24, n >> 16 & 0xff, n >> 8 & 0xff, n & 0xff}
		num := func(v uint32) string {
			switch form % 3 {
			case 1:
				return fmt.Sprintf("0%o", v)
			case 2:
				return fmt.Sprintf("0x%x", v)
			}
			return fmt.Sprint(v)
		}
		var s string
		switch form / 3 % 4 {
		case 0:
			s = num(n)
		case 1:
			s = num(b[0]) + "." + num(n&0xffffff)
		case 2:
			s = num(b[0]) + "." + num(b[1]) + "." + num(n&0xffff)
		case 3:
			s = num(b[0]) + "." + num(b[1]) + "." + num(b[2]) + "." + num(b[3])
		}
		a, numeric, ok := numericHost(s)
		want := netip.AddrFrom4([4]byte{byte(b[0]), byte(b[1]), byte(b[2]), byte(b[3])})
		if !numeric || !ok || a != want {
			t.Fatalf("numericHost(%q) = %v, %v, %v; want %v", s, a, numeric, ok, want)
		}
	})
}
