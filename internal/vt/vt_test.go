package vt

import (
	"strings"
	"testing"
)

func TestScreen(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"text and newlines", "ab\r\ncd", "ab\ncd"},
		{"carriage return overwrites", "hello\rJ", "Jello"},
		{"erase to end of line", "hello\r\x1b[Kyo", "yo"},
		{"cursor up and erase below", "a\nb\nc\r\x1b[1A\x1b[Jz", "a\nz"},
		{"auto-wrap at the last column", "0123456789AB", "0123456789\nAB"},
		{"no wrap until the next character", "0123456789\r\x1b[Kx", "x"},
		{"scrolls at the bottom", "1\r\n2\r\n3\r\n4\r\n5", "2\n3\n4\n5"},
		{"line feed keeps the column", "ab\ncd", "ab\n  cd"},
		{"private modes ignored", "\x1b[?2026ha\x1b[?2026l", "a"},
		{"colours ignored", "\x1b[1;31mred\x1b[0m", "red"},
		{"cursor position", "\x1b[2;3Hx", "\n  x"},
		{"utf-8", "é…", "é…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(10, 4)
			// Byte by byte: sequences split across writes still work.
			for i := range len(tc.in) {
				s.Write([]byte{tc.in[i]})
			}
			if got := s.String(); got != tc.want {
				t.Errorf("screen\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestLinesKeepsBlankRows(t *testing.T) {
	s := New(5, 3)
	s.Write([]byte("\n\nx"))
	if got := strings.Join(s.Lines(), "|"); got != "||x" {
		t.Errorf("lines %q", got)
	}
}
