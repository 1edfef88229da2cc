package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadtest runs a tiny delivery day against a server in this process,
// with its dev outbox as the recipients' phones, and checks that every
// parcel ends delivered or attempted without a single unexpected answer,
// and that the report says what each phase cost.
func TestLoadtest(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	base, done := serveInProcess(t, ctx, "--drain-delay", "0")
	out := filepath.Join(t.TempDir(), "report.json")
	var text strings.Builder
	err := run(ctx, []string{"loadtest", "--url", base, "--parcels", "30", "--route-size", "12", "--concurrency", "4", "--seed", "7",
		"--wrong-share", "0.5", "--resend-share", "0.3", "--fail-share", "0.1", "--drain-timeout", "30s", "--json", out},
		&text, io.Discard, env(map[string]string{"HANDOFF_ADMIN_TOKEN": testAdmin}))
	if err != nil {
		t.Fatalf("loadtest: %v\n%s", err, text.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r loadReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Complete || r.Errors != 0 || r.NoCode != 0 {
		t.Errorf("complete %v, %d errors, %d stops without a code:\n%s", r.Complete, r.Errors, r.NoCode, text.String())
	}
	if r.Delivered+r.Failed != 30 || r.Failed == 0 {
		t.Errorf("%d delivered and %d failed of 30 parcels:\n%s", r.Delivered, r.Failed, text.String())
	}
	ran := map[string]*phaseResult{}
	for _, p := range r.Phases {
		ran[p.Name] = p
	}
	for _, name := range []string{"labels", "receive", "plan routes", "load vans", "wrong code", "resend code", "correct code", "deliver with photo", "failed attempt"} {
		if p := ran[name]; p == nil || p.Requests == 0 {
			t.Errorf("phase %q did not run:\n%s", name, text.String())
		}
	}
	if r.CPUSeconds <= 0 || r.PeakRSSMB <= 0 || ran["send: out-for-delivery messages with codes"] == nil {
		t.Errorf("the server's figures are missing: %s", b)
	}
	// The delivery day is every phase but the onboarding, which ran and
	// cost something.
	setup, day := 0.0, 0.0
	for _, p := range r.Phases {
		if p.Setup {
			setup += p.CPUSeconds
		} else {
			day += p.CPUSeconds
		}
	}
	if p := ran["setup: associates"]; p == nil || !p.Setup || setup <= 0 {
		t.Errorf("the onboarding is not marked as such: %s", b)
	}
	if math.Abs(r.DayCPUSeconds-day) > 1e-9 || math.Abs(r.CPUSeconds-day-setup) > 1e-9 || r.DayCPUPerParcel >= r.CPUPerParcel ||
		math.Abs(r.DayCPUPerParcel-day/30*1e6) > 1e-6 {
		t.Errorf("delivery day %.6fs (%.0fµs a parcel), whole run %.6fs; the phases add up to %.6fs without the onboarding's %.6fs",
			r.DayCPUSeconds, r.DayCPUPerParcel, r.CPUSeconds, day, setup)
	}
	if !strings.Contains(text.String(), "cpu/req") || !strings.Contains(text.String(), "delivery day (labels to the last message") {
		t.Errorf("no table:\n%s", text.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLoadtestNodes checks how --url names the nodes of one deployment:
// each must be an http(s) URL, and several need the sinks, since each node's
// dev outbox holds only its own messages.
func TestLoadtestNodes(t *testing.T) {
	parse := func(args ...string) (*loadConfig, error) {
		return parseLoadtest(args, io.Discard, env(map[string]string{"HANDOFF_ADMIN_TOKEN": testAdmin}))
	}
	c, err := parse("--url", "http://127.0.0.1:8080/, http://127.0.0.1:8081", "--sms-sink", "127.0.0.1:9025", "--smtp-sink", "127.0.0.1:9026")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 2 || c.URLs[0] != "http://127.0.0.1:8080" || c.URLs[1] != "http://127.0.0.1:8081" {
		t.Errorf("nodes %q, want the two base URLs", c.URLs)
	}
	if _, err := parse("--url", "http://127.0.0.1:8080,http://127.0.0.1:8081"); err == nil || !strings.Contains(err.Error(), "--sms-sink") {
		t.Errorf("two nodes without sinks: %v, want a refusal naming the sinks", err)
	}
	if _, err := parse("--url", "127.0.0.1:8080"); err == nil {
		t.Error("a URL without a scheme was accepted")
	}
	if c, err := parse("--url", "http://127.0.0.1:8080"); err != nil || len(c.URLs) != 1 {
		t.Errorf("one node: %v, %v", c, err)
	}
}

// TestScrapePrefersFineCPU checks that the load test reads the server's CPU
// to the microsecond when the server offers it, whichever line comes first,
// and falls back to the 10 ms ticks of process_cpu_seconds_total.
func TestScrapePrefersFineCPU(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       float64
	}{
		{"fine first", "handoff_process_cpu_seconds_total 12.345678\nprocess_cpu_seconds_total 12.34\n", 12.345678},
		{"ticks first", "process_cpu_seconds_total 12.34\nhandoff_process_cpu_seconds_total 12.345678\n", 12.345678},
		{"ticks only", "# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total 12.34\n", 12.34},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tc.body+"process_resident_memory_bytes 1.048576e+06\n")
			}))
			defer srv.Close()
			s := scrapeNode(context.Background(), srv.Client(), srv.URL)
			if s.cpu != tc.want || s.rss != 1<<20 {
				t.Errorf("cpu %v rss %v, want cpu %v rss %v", s.cpu, s.rss, tc.want, 1<<20)
			}
		})
	}
}

// The doors are visited a round at a time across the routes, so that the
// requests in flight at once are at different associates' doors; each
// route's own stops stay in their order.
func TestAcrossRoutes(t *testing.T) {
	route := func(name string, n int) *ltRoute {
		r := &ltRoute{id: name}
		for i := range n {
			r.stops = append(r.stops, &ltStop{id: fmt.Sprintf("%s%d", name, i)})
		}
		return r
	}
	var got []string
	for _, s := range acrossRoutes([]*ltRoute{route("a", 3), route("b", 1), route("c", 0), route("d", 2)}) {
		got = append(got, s.id)
	}
	if want := "[a0 b0 d0 a1 d1 a2]"; fmt.Sprint(got) != want {
		t.Errorf("stops in the order %v, want %s", got, want)
	}
}
