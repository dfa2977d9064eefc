package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/progress"
	"golang.org/x/term"
)

// terminal is the progress display on a terminal: a block pinned at the
// bottom of stderr, one panel per session, with the per-entry lines
// scrolling above it when stdout is the same terminal.
type terminal struct {
	out    io.Writer
	size   func() (int, int)
	above  bool // per-entry lines go through the display
	filter bool // routine lines are held back while they come too fast
	gate   progress.Gate

	mu     sync.Mutex
	disp   *progress.Display // nil while no session shows
	order  []string
	panels map[string]*panel
}

// panel is one session's part of the display.
type panel struct {
	stats    *core.Stats // the round running; nil between rounds
	planned  bool
	keep     bool   // continuous mode: stays between rounds
	status   string // between rounds
	meter    progress.Meter
	hidden   int64
	lastRate float64 // the last round's average rate
}

// newTerminal returns the display for stderr, or nil when progress is not
// shown as a bar.
func newTerminal(in *instance, stdout, stderr io.Writer, tty bool) *terminal {
	if in.quiet {
		return nil
	}
	switch in.progress {
	case "bar":
	case "auto":
		if !tty {
			return nil
		}
	default:
		return nil
	}
	t := &terminal{out: stderr, panels: map[string]*panel{}, size: func() (int, int) { return 0, 0 }}
	if f, ok := stderr.(*os.File); ok {
		t.size = func() (int, int) {
			w, h, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0, 0
			}
			return w, h
		}
	}
	t.above = in.events == "" && sameTerminal(stdout, stderr)
	t.filter = t.above && !in.verbose
	return t
}

// sameTerminal reports whether stdout and stderr are one terminal.
func sameTerminal(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 || !isTerminal(fa) || !isTerminal(fb) {
		return false
	}
	var sa, sb syscall.Stat_t
	if syscall.Fstat(int(fa.Fd()), &sa) != nil || syscall.Fstat(int(fb.Fd()), &sb) != nil {
		return false
	}
	return sa.Rdev == sb.Rdev
}

// panel returns a session's panel and, when the display is not up, the
// display to start once t.mu is released. Callers hold t.mu; the display
// is never called with t.mu held (it calls render, which takes it).
func (t *terminal) panel(session string) (*panel, *progress.Display) {
	pn := t.panels[session]
	if pn == nil {
		pn = &panel{}
		t.panels[session] = pn
		t.order = append(t.order, session)
	}
	var start *progress.Display
	if t.disp == nil {
		t.disp = progress.New(t.out, t.size, t.render)
		start = t.disp
	}
	return pn, start
}

func startDisplay(d *progress.Display) {
	if d != nil {
		d.Start(100 * time.Millisecond)
	}
}

// drop removes a session's panel and returns the display to stop (once
// t.mu is released) when none is left. Callers hold t.mu.
func (t *terminal) drop(session string) *progress.Display {
	delete(t.panels, session)
	for i, s := range t.order {
		if s == session {
			t.order = append(t.order[:i], t.order[i+1:]...)
			break
		}
	}
	if len(t.panels) > 0 {
		return nil
	}
	d := t.disp
	t.disp = nil
	return d
}

func stopDisplay(d *progress.Display) {
	if d != nil {
		d.Stop()
	}
}

// render draws the panels (called by the display, under its lock).
func (t *terminal) render(cols, rows int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	snaps := make([]progress.Snapshot, 0, len(t.order))
	for _, name := range t.order {
		pn := t.panels[name]
		s := progress.Snapshot{Name: name, Hidden: pn.hidden}
		st := pn.stats
		switch {
		case st == nil:
			s.Status = pn.status
			if s.Status == "" {
				s.Status = "following changes"
			}
			if pn.lastRate > 0 {
				s.Status += ", last round " + progress.Size(int64(pn.lastRate)) + "/s"
			}
		case !pn.planned:
			s.Planning = true
		default:
			s.Files, s.FilesTotal = st.Files.Load(), st.PlannedFiles.Load()
			s.Bytes, s.BytesTotal = st.Bytes.Load(), st.PlannedBytes.Load()
			s.Rate = pn.meter.Update(s.Bytes, now)
			s.Deleted, s.Conflicts, s.Errors = st.Deleted.Load(), st.Conflicts.Load(), st.Errors.Load()
			for _, f := range st.InFlight() {
				s.InFlight = append(s.InFlight, progress.Flight{Path: core.DisplayPath(f.Path), Size: f.Size, Done: f.Done})
			}
		}
		snaps = append(snaps, s)
	}
	return progress.Render(snaps, cols, rows)
}

// run shows a session's round until the returned stop is called.
func (t *terminal) run(session string, st *core.Stats) (stop func()) {
	t.mu.Lock()
	pn, d := t.panel(session)
	pn.stats, pn.planned, pn.meter, pn.hidden = st, false, progress.Meter{}, 0
	t.mu.Unlock()
	startDisplay(d)
	start := time.Now()
	return func() {
		t.mu.Lock()
		if d := time.Since(start).Seconds(); d > 0 {
			pn.lastRate = float64(st.Bytes.Load()) / d
		}
		if !pn.keep {
			// The final counters stay until the summary or the error
			// replaces them (done), in one write.
			t.mu.Unlock()
			return
		}
		pn.stats = nil
		shown := t.disp
		t.mu.Unlock()
		if shown != nil {
			shown.Refresh()
		}
	}
}

// done removes the panel of a session that ended (its summary or error
// is printed), unless it is following changes.
func (t *terminal) done(session string) {
	t.mu.Lock()
	pn := t.panels[session]
	if pn == nil || pn.keep {
		t.mu.Unlock()
		return
	}
	d := t.drop(session)
	t.mu.Unlock()
	stopDisplay(d)
}

// planned tells that a session's plan is made: the totals are known.
func (t *terminal) planned(session string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pn := t.panels[session]; pn != nil {
		pn.planned = true
	}
}

// follow keeps a session's panel between rounds (continuous mode) until
// the returned end is called.
func (t *terminal) follow(session string) (end func()) {
	t.mu.Lock()
	pn, d := t.panel(session)
	pn.keep = true
	t.mu.Unlock()
	startDisplay(d)
	return func() {
		t.mu.Lock()
		d := t.drop(session)
		t.mu.Unlock()
		stopDisplay(d)
	}
}

// status sets the line a session shows between rounds.
func (t *terminal) status(session, line string) {
	t.mu.Lock()
	pn, d := t.panel(session)
	pn.status = line
	t.mu.Unlock()
	startDisplay(d)
}

// println prints a line above the display; false when no display is up.
func (t *terminal) println(line string) bool {
	t.mu.Lock()
	d := t.disp
	t.mu.Unlock()
	if d == nil {
		return false
	}
	d.Println(line)
	return true
}

// entry shows a per-entry line above the display, or counts it as not
// shown when lines come too fast and it is a routine one; false when the
// line is not the display's to show.
func (t *terminal) entry(session, line string, outcome core.Outcome) bool {
	if !t.above {
		return false
	}
	if t.filter && !t.gate.Pass(time.Now()) && !matters(outcome) {
		t.mu.Lock()
		if pn := t.panels[session]; pn != nil {
			pn.hidden++
		}
		t.mu.Unlock()
		return true
	}
	return t.println(line)
}

// matters: the per-entry lines shown however fast they come.
func matters(o core.Outcome) bool {
	return o == core.OutcomeConflict || o == core.OutcomeDeleted || o == core.OutcomeError
}

// events writes the event stream (--events=json): one JSON object per
// line on stdout. docs/events.md is its schema.
type events struct {
	mu     sync.Mutex
	w      io.Writer
	rounds map[string]int
}

// eventsVersion is the version of the event schema (docs/events.md).
const eventsVersion = 1

// obj is a JSON object whose keys keep their order: "type" and "time"
// come first in every event, which makes the stream easy to read.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.k)
		b = append(b, ':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// seconds is a duration in seconds, to the microsecond.
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }

// write writes one event: its type, the time, the session and round, then
// the fields given.
func (e *events) write(typ, session string, fields ...kv) {
	o := obj{{"type", typ}, {"time", time.Now().UTC().Format(time.RFC3339Nano)}, {"session", session}}
	if typ != "error" {
		o = append(o, kv{"round", e.round(session)})
	}
	b, err := json.Marshal(append(o, fields...))
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(append(b, '\n'))
}

// round returns the session's round number (1 for a one-time run).
func (e *events) round(session string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rounds[session]
}

// start opens a round of a session: the next round number.
func (e *events) start(session string) {
	e.mu.Lock()
	if e.rounds == nil {
		e.rounds = map[string]int{}
	}
	e.rounds[session]++
	e.mu.Unlock()
	e.write("start", session, kv{"version", eventsVersion})
}

// jsonPath puts a path into an event as key (valid UTF-8, with its
// leading slash) or key_b64 (base64 of the raw bytes).
func jsonPath(key, p string) kv {
	if utf8.ValidString(p) {
		return kv{key, "/" + p}
	}
	return kv{key + "_b64", base64.StdEncoding.EncodeToString([]byte("/" + p))}
}

func (e *events) entry(session string, f core.Finished) {
	o := obj{jsonPath("path", f.Path)}
	if f.To != "" {
		o = append(o, jsonPath("to", f.To))
	}
	if f.Op != 0 {
		o = append(o, kv{"op", f.Op.String()}, kv{"side", f.Side.String()})
	} else {
		o = append(o, kv{"op", "none"})
	}
	o = append(o, kv{"outcome", f.Outcome.String()}, kv{"status", f.Status()}, kv{"bytes", f.Bytes}, kv{"duration", seconds(f.Took)})
	if f.Outcome == core.OutcomeError {
		o = append(o, kv{"error", f.Reason})
	}
	e.write("entry", session, o...)
}

func (e *events) progress(session string, st *core.Stats, rate float64) {
	o := obj{{"files", st.Files.Load()}, {"files_total", st.PlannedFiles.Load()},
		{"bytes", st.Bytes.Load()}, {"bytes_total", st.PlannedBytes.Load()}, {"rate", int64(rate)}}
	if left := st.PlannedBytes.Load() - st.Bytes.Load(); left > 0 && rate > 0 {
		o = append(o, kv{"eta", math.Round(float64(left)/rate*10) / 10})
	}
	o = append(o, kv{"deleted", st.Deleted.Load()}, kv{"moved", st.Moved.Load()},
		kv{"conflicts", st.Conflicts.Load()}, kv{"errors", st.Errors.Load()})
	flights := []obj{}
	for _, f := range st.InFlight() {
		flights = append(flights, obj{jsonPath("path", f.Path), {"bytes", f.Done}, {"size", f.Size}})
	}
	e.write("progress", session, append(o, kv{"in_flight", flights})...)
}

// run writes a session's progress every second until the returned stop
// is called, and once more then.
func (e *events) run(session string, st *core.Stats) (stop func()) {
	e.start(session)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var m progress.Meter
		m.Update(0, time.Now())
		for {
			select {
			case <-done:
				e.progress(session, st, m.Update(st.Bytes.Load(), time.Now()))
				return
			case <-t.C:
				e.progress(session, st, m.Update(st.Bytes.Load(), time.Now()))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (e *events) summary(session string, dir core.Direction, took time.Duration, st *core.Stats) {
	e.write("summary", session, kv{"direction", dir.String()}, kv{"duration", seconds(took)},
		kv{"files", st.Files.Load()}, kv{"bytes", st.Bytes.Load()}, kv{"dirs", st.Dirs.Load()},
		kv{"deleted", st.Deleted.Load()}, kv{"moved", st.Moved.Load()}, kv{"unchanged", st.Unchanged.Load()},
		kv{"equal", st.Equal.Load()}, kv{"skipped", st.Skipped.Load()}, kv{"dedup", st.Linked.Load()},
		kv{"conflicts", st.Conflicts.Load()}, kv{"errors", st.Errors.Load()})
}

func (e *events) error(session, msg string) {
	e.write("error", session, kv{"message", msg})
}

// configure sets the printer up for an instance's options.
func (p *printer) configure(in *instance) {
	p.quiet = in.quiet
	p.term = newTerminal(in, p.stdout, p.stderr, p.tty)
	if in.events == "json" {
		p.ev = &events{w: p.stdout}
	}
}

// ended tells the display that a session's run ended and its summary or
// error is printed: its panel goes.
func (p *printer) ended(session string) {
	if p.term != nil {
		p.term.done(session)
	}
}

// planned tells the display that a session's plan is made.
func (p *printer) planned(session string) {
	if p.term != nil {
		p.term.planned(session)
	}
}

// following keeps a continuous session's line on the display between
// rounds until the returned end is called.
func (p *printer) following(session string) (end func()) {
	if p.term == nil {
		return func() {}
	}
	return p.term.follow(session)
}
