//go:build unix

package observe

import (
	"crypto/sha256"
	"io"
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
// hundred requests, and a tick would be tens of microseconds each.
func TestCPUCounterIsFine(t *testing.T) {
	m := NewMetrics()
	before := scrapeCPU(t, m)
	sum := sha256.Sum256(nil)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for range 200 { // about 100 µs of work
			sum = sha256.Sum256(sum[:])
		}
		now := scrapeCPU(t, m)
		if now < before {
			t.Fatalf("the counter went back from %v to %v", before, now)
		}
		if now > before {
			if step := now - before; step >= 0.005 {
				t.Errorf("the counter first moved by %.1f ms: it counts ticks, not microseconds", step*1e3)
			}
			return
		}
	}
	t.Fatal("10 s of work and the CPU counter did not move")
}
