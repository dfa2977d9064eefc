package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// Under -K bidi -o older with a keep dir, the losing version keeps its own
// relative path inside the keep dir; a time suffix is added only when that
// name is taken.
func TestBidiOlderKeepDirKeepsRelativePath(t *testing.T) {
	l, r := dirs(t)
	writeTree(t, l, tree{"sub/f": "one"})
	args := []string{"-N", "ok", "-d", l, "-r", r, "-K", "bidi", "-o", "older", "--keep-dir-local", "attic", "--keep-dir-remote", "attic"}
	mustCode(t, runAsync(t, args...), 0)
	conflict := func(loser, winner string, round int) {
		t.Helper()
		older := time.Now().Add(-time.Duration(10-round) * time.Hour)
		writeTree(t, l, tree{"sub/f": loser})
		os.Chtimes(filepath.Join(l, "sub/f"), older, older)
		writeTree(t, r, tree{"sub/f": winner})
		mustCode(t, runAsync(t, args...), 0)
	}
	conflict("older local", "newer remote", 1)
	lt, rt := readTree(t, l), readTree(t, r)
	if lt["sub/f"] != "newer remote" || rt["sub/f"] != "newer remote" {
		t.Fatalf("the newer version did not win: %q / %q", lt["sub/f"], rt["sub/f"])
	}
	if lt["attic/sub/f"] != "older local" {
		t.Errorf("the loser is not kept as attic/sub/f: %v", lt)
	}
	// Again: attic/sub/f is taken, so the next loser gets a time suffix.
	conflict("older local, again", "newer remote, again", 2)
	lt = readTree(t, l)
	suffixed := regexp.MustCompile(`^attic/sub/f\.\d{8}T\d{6}\.\d{9}Z$`)
	var found []string
	for p, c := range lt {
		if suffixed.MatchString(p) && c == "older local, again" {
			found = append(found, p)
		}
	}
	if lt["attic/sub/f"] != "older local" || len(found) != 1 {
		t.Errorf("second loser: want attic/sub/f kept and one suffixed copy, got %v", lt)
	}
	for p := range rt {
		if slices.Contains([]string{"attic/", "attic/sub/", "attic/sub/f"}, p) {
			t.Errorf("the local keep dir leaked to the remote side: %s", p)
		}
	}
}

// Under -o older, equal mtimes with different content are a CONFLICT: no
// version is newer, so neither may replace the other.
func TestBidiOlderEqualMTimesConflict(t *testing.T) {
	for name, remote := range map[string]string{"other size": "remote version!", "same size": "remote version"} {
		t.Run(name, func(t *testing.T) {
			l, r := dirs(t)
			writeTree(t, l, tree{"f": "one"})
			args := []string{"-N", "oe", "-d", l, "-r", r, "-K", "bidi", "-o", "older"}
			mustCode(t, runAsync(t, args...), 0)
			same := time.Now().Add(-time.Hour).Truncate(time.Second)
			writeTree(t, l, tree{"f": "local  version"})
			writeTree(t, r, tree{"f": remote})
			for _, root := range []string{l, r} {
				os.Chtimes(filepath.Join(root, "f"), same, same)
			}
			res := runAsync(t, args...)
			mustCode(t, res, 3)
			if !slices.Contains(res.lines(), "/f CONFLICT") {
				t.Errorf("no conflict reported:\n%s", res.stdout)
			}
			lt, rt := readTree(t, l), readTree(t, r)
			if lt["f"] != "local  version" || rt["f"] != remote || len(lt) != 1 || len(rt) != 1 {
				t.Errorf("a conflict changed something: %v / %v", lt, rt)
			}
		})
	}
}
