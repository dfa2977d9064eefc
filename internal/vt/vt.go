// Package vt is a small terminal emulator for tests: it plays a byte
// stream written for a VT100-style terminal onto a screen of cells, so
// that a test can look at what a person would see. It knows printable
// text, CR, LF, BS, TAB, auto-wrap, scrolling and the CSI sequences that
// move the cursor and erase (A B C D G H f J K); other sequences are
// read and ignored.
package vt

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Screen is a terminal screen. It is safe for concurrent use.
type Screen struct {
	mu         sync.Mutex
	cols, rows int
	cells      [][]rune
	x, y       int
	wrap       bool   // the last write filled the last column
	esc        []byte // an escape sequence being read
	partial    []byte // an incomplete UTF-8 sequence
}

// New returns an empty screen of cols columns and rows rows.
func New(cols, rows int) *Screen {
	s := &Screen{cols: cols, rows: rows}
	s.cells = make([][]rune, rows)
	for i := range s.cells {
		s.cells[i] = blank(cols)
	}
	return s
}

func blank(n int) []rune {
	r := make([]rune, n)
	for i := range r {
		r[i] = ' '
	}
	return r
}

// Write plays p onto the screen.
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := append(s.partial, p...)
	s.partial = nil
	for len(b) > 0 {
		if s.esc != nil {
			s.escape(b[0])
			b = b[1:]
			continue
		}
		c := b[0]
		if c < 0x80 {
			s.control(c)
			b = b[1:]
			continue
		}
		if !utf8.FullRune(b) {
			s.partial = append([]byte(nil), b...)
			break
		}
		r, n := utf8.DecodeRune(b)
		s.put(r)
		b = b[n:]
	}
	return len(p), nil
}

func (s *Screen) control(c byte) {
	switch c {
	case 0x1b:
		s.esc = []byte{}
	case '\r':
		s.x, s.wrap = 0, false
	case '\n':
		s.wrap = false
		s.lineFeed()
	case '\b':
		s.wrap = false
		if s.x > 0 {
			s.x--
		}
	case '\t':
		s.x = min(s.cols-1, (s.x/8+1)*8)
	default:
		if c >= 0x20 && c < 0x7f {
			s.put(rune(c))
		}
	}
}

func (s *Screen) lineFeed() {
	if s.y < s.rows-1 {
		s.y++
		return
	}
	copy(s.cells, s.cells[1:])
	s.cells[s.rows-1] = blank(s.cols)
}

func (s *Screen) put(r rune) {
	if s.wrap {
		s.x, s.wrap = 0, false
		s.lineFeed()
	}
	s.cells[s.y][s.x] = r
	if s.x == s.cols-1 {
		s.wrap = true
	} else {
		s.x++
	}
}

// escape reads one more byte of an escape sequence.
func (s *Screen) escape(c byte) {
	if len(s.esc) == 0 {
		if c != '[' {
			s.esc = nil // a two-byte sequence (ESC 7, ESC c, ...): ignored
			return
		}
		s.esc = append(s.esc, c)
		return
	}
	if c < 0x40 || c > 0x7e {
		s.esc = append(s.esc, c)
		return
	}
	params := string(s.esc[1:])
	s.esc = nil
	if strings.HasPrefix(params, "?") {
		return // private modes
	}
	var ns []int
	for _, f := range strings.Split(params, ";") {
		n, _ := strconv.Atoi(f)
		ns = append(ns, n)
	}
	arg := func(i, def int) int {
		if i < len(ns) && ns[i] > 0 {
			return ns[i]
		}
		return def
	}
	s.wrap = false
	switch c {
	case 'A':
		s.y = max(0, s.y-arg(0, 1))
	case 'B':
		s.y = min(s.rows-1, s.y+arg(0, 1))
	case 'C':
		s.x = min(s.cols-1, s.x+arg(0, 1))
	case 'D':
		s.x = max(0, s.x-arg(0, 1))
	case 'G':
		s.x = min(s.cols-1, arg(0, 1)-1)
	case 'H', 'f':
		s.y = min(s.rows-1, arg(0, 1)-1)
		s.x = min(s.cols-1, arg(1, 1)-1)
	case 'J':
		switch arg(0, 0) {
		case 0:
			s.eraseLine(s.y, s.x, s.cols)
			for y := s.y + 1; y < s.rows; y++ {
				s.cells[y] = blank(s.cols)
			}
		case 1:
			for y := 0; y < s.y; y++ {
				s.cells[y] = blank(s.cols)
			}
			s.eraseLine(s.y, 0, s.x+1)
		default:
			for y := range s.cells {
				s.cells[y] = blank(s.cols)
			}
		}
	case 'K':
		switch arg(0, 0) {
		case 0:
			s.eraseLine(s.y, s.x, s.cols)
		case 1:
			s.eraseLine(s.y, 0, s.x+1)
		default:
			s.eraseLine(s.y, 0, s.cols)
		}
	}
}

func (s *Screen) eraseLine(y, from, to int) {
	for x := from; x < min(to, s.cols); x++ {
		s.cells[y][x] = ' '
	}
}

// Lines returns the screen's rows, without trailing blanks.
func (s *Screen) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, s.rows)
	for i, r := range s.cells {
		out[i] = strings.TrimRight(string(r), " ")
	}
	return out
}

// String returns the screen as text, one row per line, without the blank
// rows at the bottom.
func (s *Screen) String() string {
	l := s.Lines()
	for len(l) > 0 && l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return strings.Join(l, "\n")
}
