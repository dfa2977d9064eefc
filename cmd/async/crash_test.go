package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies a directory tree with cp -a (the trees and their
// snapshots, so each crash point starts from the same state).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
}

// crashScenario prepares base/src and base/dst with a synchronized past and
// pending changes on the source (and, in bidi, on the destination).
func crashScenario(t *testing.T, base string, bidi bool) []string {
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	os.MkdirAll(src, 0o755)
	os.MkdirAll(dst, 0o755)
	old := tree{"keep.txt": "keep", "mod.txt": "v1", "del.txt": "bye", "olddir/x": "x", "olddir/y": "y", "turn": "file"}
	writeTree(t, src, old)
	args := []string{"-N", "crash", "-d", src, "-r", dst, "-t"}
	if bidi {
		args = append(args, "-K", "bidi")
	}
	mustCode(t, runAsync(t, args...), 0)
	changes := tree{"mod.txt": "v2, longer", "big.bin": strings.Repeat("B", 3<<20)}
	for i := range 12 {
		changes[fmt.Sprintf("new/d%d/f%d.txt", i%3, i)] = strings.Repeat(fmt.Sprint(i), 100+i)
	}
	writeTree(t, src, changes)
	os.Remove(filepath.Join(src, "del.txt"))
	os.RemoveAll(filepath.Join(src, "olddir"))
	os.Remove(filepath.Join(src, "turn"))
	writeTree(t, src, tree{"turn/inside": "now a dir"})
	if bidi {
		writeTree(t, dst, tree{"remote-new/r1": "r1", "remote-new/r2": "r2", "keep.txt": "changed remotely"})
	}
	return args
}

// synchronized returns the paths a run reported as transferred or created.
func synchronized(out string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "SYNCHRONIZED" {
			m[f[0]] = true
		}
	}
	return m
}

func TestCrashAtAnyPointConverges(t *testing.T) {
	t.Parallel()
	for _, bidi := range []bool{false, true} {
		t.Run(map[bool]string{false: "push", true: "bidi"}[bidi], func(t *testing.T) {
			t.Parallel()
			// Every run happens in the same place (the session's identity),
			// restored from a saved copy of the prepared state.
			// In memory where possible: some hundred runs and restores.
			base := filepath.Join(memTempDir(t), "work")
			saved := filepath.Join(memTempDir(t), "saved")
			args := crashScenario(t, base, bidi)
			copyDir(t, base, saved)
			restore := func() {
				if err := os.RemoveAll(base); err != nil {
					t.Fatal(err)
				}
				copyDir(t, saved, base)
			}
			// The uninterrupted run gives the trees every crashed run must reach.
			r := runAsync(t, args...)
			mustCode(t, r, 0)
			wantSrc, wantDst := readTree(t, filepath.Join(base, "src")), readTree(t, filepath.Join(base, "dst"))
			actions := strings.Count(r.stdout, "\n")
			if actions < 20 {
				t.Fatalf("scenario too small: %d actions", actions)
			}
			for n := 1; n < actions; n++ {
				restore()
				cmd := exec.Command(asyncBin, args...)
				cmd.Env = append(os.Environ(), crashEnv+"="+fmt.Sprint(n), "XDG_STATE_HOME="+filepath.Join(base, "state"))
				var so bytes.Buffer
				cmd.Stdout = &so
				if err := cmd.Run(); err == nil {
					t.Fatalf("crash point %d: the run was not killed", n)
				}
				done := synchronized(so.String())
				r := runAsync(t, args...)
				if r.code != 0 {
					t.Fatalf("crash point %d: rerun exit %d\n%s\n%s", n, r.code, r.stdout, r.stderr)
				}
				for p := range synchronized(r.stdout) {
					if done[p] {
						t.Errorf("crash point %d: %s transferred again after it was committed", n, p)
					}
				}
				equalTrees(t, readTree(t, filepath.Join(base, "src")), wantSrc)
				equalTrees(t, readTree(t, filepath.Join(base, "dst")), wantDst)
				for _, side := range []string{"src", "dst"} {
					filepath.WalkDir(filepath.Join(base, side), func(p string, d os.DirEntry, err error) error {
						if err == nil && strings.HasPrefix(d.Name(), ".async-tmp-") {
							t.Errorf("crash point %d: temporary file left: %s", n, p)
						}
						return nil
					})
				}
				if t.Failed() {
					t.Fatalf("crash point %d of %d failed", n, actions)
				}
			}
			t.Logf("%d crash points converged", actions-1)
		})
	}
}
