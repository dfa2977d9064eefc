// Package progress draws async's progress display on a terminal: a block
// of status lines pinned to the bottom of the screen, redrawn in place
// several times a second, with other lines (per-entry lines, warnings)
// scrolling above it.
//
// It is written for async rather than taken from a bar library such as
// mpb: the block is a pure function of a snapshot (Render), so it is
// table-tested; the set of files in flight churns thousands of times a
// second, which a snapshot draws for free where bar objects would be
// created and retired; and the lines printed above go out in the same
// write as the frame, under one lock with async's own output.
//
// It writes plain VT100/ECMA-48 sequences (cursor up, erase to the end of
// the screen) and wraps each frame in the "synchronized update" private
// mode (2026), which terminals that know it use to show a frame at once
// and the others ignore.
package progress

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// flushAt is how much queued text makes Println draw a frame at once
// instead of waiting for the next tick.
const flushAt = 64 << 10

// Display keeps a block of lines pinned at the bottom of a terminal.
type Display struct {
	w      io.Writer
	size   func() (cols, rows int)
	render func(cols, rows int) []string

	mu      sync.Mutex
	pending []byte   // lines to print above the block at the next frame
	shown   []string // the block on screen now
	stopped bool
	quit    chan struct{}
	done    chan struct{}
}

// New returns a display that writes to w (the terminal), asks size for
// the terminal's size (0 for unknown: 80×24 is assumed) and render for the
// block to show at that size. Start it to draw.
func New(w io.Writer, size func() (cols, rows int), render func(cols, rows int) []string) *Display {
	return &Display{w: w, size: size, render: render}
}

// Start draws the block now and then every period until Stop.
func (d *Display) Start(every time.Duration) {
	d.mu.Lock()
	d.quit, d.done = make(chan struct{}), make(chan struct{})
	d.frame(true)
	d.mu.Unlock()
	go func() {
		defer close(d.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-d.quit:
				return
			case <-t.C:
				d.Refresh()
			}
		}
	}()
}

// Refresh draws a frame now.
func (d *Display) Refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		d.frame(true)
	}
}

// Println prints a line above the block, at the next frame (at once when
// much is waiting). After Stop it is written at once.
func (d *Display) Println(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = append(d.pending, line...)
	d.pending = append(d.pending, '\n')
	if d.stopped {
		d.w.Write(d.pending)
		d.pending = d.pending[:0]
		return
	}
	if len(d.pending) >= flushAt {
		d.frame(true)
	}
}

// Stop erases the block, writes what waits to be printed and stops
// drawing; the cursor is left at the start of an empty line.
func (d *Display) Stop() {
	d.mu.Lock()
	if d.stopped || d.quit == nil {
		d.stopped = true
		d.mu.Unlock()
		return
	}
	d.frame(false)
	d.stopped = true
	close(d.quit)
	d.mu.Unlock()
	<-d.done
}

// frame erases the block on screen, prints the pending lines and draws the
// block again, in one write. Callers hold d.mu.
func (d *Display) frame(block bool) {
	cols, rows := d.size()
	if cols <= 0 {
		cols = 80
	}
	if rows <= 0 {
		rows = 24
	}
	var lines []string
	if block {
		lines = d.render(cols, rows)
		if len(lines) > rows-1 {
			lines = lines[len(lines)-max(rows-1, 1):]
		}
		for i, l := range lines {
			lines[i] = Fit(l, cols-1) // never the last column: no wrap
		}
	}
	if len(d.pending) == 0 && equal(lines, d.shown) {
		return
	}
	var b bytes.Buffer
	b.WriteString("\x1b[?2026h")
	// The block's lines may now wrap, if the terminal narrowed and
	// reflowed them: count the rows they take at this width.
	up := -1
	for _, l := range d.shown {
		up += max(1, (Width(l)+cols-1)/cols)
	}
	b.WriteByte('\r')
	if up > 0 {
		b.WriteString("\x1b[" + strconv.Itoa(up) + "A")
	}
	b.WriteString("\x1b[J")
	b.Write(d.pending)
	d.pending = d.pending[:0]
	b.WriteString(strings.Join(lines, "\n"))
	b.WriteString("\x1b[?2026l")
	d.w.Write(b.Bytes())
	d.shown = lines
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Fit cuts s to at most n columns, marking the cut with "…".
func Fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if Width(s) <= n {
		return s
	}
	w := 0
	for i, r := range s {
		if w+runeWidth(r) > n-1 {
			return s[:i] + "…"
		}
		w += runeWidth(r)
	}
	return s
}

// Width is how many terminal columns s takes: East Asian wide characters
// and most emoji take two.
func Width(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf && r != 0x303f,
		r >= 0xac00 && r <= 0xd7a3, r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f,
		r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6, r >= 0x1f300 && r <= 0x1f64f,
		r >= 0x1f900 && r <= 0x1f9ff, r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}

// fitMiddle cuts a path to at most n columns in the middle, keeping its
// start and its file name.
func fitMiddle(s string, n int) string {
	if Width(s) <= n {
		return s
	}
	if n < 5 {
		return Fit(s, n)
	}
	r := []rune(s)
	tail, w := len(r), 0
	for tail > 0 && w+runeWidth(r[tail-1]) <= (n-1)*2/3 {
		tail--
		w += runeWidth(r[tail])
	}
	return Fit(string(r[:tail]), n-w) + string(r[tail:])
}
