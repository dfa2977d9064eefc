package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDir(t *testing.T) {
	home, _ := os.UserHomeDir()
	for _, tc := range []struct {
		in   string
		dir  string
		mb   int
		fail bool
	}{
		{in: "/var/log/async", dir: "/var/log/async", mb: 10},
		{in: "/var/log/async:200", dir: "/var/log/async", mb: 200},
		{in: "~/log:5", dir: filepath.Join(home, "log"), mb: 5},
		{in: "/x:0", fail: true},
		{in: "/x:big", fail: true},
		{in: ":5", fail: true},
		{in: "", fail: true},
	} {
		dir, mb, err := ParseDir(tc.in)
		if (err != nil) != tc.fail || dir != tc.dir || mb != tc.mb {
			t.Errorf("ParseDir(%q) = %q, %d, %v", tc.in, dir, mb, err)
		}
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, "a.log", 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := fmt.Fprintf(f, "line %02d %s\n", i, strings.Repeat("x", 30)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Fatalf("files: %v, want a.log and 3 old ones", entries)
	}
	cur, _ := os.ReadFile(filepath.Join(dir, "a.log"))
	old, _ := os.ReadFile(filepath.Join(dir, "a.log.1"))
	if !strings.HasSuffix(string(cur), "line 19 "+strings.Repeat("x", 30)+"\n") || !strings.Contains(string(old), "line 17") {
		t.Errorf("current %q, previous %q", cur, old)
	}
	for _, n := range []string{"a.log", "a.log.1", "a.log.2", "a.log.3"} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Size() > 100 {
			t.Errorf("%s: %v, size over the limit", n, err)
		}
	}
}
