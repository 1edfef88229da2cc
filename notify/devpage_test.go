package notify

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDevOutboxOnlyOnThisMachine checks that the outbox answers only a
// request from this machine to a loopback host, and that anyone else — a
// remote client, a local proxy, or a page whose DNS name was rebound to
// 127.0.0.1 — gets a bare 403 that shows nothing.
func TestDevOutboxOnlyOnThisMachine(t *testing.T) {
	o := NewDevOutbox(10)
	o.Send(context.Background(), Message{ID: "msg_1", Channel: SMS, To: "+447700900123", Kind: "resend", Text: "your code is 123456 http://x/portal"})
	tests := []struct {
		name, remote, host, proxied string
		want                        int
	}{
		{"localhost", "127.0.0.1:5000", "localhost:8080", "", 200},
		{"localhost without port", "127.0.0.1:5000", "LOCALHOST", "", 200},
		{"127.0.0.1", "127.0.0.1:5000", "127.0.0.1:8080", "", 200},
		{"elsewhere in 127/8", "127.0.0.1:5000", "127.1.2.3", "", 200},
		{"IPv6 loopback", "[::1]:5000", "[::1]:8080", "", 200},
		{"IPv6 loopback without port", "[::1]:5000", "[::1]", "", 200},
		{"a rebound name", "127.0.0.1:5000", "evil.example:8080", "", 403},
		{"a rebound name without port", "127.0.0.1:5000", "evil.example", "", 403},
		{"a name under localhost", "127.0.0.1:5000", "localhost.evil.example", "", 403},
		{"the machine's public address", "127.0.0.1:5000", "203.0.113.5:8080", "", 403},
		{"no host", "127.0.0.1:5000", "", "", 403},
		{"from another machine", "203.0.113.5:5000", "localhost:8080", "", 403},
		{"from the private network", "10.0.0.8:5000", "127.0.0.1:8080", "", 403},
		{"through a local proxy", "127.0.0.1:5000", "localhost:8080", "203.0.113.5", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/dev/outbox", "/dev/outbox?format=json"} {
				req := httptest.NewRequest("GET", path, nil)
				req.RemoteAddr, req.Host = tt.remote, tt.host
				if tt.proxied != "" {
					req.Header.Set("X-Forwarded-For", tt.proxied)
				}
				rec := httptest.NewRecorder()
				o.ServeHTTP(rec, req)
				if rec.Code != tt.want {
					t.Errorf("%s: status %d, want %d", path, rec.Code, tt.want)
				}
				if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control %q, want no-store", path, cc)
				}
				if tt.want == 403 && rec.Body.Len() != 0 {
					t.Errorf("%s: the refusal has a body: %q", path, rec.Body)
				}
				if tt.want == 200 && !strings.Contains(rec.Body.String(), "123456") {
					t.Errorf("%s: the message is not shown:\n%s", path, rec.Body)
				}
			}
		})
	}
	req := httptest.NewRequest("GET", "/dev/outbox", nil)
	req.RemoteAddr, req.Host = "127.0.0.1:5000", "localhost"
	rec := httptest.NewRecorder()
	o.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `<a href="http://x/portal">`) {
		t.Errorf("links are not clickable: %s", rec.Body)
	}
}
