package notify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrRefusedAddress is returned (wrapped) when a notification URL resolves to an address
// paygw never calls: everything that is not globally reachable unicast (IANA's special-purpose
// registries) and cloud metadata addresses always, and loopback and private ranges unless
// notify.allow_private_addresses is set.
var ErrRefusedAddress = errors.New("refused address")

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

var (
	// Cloud metadata services: EC2's IPv6 address (169.254.169.254 is link-local), Alibaba
	// Cloud's (inside the shared 100.64.0.0/10, which allow_private_addresses would let through).
	metadata = []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

	// v4Refused are the IPv4 special-purpose blocks (RFC 6890 and the IANA registry) that are not
	// globally reachable, apart from the private ones below.
	v4Refused = prefixes(
		"0.0.0.0/8",       // this network
		"169.254.0.0/16",  // link-local, cloud metadata
		"192.0.0.0/24",    // IETF protocol assignments (Oracle Cloud metadata at 192.0.0.192)
		"192.0.2.0/24",    // documentation TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation TEST-NET-2
		"203.0.113.0/24",  // documentation TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
	)
	// v4Private are refused unless private addresses are allowed.
	v4Private = prefixes("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")

	// IPv6 unicast is global only inside 2000::/3, less these special-purpose blocks.
	v6Global  = netip.MustParsePrefix("2000::/3")
	v6Refused = prefixes(
		"2001::/23",     // IETF protocol assignments: Teredo, benchmarking, ORCHID, ...
		"2001:db8::/32", // documentation
		"2002::/16",     // 6to4: tunnels to any IPv4 address
		"3fff::/20",     // documentation (RFC 9637)
	)
	v6Loopback = netip.IPv6Loopback()
	v6ULA      = netip.MustParsePrefix("fc00::/7")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
)

func within(a netip.Addr, ps []netip.Prefix) (netip.Prefix, bool) {
	for _, p := range ps {
		if p.Contains(a) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// CheckAddr reports whether a resolved address may receive a notification: nil, or an error
// wrapping ErrRefusedAddress that says why. Only globally reachable unicast passes, plus
// loopback, private, unique-local and shared (100.64.0.0/10) addresses when allowPrivate.
// IPv4-mapped and NAT64 (64:ff9b::/96) addresses are judged by the IPv4 address they carry.
func CheckAddr(a netip.Addr, allowPrivate bool) error {
	a = a.WithZone("").Unmap()
	if a.Is6() && nat64.Contains(a) { // 64:ff9b::a9fe:a9fe is 169.254.169.254 through NAT64
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	refuse := func(why string) error { return fmt.Errorf("%w %s: %s", ErrRefusedAddress, a, why) }
	private := func() error {
		if allowPrivate {
			return nil
		}
		return refuse("loopback or private address (notify.allow_private_addresses is false)")
	}
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: invalid address", ErrRefusedAddress)
	case a == metadata[0] || a == metadata[1], a.IsLinkLocalUnicast():
		return refuse("link-local or cloud metadata address")
	case a.Is4():
		if p, ok := within(a, v4Refused); ok {
			return refuse("special-purpose range " + p.String() + ", not globally reachable")
		}
		if _, ok := within(a, v4Private); ok {
			return private()
		}
		return nil
	case a == v6Loopback, v6ULA.Contains(a):
		return private()
	case !v6Global.Contains(a): // ::/8 (unspecified, IPv4-compatible), 100::/64, fe80::/10, ff00::/8, ...
		return refuse("not a global unicast address (outside 2000::/3)")
	}
	if p, ok := within(a, v6Refused); ok {
		return refuse("special-purpose range " + p.String() + ", not globally reachable")
	}
	return nil
}

// numericHost reads host the way inet_aton (and so getaddrinfo, before any DNS lookup) does when
// its last label is a number: one to four parts, each decimal, octal (leading 0) or hexadecimal
// (0x), the last filling the remaining bytes ("127.1" is 127.0.0.1, "2130706433" too). numeric
// says the host is meant as a number (its last label is digits or 0x-hex: never a host name);
// ok says it is a valid one.
func numericHost(host string) (a netip.Addr, numeric, ok bool) {
	host = strings.TrimSuffix(host, ".")
	parts := strings.Split(host, ".")
	if !numberLike(parts[len(parts)-1]) {
		return netip.Addr{}, false, false
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := atonPart(p)
		if !ok {
			return netip.Addr{}, true, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	for _, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, true, false
		}
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, true, false
	}
	var n uint32
	for _, v := range vals[:last] {
		n = n<<8 | uint32(v)
	}
	n = n<<(8*(4-last)) | uint32(vals[last])
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true, true
}

func numberLike(s string) bool {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
		return strings.Trim(s, "0123456789abcdefABCDEF") == ""
	}
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// atonPart parses one part as inet_aton does: 0x hex (at least one digit), leading 0 octal, else
// decimal; at most 32 bits.
func atonPart(s string) (uint64, bool) {
	base := 10
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, s = 16, s[2:]
	case len(s) >= 2 && s[0] == '0':
		base, s = 8, s[1:]
	}
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, base, 32)
	return v, err == nil
}

// CheckURL checks a notification URL before any request: http or https with a host, and, when
// the host is an IP literal, an address CheckAddr allows. A numeric host in any other form than
// dotted decimal ("127.1", "0177.0.0.1", "2130706433", "0x7f000001") is refused, naming the
// address a resolver would read it as; a merchant writes an address in its usual form. Host
// names are checked again at dial time, on the address they resolve to, so DNS cannot point a
// name at a refused address.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("notify url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("notify url %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("notify url %q: no host", raw)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := CheckAddr(a, allowPrivate); err != nil {
			return fmt.Errorf("notify url %q: %w", raw, err)
		}
		return nil
	}
	if a, numeric, ok := numericHost(host); numeric {
		if !ok {
			return fmt.Errorf("notify url %q: %w: host %q is not a valid IPv4 address", raw, ErrRefusedAddress, host)
		}
		if err := CheckAddr(a, allowPrivate); err != nil {
			return fmt.Errorf("notify url %q: host %q: %w", raw, host, err)
		}
		return fmt.Errorf("notify url %q: %w: host %q is %s in a non-standard numeric form; write %s", raw, ErrRefusedAddress, host, a, a)
	}
	return nil
}

// NewClient returns the HTTP client that delivers notifications: every connection's resolved
// address is checked by CheckAddr in the dialer (net.Dialer.Control), no proxy from the
// environment (it would hide the real address), no redirects followed (a 3xx is a failed
// attempt), and timeout bounding each request.
func NewClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrRefusedAddress, address, err)
			}
			return CheckAddr(ap.Addr(), allowPrivate)
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
