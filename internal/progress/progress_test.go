package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/async-sync/async/internal/vt"
)

// tty is a terminal as a pty shows it: LF becomes CR LF (onlcr).
type tty struct{ s *vt.Screen }

func (t tty) Write(p []byte) (int, error) {
	t.s.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n")))
	return len(p), nil
}

// block is a render function whose lines a test sets.
type block struct {
	mu    sync.Mutex
	lines []string
}

func (b *block) set(l ...string) { b.mu.Lock(); b.lines = l; b.mu.Unlock() }
func (b *block) render(int, int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

func TestDisplayPinsTheBlockBelowPrintedLines(t *testing.T) {
	screen := vt.New(40, 8)
	cols := 40
	b := &block{}
	b.set("progress 1", "counters 1")
	d := New(tty{screen}, func() (int, int) { return cols, 8 }, b.render)
	d.Start(time.Hour) // frames only when the test asks
	for i := range 10 {
		d.Println(fmt.Sprintf("line %d", i))
	}
	b.set("progress 2", "counters 2", "in flight")
	d.Refresh()
	want := "line 5\nline 6\nline 7\nline 8\nline 9\nprogress 2\ncounters 2\nin flight"
	if got := screen.String(); got != want {
		t.Fatalf("screen:\n%s\nwant:\n%s", got, want)
	}
	// The block shrinks: nothing of the old one stays.
	b.set("done soon")
	d.Println("line 10")
	d.Refresh()
	want = "line 5\nline 6\nline 7\nline 8\nline 9\nline 10\ndone soon"
	if got := screen.String(); got != want {
		t.Fatalf("screen:\n%s\nwant:\n%s", got, want)
	}
	// A line wider than the terminal is cut, so that it never wraps.
	b.set(strings.Repeat("x", 100))
	d.Refresh()
	last := screen.Lines()[6]
	if utf8.RuneCountInString(last) != 39 || !strings.HasSuffix(last, "…") {
		t.Errorf("long block line shown as %q", last)
	}
	d.Stop()
	want = "line 5\nline 6\nline 7\nline 8\nline 9\nline 10"
	if got := screen.String(); got != want {
		t.Fatalf("after Stop:\n%s\nwant:\n%s", got, want)
	}
	d.Println("after")
	if got := screen.String(); !strings.HasSuffix(got, "line 10\nafter") {
		t.Errorf("a line after Stop: %q", got)
	}
}

func TestDisplayNarrowedTerminalReflows(t *testing.T) {
	// A terminal that narrows rewraps the block's lines: a frame erases
	// the rows they now take.
	var out bytes.Buffer
	cols := 40
	b := &block{}
	b.set(strings.Repeat("a", 30), strings.Repeat("b", 30))
	d := New(&out, func() (int, int) { return cols, 10 }, b.render)
	d.Start(time.Hour)
	out.Reset()
	cols = 20
	d.Refresh()
	if !strings.Contains(out.String(), "\r\x1b[3A\x1b[J") {
		t.Errorf("after narrowing, the frame does not go up the 3 rows the old block takes: %q", out.String())
	}
	d.Stop()
}

func TestDisplaySkipsUnchangedFrames(t *testing.T) {
	var out bytes.Buffer
	b := &block{}
	b.set("same")
	d := New(&out, func() (int, int) { return 80, 24 }, b.render)
	d.Start(time.Hour)
	n := out.Len()
	d.Refresh()
	d.Refresh()
	if out.Len() != n {
		t.Errorf("unchanged frames were written again: %q", out.String()[n:])
	}
	d.Stop()
}

func TestRender(t *testing.T) {
	s := Snapshot{Name: "job1", Files: 1234, FilesTotal: 20000, Bytes: 31 << 20, BytesTotal: 414 << 20,
		Rate: 7 << 20, Deleted: 3, Errors: 1, Hidden: 4567,
		InFlight: []Flight{{Path: "/big/file.iso", Size: 100 << 20, Done: 45 << 20}, {Path: "/small", Size: 10}}}
	tests := []struct {
		name       string
		cols, rows int
		want       []string // substrings, one per line
	}{
		{"wide", 120, 30, []string{
			"job1: 1,234/20,000 files · 31.0 MiB/414.0 MiB [", "]   7% · 7.0 MiB/s · ETA 55s",
			"deleted 3 · conflicts 0 · errors 1 · 4,567 lines not shown",
			"/big/file.iso [", "]  45% 45.0 MiB/100.0 MiB",
			"/small"}},
		{"narrow", 50, 30, []string{"job1: 1,234/20,000 7% 7.0 MiB/s ETA 55s, 1 err"}},
		{"short", 120, 6, []string{"job1: 1,234/20,000 7%"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Render([]Snapshot{s}, tc.cols, tc.rows)
			text := strings.Join(got, "\n")
			lines := 0
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in\n%s", w, text)
				}
			}
			switch tc.name {
			case "wide":
				lines = 4
			default:
				lines = 1
			}
			if len(got) != lines {
				t.Errorf("%d lines, want %d:\n%s", len(got), lines, text)
			}
			if tc.name == "wide" && utf8.RuneCountInString(got[0]) > tc.cols-1 {
				t.Errorf("main line wider than the terminal: %q", got[0])
			}
		})
	}
	idle := Render([]Snapshot{{Name: "c", Status: "following changes: last sync 10:00:00, 2 pending"}}, 80, 24)
	if len(idle) != 1 || idle[0] != "c: following changes: last sync 10:00:00, 2 pending" {
		t.Errorf("status: %q", idle)
	}
}

func TestGate(t *testing.T) {
	var g Gate
	t0 := time.Unix(1000, 0)
	shown := 0
	for i := range 100 { // 100 lines in half a second
		if g.Pass(t0.Add(time.Duration(i) * 5 * time.Millisecond)) {
			shown++
		}
	}
	if shown != ReadableRate {
		t.Errorf("a burst: %d lines shown, want %d", shown, ReadableRate)
	}
	// Two seconds later, at 5 lines a second, every line shows.
	for i := range 10 {
		if !g.Pass(t0.Add(2*time.Second + time.Duration(i)*200*time.Millisecond)) {
			t.Fatalf("line %d at a readable rate was held back", i)
		}
	}
}

func TestFitAndMeter(t *testing.T) {
	if got := fitMiddle("/a/very/long/path/to/some/file.txt", 20); utf8.RuneCountInString(got) != 20 || !strings.HasSuffix(got, "file.txt") {
		t.Errorf("fitMiddle: %q", got)
	}
	var m Meter
	t0 := time.Unix(0, 0)
	m.Update(0, t0)
	var r float64
	for i := 1; i <= 20; i++ { // 1 MiB/s for 10 s, then stalled
		r = m.Update(int64(i)<<19, t0.Add(time.Duration(i)*500*time.Millisecond))
	}
	if r < 0.9*(1<<20) || r > 1.1*(1<<20) {
		t.Errorf("steady rate %.0f, want ~1 MiB/s", r)
	}
	for i := 21; i <= 40; i++ {
		r = m.Update(20<<19, t0.Add(time.Duration(i)*500*time.Millisecond))
	}
	if r > 0.05*(1<<20) {
		t.Errorf("after 10 s stalled the rate is still %.0f", r)
	}
}

func TestWideCharacters(t *testing.T) {
	if w := Width("/文件/ab"); w != 8 {
		t.Errorf("Width = %d, want 8", w)
	}
	if got := Fit("/文件文件文件", 8); Width(got) > 8 || !strings.HasSuffix(got, "…") {
		t.Errorf("Fit: %q (%d columns)", got, Width(got))
	}
	if got := fitMiddle("/目录/目录/目录/文件.txt", 12); Width(got) > 12 || !strings.HasSuffix(got, ".txt") {
		t.Errorf("fitMiddle: %q (%d columns)", got, Width(got))
	}
}

func TestRenderSeveralSessionsShareTheRows(t *testing.T) {
	fl := []Flight{{Path: "/a"}, {Path: "/b"}, {Path: "/c"}, {Path: "/d"}}
	s := []Snapshot{{Name: "one", FilesTotal: 10, InFlight: fl}, {Name: "two", FilesTotal: 10, InFlight: fl}}
	got := Render(s, 100, 16) // 8 rows for the blocks: 4 each
	if len(got) != 8 || !strings.HasPrefix(got[0], "one: ") || !strings.HasPrefix(got[4], "two: ") {
		t.Errorf("blocks:\n%s", strings.Join(got, "\n"))
	}
	got = Render(s, 100, 10) // 5 rows: 2 each, no files in flight
	if len(got) != 4 || !strings.HasPrefix(got[2], "two: ") {
		t.Errorf("blocks:\n%s", strings.Join(got, "\n"))
	}
}
