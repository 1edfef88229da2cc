package notify

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDevOutboxOnlyOnThisMachine(t *testing.T) {
	o := NewDevOutbox(10)
	o.Send(context.Background(), Message{ID: "msg_1", Channel: SMS, To: "+447700900123", Kind: "resend", Text: "your code is 123456 http://x/portal"})
	proxied := httptest.NewRequest("GET", "/dev/outbox", nil)
	proxied.RemoteAddr = "127.0.0.1:5000"
	proxied.Header.Set("X-Forwarded-For", "203.0.113.5")
	rec := httptest.NewRecorder()
	o.ServeHTTP(rec, proxied)
	if rec.Code != 403 {
		t.Errorf("through a local proxy: %d", rec.Code)
	}
	for addr, want := range map[string]int{"127.0.0.1:5000": 200, "[::1]:5000": 200, "203.0.113.5:5000": 403, "10.0.0.8:5000": 403} {
		req := httptest.NewRequest("GET", "/dev/outbox", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		o.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: %d, want %d", addr, rec.Code, want)
		}
		if want == 403 && strings.Contains(rec.Body.String(), "123456") {
			t.Errorf("from %s: the code is shown", addr)
		}
		if want == 200 && !strings.Contains(rec.Body.String(), `<a href="http://x/portal">`) {
			t.Errorf("links are not clickable: %s", rec.Body)
		}
	}
}
