package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

const testAdmin = "0123456789abcdef-admin"

// proxy forwards TCP connections to a database until down is called, when
// it stops listening and cuts every connection: the database "goes down".
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(p.down)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) down() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// get answers GET path on a fresh connection, so that every request tests
// that the listener still accepts.
func get(base, path, key string) (*http.Response, string, error) {
	req, _ := http.NewRequest("GET", base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b), nil
}

// newShipper onboards a shipper through the admin API and returns its key.
func newShipper(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/admin/shippers", strings.NewReader(`{"name": "Acme"}`))
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 {
		t.Fatalf("create shipper: %d %s", res.StatusCode, b)
	}
	i := strings.Index(string(b), `"apiKey":"`)
	return strings.SplitN(string(b[i+len(`"apiKey":"`):]), `"`, 2)[0]
}

// testServer builds the server with flags and serves it on a test listener.
func testServer(t *testing.T, flags ...string) *httptest.Server {
	t.Helper()
	c, err := parseServe(append([]string{"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data")}, flags...), io.Discard,
		env(map[string]string{"HANDOFF_ADMIN_TOKEN": testAdmin}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() { srv.Close(); a.db.Close() })
	return srv
}

// TestDatabaseDown: when PostgreSQL goes away, a request that needs it is
// answered 503 with Retry-After (not 500) and the node is not ready.
func TestDatabaseDown(t *testing.T) {
	if os.Getenv(sqlstoretest.EnvPostgres) == "" {
		t.Skip(sqlstoretest.EnvPostgres + " is not set")
	}
	u, err := url.Parse(sqlstoretest.DSN(t, sqlstore.Postgres))
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	srv := testServer(t, "--db", u.String(), "--request-timeout", "5s")
	key := newShipper(t, srv.URL)
	if res, body, err := get(srv.URL, "/readyz", ""); err != nil || res.StatusCode != 200 {
		t.Fatalf("ready before: %v %s", err, body)
	}

	p.down()
	res, body, err := get(srv.URL, "/v1/shipments", key)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || res.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("with the database down: %d Retry-After %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if res, body, err := get(srv.URL, "/readyz", ""); err != nil || res.StatusCode != 503 || !strings.Contains(body, "database") {
		t.Errorf("readiness with the database down: %v %v %s", res, err, body)
	}
}

// TestInFlightBound: with room for one request, a second one while the
// first is still sending its body is refused at once, 503 with Retry-After;
// health probes pass the gate; the first one completes.
func TestInFlightBound(t *testing.T) {
	srv := testServer(t, "--max-in-flight", "1")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	body := `{"name": "Slow Ltd"}`
	// The server says "100 Continue" when the handler, past the gate, first
	// reads the body: from then on the request holds the one place.
	io.WriteString(conn, "POST /v1/admin/shippers HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "+testAdmin+
		"\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n")
	rd := bufio.NewReader(conn)
	if cont, err := http.ReadResponse(rd, nil); err != nil || cont.StatusCode != 100 {
		t.Fatalf("100 Continue: %v %v", cont, err)
	}

	res, text, err := get(srv.URL, "/v1/openapi.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(text, "limit of requests") {
		t.Errorf("a request over the limit: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), text)
	}
	if res, _, err := get(srv.URL, "/readyz", ""); err != nil || res.StatusCode != 200 {
		t.Errorf("readiness behind the gate: %v %v", res, err)
	}
	io.WriteString(conn, body)
	if res, err := http.ReadResponse(rd, nil); err != nil || res.StatusCode != 201 {
		t.Fatalf("the request in flight: %v %v", res, err)
	}
	if res, _, err := get(srv.URL, "/v1/openapi.json", ""); err != nil || res.StatusCode != 200 {
		t.Errorf("after the slot freed: %v %v", res, err)
	}
}

// TestDrainOrder: on SIGTERM /readyz fails while the listener still
// accepts, for the drain delay, and only then does the listener close.
func TestDrainOrder(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	base, done := serveInProcess(t, ctx, "--drain-delay", "2s")
	if res, _, err := get(base, "/readyz", ""); err != nil || res.StatusCode != 200 {
		t.Fatalf("ready: %v %v", res, err)
	}

	stop() // SIGTERM
	sawDraining := false
	for i := 0; i < 200 && !sawDraining; i++ {
		res, body, err := get(base, "/readyz", "")
		if err != nil {
			t.Fatalf("the listener closed before readiness failed (try %d): %v", i, err)
		}
		sawDraining = res.StatusCode == 503 && strings.Contains(body, "draining")
		if !sawDraining {
			time.Sleep(5 * time.Millisecond) // polling, bounded by the loop
		}
	}
	if !sawDraining {
		t.Fatal("readiness never failed")
	}
	// Still not ready, still accepting: the load balancer has time.
	if res, _, err := get(base, "/healthz", ""); err != nil || res.StatusCode != 200 {
		t.Errorf("while draining: %v %v", res, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop")
	}
	if _, _, err := get(base, "/healthz", ""); err == nil {
		t.Error("the listener still accepts after shutdown")
	}
}
