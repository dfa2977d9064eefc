package lifecycle

import (
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

// statusEvery is how often a running session rewrites its status file
// and its PROG record.
const statusEvery = 2 * time.Second

// StatusOptions configure KeepStatus.
type StatusOptions struct {
	// Dir is the directory of the session's local snapshot: the status
	// file lives beside it.
	Dir string
	// Stats returns the counters of the run going on (nil: none yet).
	Stats func() *core.Stats
	// LastSync, if set, says when the last round ended (zero: none yet);
	// without it the file names a last sync only once stopped.
	LastSync func() time.Time
	// Log receives the PROG records and a warning when the file cannot be
	// written.
	Log *slog.Logger
	// Progress: each rewrite also writes a PROG record.
	Progress bool
}

// KeepStatus writes the session's status file (running, with its
// counters) at once and every few seconds while the session runs, for
// async admin. stop writes the final state (stopped) and returns once it
// is written; refresh rewrites it now.
func KeepStatus(o StatusOptions) (stop, refresh func()) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	started := time.Now().UTC()
	var mu sync.Mutex // one writer at a time: the last word is the latest state
	write := func(state string) {
		mu.Lock()
		defer mu.Unlock()
		st := o.Stats()
		if st == nil {
			st = &core.Stats{}
		}
		if o.Progress {
			logProgress(log, st)
		}
		synced := st.Unchanged.Load() + st.Equal.Load() + st.Files.Load() + st.Dirs.Load() + st.Moved.Load()
		s := snapshot.Status{State: state, PID: os.Getpid(), Started: started, Updated: time.Now().UTC(),
			Counters: map[string]int64{
				"Synchronized Paths": synced,
				"Pending Paths":      max(0, st.PlannedFiles.Load()-st.Files.Load()),
				"Conflict Paths":     st.Conflicts.Load(),
				"Error Paths":        st.Errors.Load(),
			}}
		switch {
		case state == "stopped":
			s.LastSync = s.Updated
		case o.LastSync != nil:
			s.LastSync = o.LastSync()
		}
		if err := snapshot.WriteStatus(o.Dir, s); err != nil {
			log.Warn("write status file", "err", err)
		}
	}
	running := func() { write("running") }
	running()
	return tickEvery(statusEvery, running, func() { write("stopped") }), running
}

// KeepProgress writes a PROG record at once, every few seconds while a
// round of a continuous session runs, and when stop is called.
func KeepProgress(log *slog.Logger, st *core.Stats) (stop func()) {
	prog := func() { logProgress(log, st) }
	prog()
	return tickEvery(statusEvery, prog, prog)
}

// tickEvery calls tick every d until stop is called, then last; stop
// returns once last has run.
func tickEvery(d time.Duration, tick, last func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				last()
				return
			case <-t.C:
				tick()
			}
		}
	}()
	return func() { close(done); <-finished }
}

// logProgress writes a PROG record: the counters of docs/reference.md §6,
// dir xfr dup exs skp del mov err cfl, with the bytes transferred.
func logProgress(log *slog.Logger, st *core.Stats) {
	log.Info("PROG", "dir", st.Dirs.Load(), "xfr", st.Files.Load()-st.Linked.Load(), "xfr_bytes", st.Bytes.Load(),
		"dup", st.Linked.Load(), "exs", st.Equal.Load()+st.Unchanged.Load(), "skp", st.Skipped.Load(),
		"del", st.Deleted.Load(), "mov", st.Moved.Load(), "err", st.Errors.Load(), "cfl", st.Conflicts.Load())
}
