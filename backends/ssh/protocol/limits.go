package protocol

import (
	"fmt"
	"time"

	"github.com/async-sync/async/core"
)

// Bounds on what a client may ask of the agent. Every count, size and
// length that arrives from the wire is checked against one of these (or
// against the frame that carries it) before anything is allocated for
// it; doc.go lists them.
const (
	// MaxServing bounds the requests the agent serves at once; the
	// reader stops reading until one ends.
	MaxServing = 64
	// BigPayload: a request whose payload is larger takes one of
	// MaxBigServing places as well, so that at most
	// MaxServing×BigPayload + MaxBigServing×MaxFrame bytes of requests
	// are held at once.
	BigPayload    = 1 << 20
	MaxBigServing = 4
	// MaxOpenFiles bounds the files one connection has open for writing,
	// and (apart) for reading.
	MaxOpenFiles = 1024
	// maxScanThreads is the largest --scan-threads.
	maxScanThreads = 99
	// maxScanPause bounds the rest a scan takes between directories.
	maxScanPause = time.Second
)

// CheckScanOptions refuses scan options out of their range.
func CheckScanOptions(o core.ScanOptions) error {
	switch {
	case o.Threads < 0 || o.Threads > maxScanThreads:
		return fmt.Errorf("agent protocol: %d scan threads (want 0 to %d)", o.Threads, maxScanThreads)
	case o.Pause < 0 || o.Pause > maxScanPause:
		return fmt.Errorf("agent protocol: a scan pause of %v (want 0 to %v)", o.Pause, maxScanPause)
	case o.PauseEvery < 0:
		return fmt.Errorf("agent protocol: a scan pause every %d directories", o.PauseEvery)
	case o.PartialMaxAge < 0:
		return fmt.Errorf("agent protocol: a partial-file age of %v", o.PartialMaxAge)
	case !core.ValidTempToken(o.TempToken):
		return fmt.Errorf("agent protocol: a temporary-file token %q", o.TempToken)
	}
	return nil
}
