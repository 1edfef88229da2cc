package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddress names where a request comes from, for the per-client
// sign-in limit: the connection's peer or, when the peer is one of
// TrustedProxies, the nearest address in X-Forwarded-For that is not a
// trusted proxy itself (the ones further left are whatever the client chose
// to send). An IPv6 address stands for its /64, which one subscriber
// usually holds whole, so that stepping through it buys no more tries.
func (s *Server) clientAddress(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr // not a TCP peer (a test's recorder); keep it apart
	}
	addr := ap.Addr().Unmap()
	if s.trusted(addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a proxy we trust would not write this; stop at the last good hop
			}
			addr = hop.Unmap()
			if !s.trusted(addr) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// trusted reports whether addr is one of TrustedProxies.
func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
