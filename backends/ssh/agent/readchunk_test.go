package agent

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/async-sync/async/core"
)

// chunkFile is a file for readChunk: its content as of now, the size it
// had when opened, and the preads its ReadAt made.
type chunkFile struct {
	content []byte
	opened  int64
	reads   int
}

func (f *chunkFile) Read([]byte) (int, error) { return 0, errors.New("sequential read") }

// ReadAt reads as the local backend's does: preads until p is full or one
// finds nothing (the end).
func (f *chunkFile) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		f.reads++
		at := off + int64(done)
		if at >= int64(len(f.content)) {
			return done, io.EOF
		}
		done += copy(p[done:], f.content[at:])
	}
	return done, nil
}

// Unchanged reports a change as the local backend does: the size is no
// longer the one at the open.
func (f *chunkFile) Unchanged() error {
	if int64(len(f.content)) != f.opened {
		return core.ErrChangedWhileReading
	}
	return nil
}

// TestReadChunk: a chunk that reaches the size the file had at its open
// ends it after one read, proven by the change check; a file that grew
// or shrank since fails that check; without a known size the end is the
// read that comes short.
func TestReadChunk(t *testing.T) {
	const chunk = 64
	data := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	for _, tc := range []struct {
		name      string
		content   int   // bytes in the file now
		opened    int64 // its size at the open
		size      int64 // the size readChunk is told (-1: unknown)
		off       int64
		wantN     int
		wantEOF   bool
		wantReads int
		wantErr   error
	}{
		{"small file", 10, 10, 10, 0, 10, true, 1, nil},
		{"empty file", 0, 0, 0, 0, 0, true, 0, nil},
		{"exactly a chunk", chunk, chunk, chunk, 0, chunk, true, 1, nil},
		{"the last chunk", chunk + 5, chunk + 5, chunk + 5, chunk, 5, true, 1, nil},
		{"more than a chunk", chunk + 1, chunk + 1, chunk + 1, 0, chunk, false, 1, nil},
		{"size unknown", 10, 10, -1, 0, 10, true, 2, nil},
		{"size unknown, a full chunk", chunk, chunk, -1, 0, chunk, false, 1, nil},
		{"grew since the open", 20, 10, 10, 0, 0, false, 1, core.ErrChangedWhileReading},
		{"shrank since the open", 5, 10, 10, 0, 0, false, 2, core.ErrChangedWhileReading},
		{"offset past the size", 10, 10, 10, 20, 0, true, 1, nil},
		{"offset at the size", 10, 10, 10, 10, 0, true, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &chunkFile{content: data(tc.content), opened: tc.opened}
			got, eof, err := readChunk(f, tc.off, make([]byte, chunk), tc.size)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err == nil && (len(got) != tc.wantN || eof != tc.wantEOF) {
				t.Errorf("%d bytes, eof %v; want %d, %v", len(got), eof, tc.wantN, tc.wantEOF)
			}
			if f.reads != tc.wantReads {
				t.Errorf("%d preads, want %d", f.reads, tc.wantReads)
			}
		})
	}
}
