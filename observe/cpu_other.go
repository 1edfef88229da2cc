//go:build !unix

package observe

import "github.com/prometheus/client_golang/prometheus"

// cpuCounter is nil where getrusage is missing: process_cpu_seconds_total
// is the only CPU figure there.
func cpuCounter() prometheus.Collector { return nil }
