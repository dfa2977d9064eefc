package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// savePlan writes a dry run's JSON plan to a file and returns its name.
func savePlan(t *testing.T, args ...string) string {
	t.Helper()
	r := runAsync(t, append(args, "--dry-run", "--plan-format=json")...)
	mustCode(t, r, 0)
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// A copy refused as stale only at commit (the destination changed after
// the plan) transferred nothing: the summary does not count its bytes.
func TestStaleApplySummaryCountsNoRefusedBytes(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"big": "v1"})
	args := []string{"-N", "sb", "-d", src, "-r", dst}
	mustCode(t, runAsync(t, args...), 0)
	writeTree(t, src, tree{"big": string(bytes.Repeat([]byte("x"), 3<<20)), "ok": "12345"})
	plan := savePlan(t, args...)
	writeTree(t, dst, tree{"big": "changed at the destination after planning"})
	r := runAsync(t, "apply", plan)
	mustCode(t, r, 3)
	if !strings.Contains(r.stdout, "/big  ERROR: stale plan") {
		t.Errorf("no stale plan error for /big:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, ": 1 file (5 B) transferred") {
		t.Errorf("the summary counts refused bytes (want 1 file, 5 B):\n%s", r.stderr)
	}
	if got := readTree(t, dst); got["big"] != "changed at the destination after planning" || got["ok"] != "12345" {
		t.Errorf("destination after apply: big %d bytes, ok %q", len(got["big"]), got["ok"])
	}
}

// A plan whose source directory was renamed since is stale: each of its
// actions says so, instead of a raw open error, and nothing is created.
func TestApplyRenamedSourceDirIsStale(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"keep": "k"})
	args := []string{"-N", "sr", "-d", src, "-r", dst}
	mustCode(t, runAsync(t, args...), 0)
	writeTree(t, src, tree{"src/a": "a", "src/sub/b": "b"})
	plan := savePlan(t, args...)
	if err := os.Rename(filepath.Join(src, "src"), filepath.Join(src, "moved")); err != nil {
		t.Fatal(err)
	}
	r := runAsync(t, "apply", plan)
	mustCode(t, r, 3)
	for _, p := range []string{"/src", "/src/a", "/src/sub", "/src/sub/b"} {
		if !strings.Contains(r.stdout, p+"  ERROR: stale plan") {
			t.Errorf("%s not reported as a stale plan:\n%s", p, r.stdout)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "ERROR") && !strings.Contains(line, "ERROR: stale plan") {
			t.Errorf("raw error: %s", line)
		}
	}
	if _, ok := readTree(t, dst)["src/"]; ok {
		t.Errorf("apply created the vanished directory at the destination")
	}
	// The next run syncs what is there now.
	mustCode(t, runAsync(t, args...), 0)
	if got := readTree(t, dst); got["moved/a"] != "a" || got["moved/sub/b"] != "b" {
		t.Errorf("rerun did not converge: %v", got)
	}
}

// adminSummary returns `async admin -s` of a local root.
func adminSummary(t *testing.T, root string) string {
	t.Helper()
	r := runAsync(t, "admin", "-d", root, "-s")
	mustCode(t, r, 0)
	return r.stdout
}

// The actions refused as a stale plan are recorded as errors, and cleared
// once a run finds nothing to do for them.
func TestStaleApplyRecordsErrors(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"keep": "k"})
	args := []string{"-N", "se", "-d", src, "-r", dst}
	mustCode(t, runAsync(t, args...), 0)
	writeTree(t, src, tree{"src/a": "a", "new": "n"})
	plan := savePlan(t, args...)
	os.RemoveAll(filepath.Join(src, "src"))
	os.Remove(filepath.Join(src, "new"))
	mustCode(t, runAsync(t, "apply", plan), 3)
	if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 3") {
		t.Errorf("after a stale apply, admin -s:\n%s", s)
	}
	mustCode(t, runAsync(t, args...), 0)
	if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 0") || !strings.Contains(s, "Synchronized Paths: 1") {
		t.Errorf("error records not cleared:\n%s", s)
	}
}
