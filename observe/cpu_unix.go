//go:build unix

package observe

import (
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// cpuCounter counts the process's CPU time, user and system, as getrusage
// accounts it: to the microsecond, where process_cpu_seconds_total counts
// the kernel's 10 ms ticks. A load test dividing a phase's CPU by a few
// hundred requests needs the finer figure (handoff loadtest reads it).
func cpuCounter() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: CPUMetric,
		Help: "User and system CPU time of the process in seconds, to the microsecond (getrusage).",
	}, func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	})
}
