package notify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrRefusedAddress is returned (wrapped) when a notification URL resolves to an address
// paygw never calls: link-local and cloud metadata addresses always, and loopback and private
// ranges unless notify.allow_private_addresses is set.
var ErrRefusedAddress = errors.New("refused address")

var (
	// The EC2 IPv6 instance metadata address; 169.254.169.254 is covered by link-local.
	ec2MetadataV6 = netip.MustParseAddr("fd00:ec2::254")
	thisNetwork   = netip.MustParsePrefix("0.0.0.0/8")
	cgnat         = netip.MustParsePrefix("100.64.0.0/10")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
)

// CheckAddr reports whether a resolved address may receive a notification: nil, or an error
// wrapping ErrRefusedAddress that says why.
func CheckAddr(a netip.Addr, allowPrivate bool) error {
	a = a.Unmap()
	if a.Is6() && nat64.Contains(a) { // 64:ff9b::a9fe:a9fe is 169.254.169.254 through NAT64
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: invalid address", ErrRefusedAddress)
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a == ec2MetadataV6:
		return fmt.Errorf("%w %s: link-local or cloud metadata address", ErrRefusedAddress, a)
	case a.IsUnspecified(), a.IsMulticast(), a.IsInterfaceLocalMulticast(), thisNetwork.Contains(a),
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w %s: not a unicast address", ErrRefusedAddress, a)
	case !allowPrivate && (a.IsLoopback() || a.IsPrivate() || cgnat.Contains(a)):
		return fmt.Errorf("%w %s: loopback or private address (notify.allow_private_addresses is false)", ErrRefusedAddress, a)
	}
	return nil
}

// CheckURL checks a notification URL before any request: http or https with a host, and, when
// the host is an IP literal, an address CheckAddr allows. Host names are checked again at dial
// time, on the address they resolve to, so DNS cannot point a name at a refused address.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("notify url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("notify url %q: scheme must be http or https", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("notify url %q: no host", raw)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := CheckAddr(a, allowPrivate); err != nil {
			return fmt.Errorf("notify url %q: %w", raw, err)
		}
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
