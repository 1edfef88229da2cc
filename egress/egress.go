// Package egress makes the HTTP clients the server uses to call addresses
// that someone else chose — a shipper's webhook, a recipient's garage opener
// — so that such an address cannot be used to make the server call into its
// own network: the dialer refuses loopback, private, link-local (cloud
// metadata) and other non-public addresses after DNS resolution, and
// redirects are not followed.
package egress

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// PublicIP reports whether ip is a public unicast address: not loopback,
// private, link-local, multicast or unspecified.
func PublicIP(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast())
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
			if ip := net.ParseIP(host); ip == nil || !PublicIP(ip) {
				return fmt.Errorf("%s is not a public address", host)
			}
			return nil
		}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost: 4, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
