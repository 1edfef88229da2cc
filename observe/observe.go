// Package observe makes the server observable: Prometheus metrics of every
// request by route and status, an access log without secrets, and the health
// and readiness endpoints.
package observe

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the server's Prometheus collectors in their own registry.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
	checks   *prometheus.CounterVec
	messages *prometheus.CounterVec
}

// CodeCheck counts one evaluated passcode entry (method "code" or
// "phone_digits"), right or wrong: a jump in wrong ones is worth an alert.
func (m *Metrics) CodeCheck(method string, correct bool) {
	result := "wrong"
	if correct {
		result = "correct"
	}
	m.checks.WithLabelValues(method, result).Inc()
}

// Message counts one delivery attempt of a queued message by channel and
// outcome (sent, retry, dead).
func (m *Metrics) Message(channel, outcome string) {
	m.messages.WithLabelValues(channel, outcome).Inc()
}

// NewMetrics returns a registry with the HTTP collectors plus Go and process
// collectors.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "handoff_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "handoff_http_requests_in_flight", Help: "Requests being served."})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_code_checks_total", Help: "Passcode entries evaluated at doors, by method and result.",
	}, []string{"method", "result"})
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "handoff_notifications_total", Help: "Message delivery attempts by channel and outcome (sent, retry, dead).",
	}, []string{"channel", "outcome"})
	m.Registry.MustRegister(m.requests, m.latency, m.inflight, m.checks, m.messages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c := cpuCounter(); c != nil {
		m.Registry.MustRegister(c)
	}
	return m
}

// CPUMetric is the process's CPU time to the microsecond, where the
// platform can tell it.
const CPUMetric = "handoff_process_cpu_seconds_total"

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Middleware counts and times each request by its route pattern (never the raw
// path, which would make a metric per parcel) and writes an access log line.
// The log has method, route pattern, status, bytes and duration — never the
// path (a portal sign-in link carries its token there), the query or any
// header, so no credential or sign-in token can reach it.
func (m *Metrics) Middleware(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		defer m.inflight.Dec()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
			m.latency.WithLabelValues(route).Observe(d.Seconds())
			if route != "GET /healthz" && route != "GET /metrics" {
				log.LogAttrs(r.Context(), slog.LevelInfo, "http",
					slog.String("method", r.Method), slog.String("route", route),
					slog.Int("status", rec.status), slog.Int("bytes", rec.bytes), slog.Duration("duration", d))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// Health answers /healthz (the process is up) and /readyz (it can serve:
// not shutting down, the database answers and every check passes).
type Health struct {
	Ping func(context.Context) error
	// Checks are further conditions for readiness by name, such as a disk
	// with room to write; /readyz names the first that fails.
	Checks   []Check
	draining atomic.Bool
}

// Check is one readiness condition: Run returns why it fails, nil when not.
type Check struct {
	Name string
	Run  func(context.Context) error
}

// Drain makes /readyz fail, so a load balancer stops sending traffic before
// the server shuts down.
func (h *Health) Drain() { h.draining.Store(true) }

// Register adds /healthz and /readyz to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if h.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"status":"draining"}`))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if h.Ping != nil {
			if err := h.Ping(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"status":"database unavailable"}`))
				return
			}
		}
		for _, c := range h.Checks {
			if err := c.Run(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"status":` + strconv.Quote(c.Name+" unavailable") + `}`))
				return
			}
		}
		w.Write([]byte(`{"status":"ready"}`))
	})
}
