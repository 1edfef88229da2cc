package observe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff/api/apitest"
)

func TestMiddleware(t *testing.T) {
	var logs bytes.Buffer
	m := NewMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tracking/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	mux.Handle("GET /metrics", m.Handler())
	h := m.Middleware(slog.New(slog.NewTextHandler(&logs, nil)), mux)

	mux.HandleFunc("GET /portal/in/{token}", func(w http.ResponseWriter, r *http.Request) {})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/portal/in/sign-in-token-abc", nil))
	for _, id := range []string{"HO1", "HO2", "HO3"} {
		req := httptest.NewRequest("GET", "/v1/tracking/"+id+"?token=secret-token", nil)
		req.Header.Set("Authorization", "Bearer hk_secret")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if !strings.Contains(body, `handoff_http_requests_total{code="404",method="GET",route="GET /v1/tracking/{id}"} 3`) {
		t.Errorf("metrics lack the route series:\n%s", grep(body, "handoff_http"))
	}
	if strings.Contains(body, "HO1") {
		t.Error("a metric is labelled with a tracking ID")
	}
	if l := logs.String(); strings.Contains(l, "secret-token") || strings.Contains(l, "hk_secret") || strings.Contains(l, "sign-in-token-abc") || !strings.Contains(l, "status=404") {
		t.Errorf("access log:\n%s", l)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHealth(t *testing.T) {
	var down bool
	h := &Health{Ping: func(context.Context) error {
		if down {
			return errors.New("down")
		}
		return nil
	}}
	mux := http.NewServeMux()
	h.Register(mux)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		mux.ServeHTTP(rec, req)
		apitest.Check(t, req, rec.Result()) // the probes are in the API's document
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if c, _ := get("/readyz"); c != 200 {
		t.Errorf("ready = %d", c)
	}
	down = true
	if c, _ := get("/readyz"); c != 503 {
		t.Errorf("database down: ready = %d", c)
	}
	down = false
	h.Drain()
	if c, b := get("/readyz"); c != 503 || !strings.Contains(b, "draining") {
		t.Errorf("draining: %d %s", c, b)
	}
	if c, _ := get("/healthz"); c != 200 {
		t.Errorf("healthz while draining = %d", c)
	}
}
