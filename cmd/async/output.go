package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/progress"
	"golang.org/x/term"
)

// printer writes what the user sees: per-entry lines on stdout, warnings,
// errors, progress and summaries on stderr. It is shared by concurrent
// sessions.
type printer struct {
	mu     sync.Mutex
	stdout io.Writer
	stderr io.Writer
	quiet  bool
	prefix bool      // several sessions: name every line
	tty    bool      // stderr is a terminal
	term   *terminal // the display on a terminal (display.go); nil without
	ev     *events   // --events=json; nil without
}

func (p *printer) tag(session string) string {
	if p.prefix {
		return session + ": "
	}
	return ""
}

// entry prints one finished entry. With -q only conflicts and errors are
// printed, on stderr.
func (p *printer) entry(session string, f core.Finished) {
	if f.Shown == "" {
		f.Shown = core.DisplayPath(f.Path)
	}
	if p.ev != nil {
		p.ev.entry(session, f)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.tag(session) + f.Shown + "  " + f.Status()
	if p.quiet {
		if f.Outcome == core.OutcomeError || f.Outcome == core.OutcomeConflict {
			p.errLine(line)
		}
		return
	}
	if p.ev != nil {
		return // stdout carries the events
	}
	if p.term != nil && p.term.entry(session, line, f.Outcome) {
		return
	}
	fmt.Fprintln(p.stdout, line)
}

// errLine writes a line on stderr, above the display when it is up.
// Callers hold p.mu.
func (p *printer) errLine(line string) {
	if p.term != nil && p.term.println(line) {
		return
	}
	fmt.Fprintln(p.stderr, line)
}

// status shows a one-line status pinned on a terminal (continuous mode
// between rounds); elsewhere, or with -q, nothing.
func (p *printer) status(in *instance, session, line string) {
	if p.term != nil {
		p.term.status(session, line)
	}
}

func (p *printer) warn(session, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errLine(fmt.Sprintf("async: %s%s", p.tag(session), msg))
}

func (p *printer) errorf(session, format string, args ...any) {
	if p.ev != nil {
		p.ev.error(session, fmt.Sprintf(format, args...))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errLine(fmt.Sprintf("async: %s%s", p.tag(session), fmt.Sprintf(format, args...)))
	p.ended(session)
}

// progress shows the session's progress until the returned stop is
// called: the display on a terminal (display.go), a line on stderr every
// ten seconds with "plain", and progress events with --events=json.
func (p *printer) progress(in *instance, session string, st *core.Stats) (stop func()) {
	stopEvents := func() {}
	if p.ev != nil {
		stopEvents = p.ev.run(session, st)
	}
	switch {
	case p.term != nil:
		stopTerm := p.term.run(session, st)
		return func() { stopEvents(); stopTerm() }
	case in.quiet || in.progress != "plain":
		return stopEvents
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		var m progress.Meter
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			line := progressLine(session, st, m.Update(st.Bytes.Load(), time.Now()))
			p.mu.Lock()
			fmt.Fprintln(p.stderr, line)
			p.mu.Unlock()
		}
	})
	return func() { close(done); wg.Wait(); stopEvents() }
}

func progressLine(session string, st *core.Stats, speed float64) string {
	files, planned := st.Files.Load(), st.PlannedFiles.Load()
	b, pb := st.Bytes.Load(), st.PlannedBytes.Load()
	pct := 100.0
	if pb > 0 {
		pct = 100 * float64(b) / float64(pb)
	}
	line := fmt.Sprintf("%s: %s/%s files, %s/%s (%.0f%%), %s/s", session, progress.Group(files), progress.Group(planned),
		progress.Size(b), progress.Size(pb), pct, progress.Size(int64(speed)))
	if left := pb - b; left > 0 && speed > 0 {
		line += fmt.Sprintf(", ETA %s", roundDuration(time.Duration(float64(left)/speed*float64(time.Second))))
	}
	if cur := st.Current.Load(); cur != nil && b < pb {
		line += ", " + core.DisplayPath(*cur)
	}
	return line
}

// summary prints the closing line of a session on stderr (not with -q).
func (p *printer) summary(in *instance, session string, dir core.Direction, took time.Duration, st *core.Stats) {
	if p.ev != nil {
		p.ev.summary(session, dir, took, st)
	}
	if in.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.ended(session)
	p.errLine(fmt.Sprintf("%s: %s done in %s: %s (%s) transferred, %s deleted, %s moved, %s unchanged, %s, %s",
		session, dir, roundDuration(took), plural(st.Files.Load(), "file"), progress.Size(st.Bytes.Load()),
		progress.Group(st.Deleted.Load()), progress.Group(st.Moved.Load()), progress.Group(st.Unchanged.Load()+st.Equal.Load()),
		plural(st.Conflicts.Load(), "conflict"), plural(st.Errors.Load(), "error")))
}

// printPlan writes a dry run's plan on stdout, as text or JSON.
func (a *app) printPlan(in *instance, p *prepared, pol core.Policy, plan *core.Plan) error {
	s := p.s
	if in.planJSON {
		h := core.PlanHeader{Session: s.name, Direction: pol.Direction,
			Local: p.ends[core.Local].URL(), Remote: p.ends[core.Remote].URL(), Options: planOptions(s, pol)}
		a.out.mu.Lock()
		defer a.out.mu.Unlock()
		return core.WritePlanJSON(a.out.stdout, h, plan)
	}
	var b strings.Builder
	for i := range plan.Actions {
		act := &plan.Actions[i]
		fmt.Fprintf(&b, "%s %s", act.Op, core.DisplayPath(act.Path))
		switch act.Op {
		case core.OpCopy:
			if act.Source.Type == core.TypeSymlink {
				fmt.Fprintf(&b, " -> %s", act.Source.Target)
			} else {
				fmt.Fprintf(&b, " %s", progress.Size(act.Size()))
			}
		case core.OpRename:
			fmt.Fprintf(&b, " -> %s", core.DisplayPath(act.To))
		case core.OpKeep:
			fmt.Fprintf(&b, " -> %s (%s)", core.DisplayPath(act.To), act.Reason)
		case core.OpConflict:
			fmt.Fprintf(&b, " (%s)", act.Reason)
		}
		if pol.Direction == core.Bidi && act.Op != core.OpConflict {
			fmt.Fprintf(&b, " [%s]", act.Side)
		}
		b.WriteByte('\n')
	}
	t := plan.Totals()
	fmt.Fprintf(&b, "plan: %s (%s), %s, %s, %s, %s, %s, %s; %s unchanged, %s already equal\n",
		plural(int64(t.Copy), "copy"), progress.Size(t.CopyBytes), plural(int64(t.Mkdir), "mkdir"),
		plural(int64(t.SetAttr), "setattr"), plural(int64(t.Rename), "rename"), plural(int64(t.Keep), "keep"),
		plural(int64(t.Delete), "delete"), plural(int64(t.Conflict), "conflict"),
		progress.Group(int64(t.Unchanged)), progress.Group(int64(t.Equal)))
	a.out.mu.Lock()
	defer a.out.mu.Unlock()
	_, err := io.WriteString(a.out.stdout, b.String())
	return err
}

// plural writes "1 file", "2 files", "1,204 copies".
func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	switch {
	case strings.HasSuffix(word, "y"):
		word = word[:len(word)-1] + "ies"
	default:
		word += "s"
	}
	return progress.Group(n) + " " + word
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// roundDuration rounds a run's duration for the summary: milliseconds for
// short runs, tenths of seconds otherwise.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
