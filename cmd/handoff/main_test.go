package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/api/apitest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseServe(t *testing.T) {
	c, err := parseServe(nil, io.Discard, env(map[string]string{"HANDOFF_ADDR": "127.0.0.1:9999", "HANDOFF_DATA_DIR": "/tmp/x",
		"HANDOFF_ADMIN_TOKEN": "0123456789abcdef0", "HANDOFF_CONTACT_HOURS": "09:00-19:00"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" || c.DataDir != "/tmp/x" || c.AdminToken == "" || c.Policy.ContactHours.String() != "09:00-19:00" {
		t.Errorf("config = %+v", c)
	}
	c, err = parseServe(nil, io.Discard, env(map[string]string{"HANDOFF_TRUSTED_PROXIES": "10.0.0.7, 192.168.1.9/16,::ffff:10.1.2.3"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.TrustedProxies); got != "[10.0.0.7/32 192.168.0.0/16 10.1.2.3/32]" {
		t.Errorf("trusted proxies = %s", got)
	}
	c, err = parseServe(nil, io.Discard, env(map[string]string{"HANDOFF_GARAGE_SWEEP_INTERVAL": "250ms", "HANDOFF_GARAGE_STEP_DEADLINE": "3s"}))
	if err != nil || c.GarageSweep != 250*time.Millisecond || c.GarageStepDeadline != 3*time.Second {
		t.Errorf("garage sweep settings: %+v, %v", c, err)
	}
	c, err = parseServe(nil, io.Discard, env(nil))
	if err != nil || c.GCPercent != 400 || c.MemoryLimitMiB != 160 || c.SendConcurrency != 32 {
		t.Errorf("defaults: gc %d%%, limit %d MiB, %d sends at once, %v", c.GCPercent, c.MemoryLimitMiB, c.SendConcurrency, err)
	}
	c, err = parseServe(nil, io.Discard, env(map[string]string{"HANDOFF_SEND_CONCURRENCY": "1"}))
	if err != nil || c.SendConcurrency != 1 {
		t.Errorf("HANDOFF_SEND_CONCURRENCY=1 (one at a time): %d, %v", c.SendConcurrency, err)
	}
	c, err = parseServe(nil, io.Discard, env(map[string]string{"HANDOFF_GC_PERCENT": "0"}))
	if err != nil || c.GCPercent != 0 {
		t.Errorf("HANDOFF_GC_PERCENT=0 (Go's default): %d, %v", c.GCPercent, err)
	}
	// Flags win over the environment.
	c, _ = parseServe([]string{"--addr", "127.0.0.1:1"}, io.Discard, env(map[string]string{"HANDOFF_ADDR": "127.0.0.1:2"}))
	if c.Addr != "127.0.0.1:1" {
		t.Errorf("flag lost to env: %s", c.Addr)
	}
	for name, e := range map[string]map[string]string{
		"short admin token": {"HANDOFF_ADMIN_TOKEN": "short"},
		"bad db":            {"HANDOFF_DB": "mysql://x"},
		"bad hours":         {"HANDOFF_CONTACT_HOURS": "20:00-08:00"},
		"bad days":          {"HANDOFF_WORKING_DAYS": "funday"},
		"bad proxies":       {"HANDOFF_TRUSTED_PROXIES": "10.0.0.1, proxy.local"},
		"no garage sweep":   {"HANDOFF_GARAGE_SWEEP_INTERVAL": "0s"},
		"bad step deadline": {"HANDOFF_GARAGE_STEP_DEADLINE": "soon"},
		"negative gc":       {"HANDOFF_GC_PERCENT": "-1"},
		"bad gc":            {"HANDOFF_GC_PERCENT": "lots"},
		"no sends at once":  {"HANDOFF_SEND_CONCURRENCY": "0"},
		"bad sends at once": {"HANDOFF_SEND_CONCURRENCY": "many"},
	} {
		if _, err := parseServe(nil, io.Discard, env(e)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// serveInProcess runs "handoff serve" with a fresh data dir and the admin
// token testAdmin until ctx ends, and returns its base URL once it listens
// and where its result arrives.
func serveInProcess(t *testing.T, ctx context.Context, flags ...string) (base string, done <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	result := make(chan error, 1)
	go func() {
		result <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data")}, flags...), pw, io.Discard,
			env(map[string]string{"HANDOFF_ADMIN_TOKEN": testAdmin}))
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	return strings.TrimSpace(line[strings.Index(line, "http://"):]), result
}

// TestGracefulShutdown starts the server, begins a request that is still
// sending its body when the server is told to stop, and checks that the
// request is answered and the server then exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	base, done := serveInProcess(t, ctx, "--drain-delay", "0")

	body, bw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/v1/admin/shippers", body)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	req.Header.Set("Content-Type", "application/json")
	resc := make(chan *http.Response, 1)
	client := apitest.Client(t) // the answer matches the OpenAPI document
	go func() {
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			resc <- nil
			return
		}
		resc <- res
	}()
	bw.Write([]byte(`{"name": "In`))
	// The request is in flight once the server counts it.
	waitFor(t, "the request to be in flight", func() bool {
		_, metrics, _ := get(base, "/metrics", "")
		return strings.Contains(metrics, "handoff_http_requests_in_flight 2") // it, and this scrape
	})
	stop() // SIGTERM
	// The server is shutting down once it takes no new connection.
	addr := strings.TrimPrefix(base, "http://")
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	bw.Write([]byte(`flight Ltd"}`))
	bw.Close()
	res := <-resc
	if res == nil || res.StatusCode != 201 {
		t.Fatalf("in-flight request: %v", res)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// TestDemo starts the server the README's first command starts and checks
// what a newcomer sees: how to sign in, a sign-in page, messages in the dev
// outbox, and demo credentials that work.
func TestDemo(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data")}, pw, io.Discard, env(map[string]string{"HANDOFF_DRAIN_DELAY": "0"}))
		pw.Close()
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "These credentials") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	text := out.String()
	for _, want := range []string{"Sign in at http://127.0.0.1:", "shipper", "delivery associate", "customer service", "Shipper API key: hk_", "Admin token:", "/dev/outbox", "route rt_"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo banner lacks %q:\n%s", want, text)
		}
	}
	i := strings.Index(text, "http://127.0.0.1:")
	base := strings.Fields(text[i:])[0]
	key := strings.Fields(text[strings.Index(text, "Shipper API key: ")+len("Shipper API key: "):])[0]
	client := apitest.Client(t) // the API's answers match the OpenAPI document
	for path, want := range map[string]int{"/signin": 200, "/readyz": 200, "/v1/openapi.json": 200} {
		res, err := client.Get(base + path)
		if err != nil || res.StatusCode != want {
			t.Errorf("GET %s: %v %v", path, res, err)
		}
	}
	// Pages and the OpenAPI document come gzip-compressed to a client that
	// accepts it (Go's transport asks, and reports what it unpacked).
	for _, path := range []string{"/signin", "/track", "/v1/openapi.json"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if !res.Uncompressed {
			t.Errorf("GET %s was not compressed", path)
		}
	}
	req, _ := http.NewRequest("GET", base+"/v1/shipments", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the printed API key: %v %v", res, err)
	}
	body, _ := io.ReadAll(res.Body)
	if strings.Count(string(body), `"trackingId"`) != 5 {
		t.Errorf("seeded parcels: %s", body)
	}
	// The worker delivers the "on its way" messages to the dev outbox.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/dev/outbox?format=json")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			if strings.Contains(string(b), "is on its way") {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Now().After(deadline) {
		t.Error("no message reached the dev outbox")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling, bounded by the deadline
	}
}
