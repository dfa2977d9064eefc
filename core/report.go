package core

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Per-entry statuses printed as each action finishes (docs/reference.md §6).
const (
	ReportDone     = "SYNCHRONIZED"      // transferred or created
	ReportExists   = "SYNCHRONIZED(exs)" // already identical on both sides
	ReportSkipped  = "SYNCHRONIZED(skp)" // skipped
	ReportDeleted  = "SYNCHRONIZED(del)" // deleted
	ReportMoved    = "SYNCHRONIZED(mov)" // renamed, moved, or attributes updated
	ReportDedup    = "SYNCHRONIZED(ddp)" // duplicate handled by --dedup
	ReportConflict = "CONFLICT"          // left alone on both sides
	ReportError    = "ERROR"             // failed; followed by ": reason"
)

// Outcome is what became of an entry, as the engine reports it: the typed
// form of the per-entry status (Status gives the text).
type Outcome uint8

// The outcomes.
const (
	OutcomeNone     Outcome = iota // nothing to report
	OutcomeDone                    // transferred or created (ReportDone)
	OutcomeExists                  // already identical on both sides (ReportExists)
	OutcomeSkipped                 // skipped (ReportSkipped)
	OutcomeDeleted                 // deleted (ReportDeleted)
	OutcomeMoved                   // renamed, moved, or attributes updated (ReportMoved)
	OutcomeDedup                   // duplicate handled by --dedup (ReportDedup)
	OutcomeConflict                // left alone on both sides (ReportConflict)
	OutcomeError                   // failed (ReportError, then ": " and the reason)
	numOutcomes
)

var outcomeNames = [numOutcomes][2]string{
	OutcomeNone:     {"none", ""},
	OutcomeDone:     {"done", ReportDone},
	OutcomeExists:   {"exists", ReportExists},
	OutcomeSkipped:  {"skipped", ReportSkipped},
	OutcomeDeleted:  {"deleted", ReportDeleted},
	OutcomeMoved:    {"moved", ReportMoved},
	OutcomeDedup:    {"dedup", ReportDedup},
	OutcomeConflict: {"conflict", ReportConflict},
	OutcomeError:    {"error", ReportError},
}

// String returns the outcome's name: "done", "exists", ..., "error" (the
// event stream's outcome).
func (o Outcome) String() string {
	if o >= numOutcomes {
		return "unknown"
	}
	return outcomeNames[o][0]
}

// Status returns the outcome's per-entry status: ReportDone, ...,
// ReportError (without a reason); "" for OutcomeNone.
func (o Outcome) Status() string {
	if o >= numOutcomes {
		return ""
	}
	return outcomeNames[o][1]
}

// Finished describes one entry as it is done, for Options.Finished.
type Finished struct {
	// Path is the entry's path (core form, without the leading slash);
	// To is where a rename moved it.
	Path, To string
	// Shown is the path as the per-entry line prints it ("OLD -> NEW" for
	// a rename).
	Shown string
	// Outcome is what became of the entry.
	Outcome Outcome
	// Reason is why an OutcomeError entry failed, as the status line
	// gives it after "ERROR: ".
	Reason string
	// Op is the action done; 0 when only the snapshots were updated (an
	// entry found identical on both sides, or skipped by the plan).
	Op   Op
	Side Side
	// Bytes is the content written: a copied file's size, else 0.
	Bytes int64
	// Took is how long the action ran.
	Took time.Duration
	// Err is the failure of an OutcomeError entry, when there is one.
	Err error
}

// Status returns the per-entry status the text output prints:
// "SYNCHRONIZED", ..., "ERROR: " and the reason.
func (f *Finished) Status() string {
	if f.Outcome == OutcomeError {
		return ReportError + ": " + f.Reason
	}
	return f.Outcome.Status()
}

// report hands a finished entry to both hooks of Options, Report and
// Finished: every per-entry report goes through here.
func (e *engine) report(f Finished) {
	if f.Shown == "" {
		f.Shown = DisplayPath(f.Path)
	}
	e.o.Report(f.Shown, f.Status())
	if e.o.Finished != nil {
		e.o.Finished(f)
	}
}

// Flight is a file being transferred, as Stats.InFlight sees it.
type Flight struct {
	Path  string // core form
	Size  int64  // bytes in all
	Done  int64  // bytes written so far
	Start time.Time
}

// transfer is a file being transferred; done counts the bytes written.
type transfer struct {
	path  string
	size  int64
	start time.Time
	done  atomic.Int64
}

// flights is the set of transfers in progress.
type flights struct {
	mu  sync.Mutex
	set map[*transfer]struct{}
}

func (s *Stats) startTransfer(path string, size int64) *transfer {
	t := &transfer{path: path, size: size, start: time.Now()}
	s.flight.mu.Lock()
	if s.flight.set == nil {
		s.flight.set = map[*transfer]struct{}{}
	}
	s.flight.set[t] = struct{}{}
	s.flight.mu.Unlock()
	return t
}

func (s *Stats) endTransfer(t *transfer) {
	s.flight.mu.Lock()
	delete(s.flight.set, t)
	s.flight.mu.Unlock()
}

// InFlight lists the files being transferred now, the longest running
// first.
func (s *Stats) InFlight() []Flight {
	s.flight.mu.Lock()
	out := make([]Flight, 0, len(s.flight.set))
	for t := range s.flight.set {
		out = append(out, Flight{Path: t.path, Size: t.size, Done: t.done.Load(), Start: t.start})
	}
	s.flight.mu.Unlock()
	slices.SortFunc(out, func(a, b Flight) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Path, b.Path))
	})
	return out
}
