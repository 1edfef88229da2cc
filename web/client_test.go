package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddress(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"the peer", nil, "203.0.113.5:4000", nil, "203.0.113.5"},
		{"a forged header without a trusted proxy", nil, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"a forged header from an untrusted peer", lb, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"behind the load balancer", lb, "10.0.0.2:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the client's own claim is not believed", lb, "10.0.0.2:4000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"through two trusted proxies", lb, "10.0.0.2:4000", []string{"1.2.3.4", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"garbage stops the walk", lb, "10.0.0.2:4000", []string{"198.51.100.1, nonsense"}, "10.0.0.2"},
		{"no header from the proxy", lb, "10.0.0.2:4000", nil, "10.0.0.2"},
		{"IPv6 counts by /64", nil, "[2001:db8:1:2:3:4:5:6]:4000", nil, "2001:db8:1:2::/64"},
		{"IPv4 mapped in IPv6", nil, "[::ffff:203.0.113.5]:4000", nil, "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/signin", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := (&Server{TrustedProxies: tt.trusted}).clientAddress(r); got != tt.want {
				t.Errorf("clientAddress = %q, want %q", got, tt.want)
			}
		})
	}
}
