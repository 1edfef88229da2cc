// Package egress makes the HTTP clients the server uses to call addresses
// that someone else chose — a shipper's webhook, a recipient's garage opener
// — so that such an address cannot be used to make the server call into its
// own network: the dialer refuses loopback, private, link-local (cloud
// metadata) and other non-public addresses after DNS resolution, and
// redirects are not followed.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// PublicIP reports whether ip is a public unicast address: not loopback,
// private, link-local, multicast or unspecified.
func PublicIP(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast())
}

// checkAddress returns why the client will not dial address (a literal IP),
// or nil.
func checkAddress(address string) error {
	if ip := net.ParseIP(address); ip == nil || !PublicIP(ip) {
		return fmt.Errorf("%s is not a public address", address)
	}
	return nil
}

// CheckHost returns an error when host, a URL's host name or literal
// address, is or resolves to an address that Client refuses to dial, so
// that such an address can be refused when it is registered rather than
// only when it is first called. A name that does not resolve now is not
// refused: Client checks every address it dials anyway.
func CheckHost(ctx context.Context, host string) error {
	if net.ParseIP(host) != nil {
		return checkAddress(host)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return fmt.Errorf("%s is this machine", host)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := checkAddress(a.IP.String()); err != nil {
			return fmt.Errorf("%s resolves to %w", host, err)
		}
	}
	return nil
}

// Client returns an HTTP client with a total timeout; unless allowPrivate
// (tests, demos on one machine), it reaches public addresses only.
func Client(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			return checkAddress(host)
		}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost: 4, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
