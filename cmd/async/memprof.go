package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// peakHeapProfile writes a heap profile to path each time the live heap
// reaches a new high (by a tenth at least, sampled every 50 ms), so that the
// file describes the run at its peak; the returned stop ends the sampling
// and writes the heap as it is only when no profile was written (a heap at
// the end of a run is no peak). For benchmarks: it is set by
// $ASYNC_MEMPROFILE. The heap is read with runtime.ReadMemStats (the bytes
// of allocated objects, live or not yet swept), not runtime/metrics:
// linked, that package's initialisation (its table of metrics, built at
// start) cost every start about a millisecond, the most of any package.
func peakHeapProfile(path string) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	var (
		ms            runtime.MemStats
		peak, written uint64
	)
	wrote := false
	write := func() {
		if f, err := os.Create(path); err == nil {
			runtime.GC() // the profile shows the heap as of the last GC
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
			written, wrote = peak, true
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				if !wrote {
					write()
				}
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if v := ms.HeapAlloc; v > peak {
				peak = v
				if peak > written+written/10 {
					write()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// cpuProfile writes a CPU profile of the run to path; the returned stop
// ends it. For benchmarks: it is set by $ASYNC_CPUPROFILE.
func cpuProfile(path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
