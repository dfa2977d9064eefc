package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/async-sync/async/core"
	"golang.org/x/term"
)

// printer writes what the user sees: per-entry lines on stdout, warnings,
// errors, progress and summaries on stderr. It is shared by concurrent
// sessions.
type printer struct {
	mu       sync.Mutex
	stdout   io.Writer
	stderr   io.Writer
	quiet    bool
	prefix   bool // several sessions: name every line
	tty      bool // stderr is a terminal
	barShown bool
}

func (p *printer) tag(session string) string {
	if p.prefix {
		return session + ": "
	}
	return ""
}

// clearBar removes the progress bar before another line is printed.
// Callers hold p.mu.
func (p *printer) clearBar() {
	if p.barShown {
		fmt.Fprint(p.stderr, "\r\033[K")
		p.barShown = false
	}
}

// entry prints one finished entry. With -q only conflicts and errors are
// printed, on stderr.
func (p *printer) entry(session, path, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBar()
	if p.quiet {
		if strings.HasPrefix(status, core.ReportError) || status == core.ReportConflict {
			fmt.Fprintf(p.stderr, "%s%s  %s\n", p.tag(session), path, status)
		}
		return
	}
	fmt.Fprintf(p.stdout, "%s%s  %s\n", p.tag(session), path, status)
}

// status shows a one-line status on a terminal (continuous mode between
// rounds); elsewhere, or with -q, nothing.
func (p *printer) status(in *instance, session, line string) {
	if !p.tty || in.quiet || in.progress == "none" || in.progress == "plain" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.stderr, "\r\033[K%s%s", p.tag(session), line)
	p.barShown = true
}

func (p *printer) warn(session, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBar()
	fmt.Fprintf(p.stderr, "async: %s%s\n", p.tag(session), msg)
}

func (p *printer) errorf(session, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBar()
	fmt.Fprintf(p.stderr, "async: %s%s\n", p.tag(session), fmt.Sprintf(format, args...))
}

// progress shows the session's progress on stderr until the returned stop
// is called: a bar on a terminal, a line every ten seconds with "plain".
func (p *printer) progress(in *instance, session string, st *core.Stats) (stop func()) {
	mode := in.progress
	if mode == "auto" {
		mode = "none"
		if p.tty {
			mode = "bar"
		}
	}
	if in.quiet || mode == "none" {
		return func() {}
	}
	every := 200 * time.Millisecond
	if mode == "plain" {
		every = 10 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var pr progressRate
		for {
			select {
			case <-done:
				p.mu.Lock()
				p.clearBar()
				p.mu.Unlock()
				return
			case <-t.C:
			}
			line := progressLine(session, st, pr.update(st.Bytes.Load(), time.Now()))
			p.mu.Lock()
			if mode == "bar" {
				fmt.Fprintf(p.stderr, "\r\033[K%s", line)
				p.barShown = true
			} else {
				fmt.Fprintln(p.stderr, line)
			}
			p.mu.Unlock()
		}
	})
	return func() { close(done); wg.Wait() }
}

func progressLine(session string, st *core.Stats, speed float64) string {
	files, planned := st.Files.Load(), st.PlannedFiles.Load()
	b, pb := st.Bytes.Load(), st.PlannedBytes.Load()
	pct := 100.0
	if pb > 0 {
		pct = 100 * float64(b) / float64(pb)
	}
	line := fmt.Sprintf("%s: %s/%s files, %s/%s (%.0f%%), %s/s", session, group(files), group(planned),
		sizeString(b), sizeString(pb), pct, sizeString(int64(speed)))
	if left := pb - b; left > 0 && speed > 0 {
		line += fmt.Sprintf(", ETA %s", roundDuration(time.Duration(float64(left)/speed*float64(time.Second))))
	}
	if cur := st.Current.Load(); cur != nil && b < pb {
		line += ", " + core.DisplayPath(*cur)
	}
	return line
}

// progressRate is the transfer rate over the last few seconds (an
// exponentially weighted average), not since the start.
type progressRate struct {
	last  time.Time
	bytes int64
	rate  float64
}

func (r *progressRate) update(bytes int64, now time.Time) float64 {
	if !r.last.IsZero() {
		if dt := now.Sub(r.last).Seconds(); dt > 0 {
			inst := float64(bytes-r.bytes) / dt
			w := min(1, dt/3) // about three seconds of memory
			r.rate = r.rate*(1-w) + inst*w
		}
	}
	r.last, r.bytes = now, bytes
	return r.rate
}

// summary prints the closing line of a session on stderr (not with -q).
func (p *printer) summary(in *instance, session string, dir core.Direction, took time.Duration, st *core.Stats) {
	if in.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearBar()
	fmt.Fprintf(p.stderr, "%s: %s done in %s: %s (%s) transferred, %s deleted, %s moved, %s unchanged, %s, %s\n",
		session, dir, roundDuration(took), plural(st.Files.Load(), "file"), sizeString(st.Bytes.Load()),
		group(st.Deleted.Load()), group(st.Moved.Load()), group(st.Unchanged.Load()+st.Equal.Load()),
		plural(st.Conflicts.Load(), "conflict"), plural(st.Errors.Load(), "error"))
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
				fmt.Fprintf(&b, " %s", sizeString(act.Size()))
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
		plural(int64(t.Copy), "copy"), sizeString(t.CopyBytes), plural(int64(t.Mkdir), "mkdir"),
		plural(int64(t.SetAttr), "setattr"), plural(int64(t.Rename), "rename"), plural(int64(t.Keep), "keep"),
		plural(int64(t.Delete), "delete"), plural(int64(t.Conflict), "conflict"),
		group(int64(t.Unchanged)), group(int64(t.Equal)))
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
	return group(n) + " " + word
}

// group writes n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// sizeString writes a byte count with binary units.
func sizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i-1])
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
