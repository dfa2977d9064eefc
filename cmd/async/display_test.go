package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/progress"
	"github.com/async-sync/async/internal/vt"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal of cols×rows: the master and the
// terminal's device.
func openPTY(t *testing.T, cols, rows int) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}); err != nil {
		t.Fatalf("pty size: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// manyFiles writes n small files under root, 1,000 to a directory, a
// directory per goroutine.
func manyFiles(t *testing.T, root string, n int) {
	t.Helper()
	data := bytes.Repeat([]byte("x"), 100)
	var wg sync.WaitGroup
	errs := make(chan error, (n+999)/1000)
	for d := 0; d*1000 < n; d++ {
		wg.Go(func() {
			dir := filepath.Join(root, fmt.Sprintf("d%02d", d))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				errs <- err
				return
			}
			for i := d * 1000; i < min(n, (d+1)*1000); i++ {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// progressRow is the main line of the display.
var progressRow = regexp.MustCompile(`^t: (scanning and planning…|[0-9,]+/20,000 files · .* · .*/s)`)

// ptyProc is async running in a pseudo-terminal, its output played onto
// an emulated screen.
type ptyProc struct {
	cmd    *exec.Cmd
	screen *vt.Screen
	exited chan error
	read   chan struct{}
	mu     sync.Mutex
	n      int // bytes read from the terminal
}

func startInPTY(t *testing.T, cols, rows int, state string, args ...string) *ptyProc {
	t.Helper()
	master, tty := openPTY(t, cols, rows)
	p := &ptyProc{screen: vt.New(cols, rows), exited: make(chan error, 1), read: make(chan struct{})}
	p.cmd = exec.Command(asyncBin, args...)
	p.cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "TERM=xterm")
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = tty, tty, tty
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	go func() {
		defer close(p.read)
		buf := make([]byte, 32<<10)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.screen.Write(buf[:n])
			p.n += n
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// begun reports whether async wrote anything yet.
func (p *ptyProc) begun() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n > 0
}

// drained waits for the last output after the process ended.
func (p *ptyProc) drained() {
	select {
	case <-p.read:
	case <-time.After(5 * time.Second):
	}
}

// lastLine is the screen's last line that is not blank.
func lastLine(screen string) string {
	l := strings.Split(screen, "\n")
	return l[len(l)-1]
}

// TestTerminalDisplayStaysOnScreen runs a push of 20,000 files (held to
// 6 Mbit/s, so that it lasts a few seconds) in a
// pseudo-terminal, plays what async writes onto an emulated screen and
// looks at it every 200 ms: the progress display is on the screen in every
// capture, the per-entry lines are held back (they come too fast to read)
// and counted, and the last screen holds the summary.
func TestTerminalDisplayStaysOnScreen(t *testing.T) {
	t0 := time.Now()
	src, dst := t.TempDir(), t.TempDir()
	manyFiles(t, src, 20000)
	t.Logf("20,000 files written in %v", time.Since(t0))
	start := time.Now()
	state := t.TempDir()
	p := startInPTY(t, 120, 20, state, "-N", "t", "-d", src, "-r", dst, "-l", "6m") // 2 MB: at least 2.7 s
	screen := p.screen
	var captures []string
	var err error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err = <-p.exited:
			break wait
		case <-tick.C:
			if time.Since(start) > 60*time.Second {
				t.Fatal("async did not finish within 60 s")
			}
			if p.begun() { // from async's first output on
				captures = append(captures, screen.String())
			}
		}
	}
	if err != nil {
		t.Fatalf("async: %v\n%s", err, screen.String())
	}
	p.drained()
	took := time.Since(start)
	hiddenSeen := false
	summary := regexp.MustCompile(`(?m)^t: push done in .*: 20,000 files \(1\.9 MiB\) transferred, 0 deleted`)
	for i, c := range captures {
		if summary.MatchString(c) {
			captures = captures[:i] // the run is over; the process exits
			break
		}
		lines := strings.Split(c, "\n")
		found := -1
		for j, l := range lines {
			if progressRow.MatchString(l) {
				found = j
			}
		}
		if found < 0 {
			t.Fatalf("capture %d of %d (at %v): no progress display:\n%s", i+1, len(captures), time.Duration(i+1)*200*time.Millisecond, c)
		}
		// The display is the last thing on the screen: nothing below it
		// but its own lines (counters, files in flight).
		for _, l := range lines[found+1:] {
			if strings.HasSuffix(l, "SYNCHRONIZED") {
				t.Fatalf("capture %d: a per-entry line below the display:\n%s", i+1, c)
			}
		}
		if strings.Contains(c, "lines not shown") {
			hiddenSeen = true
		}
	}
	if len(captures) < 5 {
		t.Fatalf("the run took %v: too short to look at the display (%d captures)", took, len(captures))
	}
	if !hiddenSeen {
		t.Errorf("20,000 lines in %v, yet no capture counts lines not shown", took)
	}
	final := screen.String()
	if !summary.MatchString(final) {
		t.Errorf("the last screen has no summary:\n%s", final)
	}
	if progressRow.MatchString(final) || strings.Contains(final, "lines not shown") {
		t.Errorf("the display is left on the last screen:\n%s", final)
	}
	// Every entry is in the log.
	logs, _ := filepath.Glob(filepath.Join(state, "async", "*", "*.log"))
	n := 0
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		n += strings.Count(string(b), "SYNCHRONIZED")
	}
	if n < 20000 {
		t.Errorf("the log has %d per-entry records, want at least 20,000 (logs %v)", n, logs)
	}
	t.Logf("%d captures over %v", len(captures), took)
}

// TestOutputWithoutTerminalIsTheReferenceFormat: through a pipe, stdout is
// exactly one "PATH  STATUS" line per entry and stderr the summary, with no
// control characters, whatever -v or --progress say; with stderr on a
// terminal and stdout a pipe (async ... | tee list), stdout is the same.
func TestOutputWithoutTerminalIsTheReferenceFormat(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"a": "1\n", "d/b": "22\n", "old": "q\n"})
	summary := regexp.MustCompile(`^b: push done in [0-9.]+m?s: 3 files \(7 B\) transferred, 0 deleted, 0 moved, 0 unchanged, 0 conflicts, 0 errors\n$`)
	const want = "/d  SYNCHRONIZED\n/a  SYNCHRONIZED\n/old  SYNCHRONIZED\n/d/b  SYNCHRONIZED\n"
	for _, extra := range [][]string{nil, {"-v"}, {"--progress=plain"}, {"--progress=auto"}} {
		t.Run(strings.Join(append([]string{"pipe"}, extra...), " "), func(t *testing.T) {
			os.RemoveAll(dst)
			os.RemoveAll(filepath.Join(src, ".private-asp"))
			os.Mkdir(dst, 0o755)
			args := append([]string{"-N", "b", "-d", src, "-r", dst, "--transfer-threads", "1"}, extra...)
			r := runAsync(t, args...)
			mustCode(t, r, 0)
			if r.stdout != want {
				t.Errorf("stdout\n%q\nwant\n%q", r.stdout, want)
			}
			if !summary.MatchString(r.stderr) {
				t.Errorf("stderr %q is not the summary line alone", r.stderr)
			}
		})
	}
	// A second run: a deletion and a change.
	os.Remove(filepath.Join(src, "old"))
	writeTree(t, src, tree{"a": "11\n"})
	r := runAsync(t, "-N", "b", "-d", src, "-r", dst, "--transfer-threads", "1")
	mustCode(t, r, 0)
	if want := "/a  SYNCHRONIZED\n/old  SYNCHRONIZED(del)\n"; r.stdout != want {
		t.Errorf("second run: stdout\n%q\nwant\n%q", r.stdout, want)
	}

	t.Run("stderr on a terminal", func(t *testing.T) {
		os.RemoveAll(dst)
		os.RemoveAll(filepath.Join(src, ".private-asp"))
		os.Mkdir(dst, 0o755)
		master, tty := openPTY(t, 80, 24)
		cmd := exec.Command(asyncBin, "-N", "b", "-d", src, "-r", dst, "--transfer-threads", "1")
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
		var so bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, tty
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		screen := vt.New(80, 24)
		buf := make([]byte, 64<<10)
		master.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := master.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if want := "/d  SYNCHRONIZED\n/a  SYNCHRONIZED\n/d/b  SYNCHRONIZED\n"; so.String() != want {
			t.Errorf("stdout\n%q\nwant\n%q", so.String(), want)
		}
		if !strings.Contains(screen.String(), "b: push done in") || strings.Contains(screen.String(), "SYNCHRONIZED") {
			t.Errorf("the terminal (stderr) shows:\n%s", screen.String())
		}
	})
}

// TestTerminalContinuousStatusLine: between the rounds of async -C the
// status line stays at the bottom of the terminal, with each round's lines
// above it.
func TestTerminalContinuousStatusLine(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"a": "1"})
	p := startInPTY(t, 100, 12, t.TempDir(), "-N", "c", "-d", src, "-r", dst, "-C", "--cooloff", "0")
	status := regexp.MustCompile(`^c: following changes: last sync [0-9]{2}:[0-9]{2}:[0-9]{2}, 0 pending`)
	eventually(t, "the status line after the first round", func() bool {
		return status.MatchString(lastLine(p.screen.String()))
	})
	if !strings.Contains(p.screen.String(), "/a  SYNCHRONIZED") {
		t.Errorf("the first round's line is not above the status line:\n%s", p.screen.String())
	}
	writeTree(t, src, tree{"new": "22"})
	eventually(t, "the second round's line above the status line", func() bool {
		s := p.screen.String()
		return strings.Contains(s, "/new  SYNCHRONIZED") && status.MatchString(lastLine(s)) &&
			strings.Contains(lastLine(s), "last round")
	})
	if n := strings.Count(p.screen.String(), "following changes"); n != 1 {
		t.Errorf("%d status lines on the screen, want 1:\n%s", n, p.screen.String())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.exited; err != nil {
		t.Fatalf("async -C: %v", err)
	}
	p.drained()
	if s := p.screen.String(); strings.Contains(s, "following changes") {
		t.Errorf("the status line stays after the end:\n%s", s)
	}
}

// syncBuffer is a buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// event is any object of the event stream.
type event map[string]any

func (e event) num(k string) int64 {
	f, _ := e[k].(float64)
	return int64(f)
}

// parseEvents parses every line of an event stream; the test fails on a
// line that is not one JSON object with a known type.
func parseEvents(t *testing.T, out string) []event {
	t.Helper()
	var evs []event
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		switch e["type"] {
		case "start", "entry", "progress", "summary", "error":
		default:
			t.Fatalf("line %d: unknown type %v", i+1, e["type"])
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["time"])); err != nil {
			t.Errorf("line %d: time %v: %v", i+1, e["time"], err)
		}
		evs = append(evs, e)
	}
	return evs
}

// checkRound checks that a round's entries add up to its summary and
// returns the summary.
func checkRound(t *testing.T, evs []event) event {
	t.Helper()
	if len(evs) == 0 || evs[0]["type"] != "start" || evs[len(evs)-1]["type"] != "summary" {
		t.Fatalf("a round is not start ... summary: %v", evs)
	}
	sum := evs[len(evs)-1]
	count := map[string]int64{}
	var bytes int64
	var lastProgress event
	for _, e := range evs {
		switch e["type"] {
		case "entry":
			count[e["op"].(string)+"/"+e["outcome"].(string)]++
			bytes += e.num("bytes")
			if e["path"] == nil && e["path_b64"] == nil {
				t.Errorf("entry without a path: %v", e)
			}
		case "progress":
			lastProgress = e
		}
	}
	for _, c := range []struct {
		key   string
		entry string
	}{{"files", "copy/done"}, {"dirs", "mkdir/done"}, {"deleted", "delete/deleted"}, {"conflicts", "conflict/conflict"}, {"equal", "none/exists"}} {
		if sum.num(c.key) != count[c.entry] {
			t.Errorf("summary %s = %d, but %d %s entries (%v)", c.key, sum.num(c.key), count[c.entry], c.entry, count)
		}
	}
	errs := int64(0)
	for k, n := range count {
		if strings.HasSuffix(k, "/error") {
			errs += n
		}
	}
	if sum.num("errors") != errs {
		t.Errorf("summary errors = %d, but %d error entries (%v)", sum.num("errors"), errs, count)
	}
	if sum.num("bytes") != bytes {
		t.Errorf("summary bytes = %d, entries add up to %d", sum.num("bytes"), bytes)
	}
	if lastProgress == nil {
		t.Fatal("no progress object in the round")
	}
	for _, k := range []string{"files", "bytes", "deleted", "conflicts", "errors"} {
		if lastProgress.num(k) != sum.num(k) {
			t.Errorf("last progress %s = %d, summary %d", k, lastProgress.num(k), sum.num(k))
		}
	}
	if lastProgress.num("files_total") != sum.num("files") || lastProgress.num("bytes_total") != sum.num("bytes") {
		t.Errorf("totals %d files, %d bytes; done %d, %d", lastProgress.num("files_total"), lastProgress.num("bytes_total"), sum.num("files"), sum.num("bytes"))
	}
	return sum
}

// TestEventsJSON: --events=json writes only JSON objects on stdout, one a
// line; a progress object every second; and what the entries say adds up
// to the summary.
func TestEventsJSON(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	content := strings.Repeat("e", 10000)
	for i := range 150 {
		writeTree(t, src, tree{fmt.Sprintf("d%d/f%03d", i%3, i): content})
	}
	// One file that takes over two seconds at the rate below, so that a
	// progress object finds it in flight however the small ones fall.
	big := strings.Repeat("b", 2500000)
	writeTree(t, src, tree{"d0/big": big})
	start := time.Now()
	r := runAsync(t, "-N", "j", "-d", src, "-r", dst, "--events=json", "-l", "8m")
	mustCode(t, r, 0)
	took := time.Since(start)
	evs := parseEvents(t, r.stdout)
	sum := checkRound(t, evs)
	if sum.num("files") != 151 || sum.num("bytes") != 1500000+int64(len(big)) || sum.num("dirs") != 3 || sum["direction"] != "push" {
		t.Errorf("summary %v", sum)
	}
	progress, flying := 0, 0
	for _, e := range evs {
		if e["type"] != "progress" {
			continue
		}
		progress++
		for _, f := range e["in_flight"].([]any) {
			f := event(f.(map[string]any))
			if f.num("size") != 10000 && f.num("size") != int64(len(big)) || f.num("bytes") > f.num("size") || !strings.HasPrefix(f["path"].(string), "/d") {
				t.Errorf("in flight: %v", f)
			}
			flying++
		}
	}
	if flying == 0 {
		t.Errorf("no progress object shows a file in flight, in a run held to 1 MB/s for over 3 s")
	}
	if want := int(took / time.Second); progress < want-1 || progress < 2 {
		t.Errorf("%d progress objects in a run of %v", progress, took)
	}
	if !strings.Contains(r.stderr, "j: push done in") {
		t.Errorf("stderr keeps the summary line: %q", r.stderr)
	}
	// A second run: deletions and changes.
	for i := range 5 {
		os.Remove(filepath.Join(src, fmt.Sprintf("d%d/f%03d", i%3, i)))
	}
	writeTree(t, src, tree{"d0/f099": "changed", "d1/new": "n"})
	r = runAsync(t, "-N", "j", "-d", src, "-r", dst, "--events=json")
	mustCode(t, r, 0)
	sum = checkRound(t, parseEvents(t, r.stdout))
	if sum.num("files") != 2 || sum.num("deleted") != 5 {
		t.Errorf("second run: summary %v", sum)
	}
	// --events with --dry-run is refused.
	r = runAsync(t, "-N", "j", "-d", src, "-r", dst, "--events=json", "--dry-run")
	mustCode(t, r, 2)
	r = runAsync(t, "-N", "j", "-d", src, "-r", dst, "--events=yaml")
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, "--events") {
		t.Errorf("bad --events value: %q", r.stderr)
	}
}

// TestEventsJSONContinuous: an async -C session writes a start and a
// summary for each round.
func TestEventsJSONContinuous(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"a": "1"})
	var out syncBuffer
	cmd := exec.Command(asyncBin, "-N", "c", "-d", src, "-r", dst, "-C", "--cooloff", "0", "--events=json")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	summaries := func() int { return strings.Count(out.String(), `"type":"summary"`) }
	eventually(t, "the first round's summary", func() bool { return summaries() == 1 })
	writeTree(t, src, tree{"b": "2"})
	eventually(t, "the second round's summary", func() bool { return summaries() == 2 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("async -C: %v", err)
	}
	evs := parseEvents(t, out.String())
	var rounds [][]event
	for _, e := range evs {
		if e["type"] == "start" {
			rounds = append(rounds, nil)
		}
		rounds[len(rounds)-1] = append(rounds[len(rounds)-1], e)
	}
	if len(rounds) != 2 {
		t.Fatalf("%d rounds, want 2:\n%s", len(rounds), out.String())
	}
	for i, r := range rounds {
		sum := checkRound(t, r)
		if sum.num("round") != int64(i+1) || sum.num("files") != 1 {
			t.Errorf("round %d: summary %v", i+1, sum)
		}
	}
}

// TestTerminalShowsWhatMattersInAFlood: lines that come faster than one
// can read are held back and counted, except conflicts, errors and
// deletions; with -v every line shows.
func TestTerminalShowsWhatMattersInAFlood(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		t.Run(fmt.Sprintf("verbose=%v", verbose), func(t *testing.T) {
			var out syncBuffer
			term := &terminal{out: &out, size: func() (int, int) { return 200, 40 }, panels: map[string]*panel{},
				above: true, filter: !verbose}
			p := &printer{stdout: &out, stderr: &out, term: term}
			st := &core.Stats{}
			stop := p.term.run("f", st)
			for i := range 500 {
				f := core.Finished{Path: fmt.Sprintf("p%03d", i), Outcome: core.OutcomeDone}
				switch i {
				case 100:
					f.Outcome = core.OutcomeConflict
				case 200:
					f.Outcome, f.Reason = core.OutcomeError, "boom"
				case 300:
					f.Outcome = core.OutcomeDeleted
				}
				p.entry("f", f)
			}
			term.mu.Lock()
			hidden := term.panels["f"].hidden
			term.mu.Unlock()
			stop()
			p.summary(&instance{}, "f", core.Push, time.Second, st)
			text := out.String()
			for _, want := range []string{"/p100  CONFLICT", "/p200  ERROR: boom", "/p300  SYNCHRONIZED(del)", "f: push done in"} {
				if !strings.Contains(text, want) {
					t.Errorf("%q not shown", want)
				}
			}
			shown := strings.Count(text, "  SYNCHRONIZED\n")
			switch {
			case verbose && (shown != 497 || hidden != 0):
				t.Errorf("-v: %d routine lines shown, %d hidden; want all 497", shown, hidden)
			case !verbose && (shown > 2*progress.ReadableRate || int64(shown)+hidden != 497):
				t.Errorf("%d routine lines shown and %d counted as not shown, of 497", shown, hidden)
			}
		})
	}
}

// TestEventsJSONConflictsAndErrors: conflicts and errors are events whose
// counts add up to the summary's, and the exit code stays 3.
func TestEventsJSONConflictsAndErrors(t *testing.T) {
	src, dst := dirs(t)
	base := filepath.Dir(src)
	db := filepath.Join(base, "db")
	writeTree(t, src, tree{"both": "0", "locked/f": "1", "ok": "2"})
	asNobody(t, base)
	run := func() result {
		return runAsyncAs(t, nobody, "-N", "x", "-d", src, "-r", dst, "-b", db, "-K", "bidi", "--events=json")
	}
	mustCode(t, run(), 0)
	writeTree(t, src, tree{"both": "local"})
	writeTree(t, dst, tree{"both": "remote", "new": "3"})
	os.Chown(filepath.Join(src, "both"), 65534, 65534)
	os.Chown(filepath.Join(dst, "both"), 65534, 65534)
	os.Chown(filepath.Join(dst, "new"), 65534, 65534)
	lock(t, filepath.Join(src, "locked"))
	r := run()
	mustCode(t, r, 3)
	evs := parseEvents(t, r.stdout)
	// Exit 3 ends the stream with an error event, as stderr with a line.
	if last := evs[len(evs)-1]; last["type"] != "error" || last["message"] != "some entries are in CONFLICT or ERROR" {
		t.Errorf("last event %v", last)
	} else {
		evs = evs[:len(evs)-1]
	}
	sum := checkRound(t, evs)
	if sum.num("conflicts") != 1 || sum.num("errors") != 1 || sum.num("files") != 1 || sum["direction"] != "bidi" {
		t.Errorf("summary %v\n%s", sum, r.stdout)
	}
	var errs []event
	for _, e := range parseEvents(t, r.stdout) {
		if e["outcome"] == "error" {
			errs = append(errs, e)
		}
	}
	if len(errs) != 1 || errs[0]["path"] != "/locked" || !strings.Contains(fmt.Sprint(errs[0]["error"]), "permission denied") ||
		!strings.HasPrefix(fmt.Sprint(errs[0]["status"]), "ERROR: ") {
		t.Errorf("error events: %v", errs)
	}
}
