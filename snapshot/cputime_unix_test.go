//go:build unix

package snapshot

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process used so
// far; benchmarks report it beside wall time, which a busy machine skews.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
