package egress

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClient(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit = true
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	if _, err := Client(time.Second, false).Get(srv.URL); err == nil || !strings.Contains(err.Error(), "not a public address") || hit {
		t.Fatalf("loopback reached: %v (hit %v)", err, hit)
	}
	res, err := Client(time.Second, true).Get(srv.URL)
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("allowed client: %v %v (a redirect must not be followed)", res, err)
	}
	for ip, public := range map[string]bool{"8.8.8.8": true, "127.0.0.1": false, "10.1.2.3": false, "192.168.1.1": false, "169.254.169.254": false, "::1": false, "fd00::1": false, "2001:4860:4860::8888": true} {
		if PublicIP(net.ParseIP(ip)) != public {
			t.Errorf("PublicIP(%s) = %v", ip, !public)
		}
	}
}

func TestCheckHost(t *testing.T) {
	for host, ok := range map[string]bool{
		"203.0.113.10": true, "2001:4860:4860::8888": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "169.254.169.254": false, "0.0.0.0": false,
		"localhost": false, "LocalHost.": false, "api.localhost": false,
		// A name that does not resolve is left to the dialer.
		"no-such-host.invalid": true,
	} {
		if err := CheckHost(context.Background(), host); (err == nil) != ok {
			t.Errorf("CheckHost(%s) = %v, want ok %v", host, err, ok)
		}
	}
}
