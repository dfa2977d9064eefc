package logfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParseDir(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory:", err)
	}
	for _, tc := range []struct {
		in  string
		dir string
		mb  int
		err string // substring of the error; "" for success
	}{
		{in: "/var/log/async", dir: "/var/log/async", mb: 10},
		{in: "/var/log/async:200", dir: "/var/log/async", mb: 200},
		{in: "logs:1", dir: "logs", mb: 1},
		{in: "~/log:5", dir: filepath.Join(home, "log"), mb: 5},
		{in: "~/log", dir: filepath.Join(home, "log"), mb: 10},
		{in: "~", dir: home, mb: 10},
		{in: "~user/log", dir: "~user/log", mb: 10},
		{in: "/a:b/log:3", dir: "/a:b/log", mb: 3},
		{in: "/x:0", err: `invalid log directory "/x:0"`},
		{in: "/x:-1", err: `invalid log directory "/x:-1"`},
		{in: "/x:big", err: `invalid log directory "/x:big"`},
		{in: "/x:1.5", err: `invalid log directory "/x:1.5"`},
		{in: "/x:", err: `invalid log directory "/x:"`},
		{in: "/x:99999999999999999", err: `invalid log directory "/x:99999999999999999"`},
		{in: ":5", err: `invalid log directory ":5"`},
		{in: "", err: `invalid log directory ""`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			dir, mb, err := ParseDir(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDir(%q) = %q, %d, %v; want error %q", tc.in, dir, mb, err, tc.err)
				}
				return
			}
			if err != nil || dir != tc.dir || mb != tc.mb {
				t.Fatalf("ParseDir(%q) = %q, %d, %v; want %q, %d", tc.in, dir, mb, err, tc.dir, tc.mb)
			}
		})
	}
}

// files returns the names in dir, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// history concatenates the old files, oldest first, then the current one.
func history(t *testing.T, dir, name string, keep int) string {
	t.Helper()
	var b strings.Builder
	for i := keep; i >= 0; i-- {
		p := filepath.Join(dir, name)
		if i > 0 {
			p += fmt.Sprintf(".%d", i)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func TestRotation(t *testing.T) {
	const lineLen = 40 // "line NN " + 31 x + "\n"
	line := func(i int) string { return fmt.Sprintf("line %02d %s\n", i, strings.Repeat("x", 31)) }
	for _, tc := range []struct {
		name     string
		maxBytes int64
		keep     int
		lines    int
		want     []string // files left
		perFile  int      // whole lines a file holds
	}{
		{name: "keep 3", maxBytes: 100, keep: 3, lines: 20, want: []string{"a.log", "a.log.1", "a.log.2", "a.log.3"}, perFile: 2},
		{name: "exact fit", maxBytes: 120, keep: 2, lines: 20, want: []string{"a.log", "a.log.1", "a.log.2"}, perFile: 3},
		{name: "keep 0", maxBytes: 100, keep: 0, lines: 20, want: []string{"a.log"}, perFile: 2},
		{name: "no rotation yet", maxBytes: 1000, keep: 3, lines: 20, want: []string{"a.log"}, perFile: 20},
		{name: "unlimited", maxBytes: 0, keep: 3, lines: 20, want: []string{"a.log"}, perFile: 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sub", "logs")
			f, err := Open(dir, "a.log", tc.maxBytes, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.lines {
				if n, err := f.Write([]byte(line(i))); err != nil || n != lineLen {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got := files(t, dir); !slices.Equal(got, tc.want) {
				t.Fatalf("files %v, want %v", got, tc.want)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("directory mode: %v, %v", fi.Mode(), err)
			}
			for _, n := range tc.want {
				fi, err := os.Stat(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				if tc.maxBytes > 0 && fi.Size() > tc.maxBytes {
					t.Errorf("%s: %d bytes, over the limit", n, fi.Size())
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v", n, fi.Mode())
				}
			}
			// The files, oldest first, hold the last lines in order.
			current := tc.lines % tc.perFile
			if current == 0 {
				current = tc.perFile
			}
			var want strings.Builder
			for i := max(tc.lines-current-tc.perFile*(len(tc.want)-1), 0); i < tc.lines; i++ {
				want.WriteString(line(i))
			}
			if got := history(t, dir, "a.log", len(tc.want)-1); got != want.String() {
				t.Errorf("history:\n%s\nwant:\n%s", got, want.String())
			}
		})
	}
}

func TestWriteNeverSplit(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, "a.log", 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range []string{"short\n", strings.Repeat("long", 10) + "\n", "tail\n"} {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"a.log":   "tail\n",
		"a.log.1": strings.Repeat("long", 10) + "\n",
		"a.log.2": "short\n",
	} {
		f.Flush()
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestOpenAppendsAndCountsExisting(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.log"), []byte("12345678\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir, "a.log", 12, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, s := range []string{"ab\n", "cd\n"} {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	f.Flush()
	if got := history(t, dir, "a.log", 1); got != "12345678\nab\ncd\n" {
		t.Errorf("history %q", got)
	}
	f.Flush()
	if got, _ := os.ReadFile(filepath.Join(dir, "a.log")); string(got) != "cd\n" {
		t.Errorf("current %q, want the existing size counted", got)
	}
}

func TestConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	const writers, lines = 8, 200
	f, err := Open(dir, "a.log", 4096, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				if _, err := fmt.Fprintf(f, "writer %d line %03d\n", w, i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	all := history(t, dir, "a.log", len(files(t, dir))-1)
	next := make([]int, writers)
	for _, l := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		var w, i int
		if _, err := fmt.Sscanf(l, "writer %d line %d", &w, &i); err != nil {
			t.Fatalf("torn line %q: %v", l, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines, want %d", w, n, lines)
		}
	}
}

func TestReopenAndClose(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, "a.log", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	// An outside rotation, then SIGHUP.
	if err := os.Rename(filepath.Join(dir, "a.log"), filepath.Join(dir, "a.log.old")); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a.log.old": "before\n", "a.log": "after\n"} {
		f.Flush()
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := f.Reopen(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Reopen after Close: %v", err)
	}
}

func TestOpenFails(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(blocker, "logs"), "a.log", 100, 1); err == nil || !strings.Contains(err.Error(), "log directory") {
		t.Errorf("Open under a file: %v", err)
	}
}

func TestRotationFailureKeepsLogging(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory where the old file should go: rotation fails.
	if err := os.MkdirAll(filepath.Join(dir, "a.log.1", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir, "a.log", 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("first line\n")); err != nil {
		t.Fatal(err)
	}
	n, err := f.Write([]byte("second\n"))
	if n != 7 || err == nil || !strings.Contains(err.Error(), "rotate log") {
		t.Errorf("Write = %d, %v; want the line written and the rotation error", n, err)
	}
	f.Flush()
	if got, _ := os.ReadFile(filepath.Join(dir, "a.log")); string(got) != "first line\nsecond\n" {
		t.Errorf("a.log = %q", got)
	}
	// Once the obstacle is gone, the next write rotates.
	if err := os.RemoveAll(filepath.Join(dir, "a.log.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("third\n")); err != nil {
		t.Fatal(err)
	}
	f.Flush()
	if got := history(t, dir, "a.log", 1); got != "first line\nsecond\nthird\n" {
		t.Errorf("history %q", got)
	}
}
