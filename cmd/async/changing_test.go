package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rewriteDuringCopies rewrites the file p in place (same size, content
// filled with fills[i]) while the i-th copy of it is being written at
// dst: once a new temporary file there holds some bytes, which is after
// the source was opened and before it was read to the end (the rate is
// limited). It returns a function that stops it and tells how many
// rewrites it made.
func rewriteDuringCopies(t *testing.T, p, dst string, fills []byte) func() int {
	t.Helper()
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		seen := map[string]bool{}
		n := 0
		deadline := time.Now().Add(60 * time.Second)
		for n < len(fills) && time.Now().Before(deadline) {
			select {
			case <-stop:
				done <- n
				return
			case <-time.After(2 * time.Millisecond):
			}
			ents, _ := os.ReadDir(dst)
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), ".async-tmp-") || seen[e.Name()] {
					continue
				}
				if fi, err := e.Info(); err != nil || fi.Size() == 0 {
					continue
				}
				seen[e.Name()] = true
				fi, _ := os.Stat(p)
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					t.Error(err)
					continue
				}
				f.WriteAt(bytes.Repeat([]byte{fills[n]}, int(fi.Size())), 0)
				f.Close()
				n++
				break
			}
		}
		<-stop
		done <- n
	}()
	return func() int { close(stop); return <-done }
}

// TestSourceRewrittenWhileCopied: a source rewritten in place during its
// copy is never committed torn: the copy is dropped and made again from
// the new content; when that is rewritten too, the entry is ERROR:
// changed while reading (exit 3) and nothing is written.
func TestSourceRewrittenWhileCopied(t *testing.T) {
	const size = 2 << 20
	for _, tc := range []struct {
		name  string
		fills []byte
		code  int
	}{
		{"once", []byte{'b'}, 0},
		{"twice", []byte{'b', 'c'}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := dirs(t)
			big := filepath.Join(src, "big")
			if err := os.WriteFile(big, bytes.Repeat([]byte{'a'}, size), 0o644); err != nil {
				t.Fatal(err)
			}
			stop := rewriteDuringCopies(t, big, dst, tc.fills)
			r := runAsync(t, "-N", "c", "-d", src, "-r", dst, "-b", filepath.Join(filepath.Dir(src), "db"), "-l", "8m")
			if n := stop(); n != len(tc.fills) {
				t.Fatalf("%d rewrites made, want %d\n%s%s", n, len(tc.fills), r.stdout, r.stderr)
			}
			mustCode(t, r, tc.code)
			got, err := os.ReadFile(filepath.Join(dst, "big"))
			switch tc.code {
			case 0:
				if !bytes.Equal(got, bytes.Repeat([]byte{'b'}, size)) {
					t.Errorf("destination holds %d bytes, not the rewritten content (%v)", len(got), err)
				}
			default:
				if err == nil {
					t.Errorf("a copy was committed (%d bytes)", len(got))
				}
				if !strings.Contains(r.stdout, "/big  ERROR: changed while reading") {
					t.Errorf("no ERROR line:\n%s", r.stdout)
				}
				// The next run copies it.
				mustCode(t, runAsync(t, "-N", "c", "-d", src, "-r", dst, "-b", filepath.Join(filepath.Dir(src), "db")), 0)
				if got, _ := os.ReadFile(filepath.Join(dst, "big")); !bytes.Equal(got, bytes.Repeat([]byte{'c'}, size)) {
					t.Errorf("the next run did not copy the last content")
				}
			}
			ents, _ := os.ReadDir(dst)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".async-tmp-") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}
