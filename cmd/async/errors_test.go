package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// immutable makes a directory unchangeable, even for root, until the test
// ends or undo is called.
func immutable(t *testing.T, dir string) (undo func()) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	undo = func() { exec.Command("chattr", "-i", dir).Run() }
	t.Cleanup(undo)
	return undo
}

// ERROR entries are recorded in the snapshot: admin counts and lists them;
// the failed paths are tried again as if nothing had happened, and their
// records are cleared once they are done.
func TestErrorsAreRecorded(t *testing.T) {
	for _, dir := range []string{"push", "bidi"} {
		t.Run(dir, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, src, tree{"keep": "k", "sub/old": "o"})
			args := []string{"-N", "er", "-d", src, "-r", dst, "-K", dir}
			mustCode(t, runAsync(t, args...), 0)
			undo := immutable(t, filepath.Join(dst, "sub"))
			writeTree(t, src, tree{"sub/new": "n", "fine": "f"})
			os.Remove(filepath.Join(src, "sub/old"))
			for round := range 2 {
				r := runAsync(t, args...)
				mustCode(t, r, 3)
				for _, p := range []string{"/sub/new", "/sub/old"} {
					if !strings.Contains(r.stdout, p+"  ERROR: ") {
						t.Errorf("round %d: no ERROR for %s:\n%s", round, p, r.stdout)
					}
				}
				if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 2") {
					t.Errorf("round %d: admin -s after an exit-3 run:\n%s", round, s)
				}
				f := runAsync(t, "admin", "-d", src, "-f")
				if !strings.Contains(f.stdout, "Error") || !strings.Contains(f.stdout, "/sub/new") {
					t.Errorf("round %d: admin -f:\n%s", round, f.stdout)
				}
				// The deletion that failed is not undone (bidi: the remote
				// copy does not come back as if it were new).
				if _, ok := readTree(t, src)["sub/old"]; ok {
					t.Fatalf("round %d: the deleted file came back to the source", round)
				}
			}
			undo()
			r := runAsync(t, args...)
			mustCode(t, r, 0)
			got := readTree(t, dst)
			if got["sub/new"] != "n" || got["fine"] != "f" {
				t.Errorf("after the fix: %v", got)
			}
			if _, ok := got["sub/old"]; ok {
				t.Errorf("sub/old not deleted after the fix")
			}
			if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 0") {
				t.Errorf("errors not cleared:\n%s", s)
			}
			if lines := r.lines(); !slices.Contains(lines, "/sub/new SYNCHRONIZED") {
				t.Errorf("after the fix:\n%s", r.stdout)
			}
		})
	}
}

// An error record of a path that then needs nothing is cleared.
func TestErrorRecordClearedWhenNothingIsLeft(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"sub/x": "x"})
	args := []string{"-N", "ec", "-d", src, "-r", dst}
	mustCode(t, runAsync(t, args...), 0)
	immutable(t, filepath.Join(dst, "sub"))
	writeTree(t, src, tree{"sub/new": "n"})
	mustCode(t, runAsync(t, args...), 3)
	if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 1") {
		t.Fatalf("admin -s:\n%s", s)
	}
	os.Remove(filepath.Join(src, "sub/new"))
	mustCode(t, runAsync(t, args...), 0)
	if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 0") || !strings.Contains(s, "Synchronized Paths: 2") {
		t.Errorf("admin -s:\n%s", s)
	}
}
