//go:build unix

package observe

import (
	"crypto/sha256"
	"io"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrapeCPU reads the fine CPU counter from /metrics as Prometheus serves it.
func scrapeCPU(t *testing.T, m *Metrics) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), CPUMetric+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", CPUMetric, body)
	return 0
}

// TestCPUCounterIsFine checks that the process's CPU counter moves by less
// than the kernel's 10 ms tick: a load test divides a phase's CPU by a few
// hundred requests, and a tick would be tens of microseconds each. A counter
// of ticks only ever moves by whole ticks; a fine one moves by amounts that
// are not. (How far it moves between two scrapes says nothing: under -race
// on a busy machine one scrape alone can cost more than a tick.)
func TestCPUCounterIsFine(t *testing.T) {
	const tick = 0.010
	m := NewMetrics()
	before := scrapeCPU(t, m)
	sum := sha256.Sum256(nil)
	var steps []float64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(steps) < 20 {
		for range 200 { // about 100 µs of work
			sum = sha256.Sum256(sum[:])
		}
		now := scrapeCPU(t, m)
		if now < before {
			t.Fatalf("the counter went back from %v to %v", before, now)
		}
		if now > before {
			step := now - before
			if r := math.Mod(step, tick); r > tick/20 && r < tick-tick/20 {
				return // not a whole number of ticks
			}
			steps = append(steps, step)
		}
		before = now
	}
	if len(steps) == 0 {
		t.Fatal("10 s of work and the CPU counter did not move")
	}
	t.Errorf("the counter moved only by whole ticks of 10 ms (%v s): it counts ticks, not microseconds", steps)
}
