package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBidiPropagatesBothWaysAndReportsConflicts(t *testing.T) {
	t.Parallel()
	l, r := dirs(t)
	writeTree(t, l, tree{"shared.txt": "v1", "doc": "from local"})
	writeTree(t, r, tree{"remote.txt": "from remote"})
	args := []string{"-N", "b", "-d", l, "-r", r, "-K", "bidi"}
	mustCode(t, runAsync(t, args...), 0)
	equalTrees(t, readTree(t, l), readTree(t, r))

	// One side changes, the other deletes, both change the same file.
	writeTree(t, l, tree{"shared.txt": "local edit"})
	writeTree(t, r, tree{"shared.txt": "remote edit!"})
	os.Remove(filepath.Join(r, "doc"))
	writeTree(t, r, tree{"new-remote": "n"})
	res := runAsync(t, args...)
	mustCode(t, res, 3)
	if !slices.Contains(res.lines(), "/shared.txt CONFLICT") {
		t.Errorf("no conflict line:\n%s", res.stdout)
	}
	if readTree(t, l)["shared.txt"] != "local edit" || readTree(t, r)["shared.txt"] != "remote edit!" {
		t.Errorf("a conflict overwrote something")
	}
	if _, ok := readTree(t, l)["doc"]; ok {
		t.Errorf("the remote deletion of doc was not propagated")
	}
	if readTree(t, l)["new-remote"] != "n" {
		t.Errorf("new-remote not pulled")
	}
	// The conflict is recorded; async admin shows it.
	adm := runAsync(t, "admin", "-d", l, "-f")
	mustCode(t, adm, 0)
	if !strings.Contains(adm.stdout, "Confl") || !strings.Contains(adm.stdout, "/shared.txt") {
		t.Errorf("admin -f:\n%s", adm.stdout)
	}
	sum := runAsync(t, "admin", "-d", l, "-s")
	if !strings.Contains(sum.stdout, "Conflict Paths: 1") {
		t.Errorf("admin -s:\n%s", sum.stdout)
	}
	// The user resolves it by making both copies identical.
	writeTree(t, r, tree{"shared.txt": "local edit"})
	res = runAsync(t, args...)
	mustCode(t, res, 0)
	if !slices.Contains(res.lines(), "/shared.txt SYNCHRONIZED(exs)") {
		t.Errorf("resolved conflict not recorded:\n%s", res.stdout)
	}
}

func TestBidiOlderKeepsTheLoser(t *testing.T) {
	t.Parallel()
	l, r := dirs(t)
	writeTree(t, l, tree{"f": "one"})
	args := []string{"-N", "o", "-d", l, "-r", r, "-K", "bidi", "-o", "older"}
	mustCode(t, runAsync(t, args...), 0)
	writeTree(t, l, tree{"f": "older local"})
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(l, "f"), old, old)
	writeTree(t, r, tree{"f": "newer remote"})
	mustCode(t, runAsync(t, args...), 0)
	lt, rt := readTree(t, l), readTree(t, r)
	if lt["f"] != "newer remote" || rt["f"] != "newer remote" {
		t.Errorf("newer version did not win: %q %q", lt["f"], rt["f"])
	}
	found := 0
	for p, c := range lt {
		if strings.HasPrefix(p, "f.async-conflict-") && c == "older local" && rt[p] == c {
			found++
		}
	}
	if found != 1 {
		t.Errorf("the older version is not kept on both sides: %v / %v", lt, rt)
	}
}

func TestKeepDirAndRemoveAfterTransfer(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a1", "b": "b1"})
	args := []string{"-N", "k", "-d", src, "-r", dst, "--keep-dir-remote", "attic"}
	mustCode(t, runAsync(t, args...), 0)
	writeTree(t, src, tree{"a": "a2, replaced"})
	os.Remove(filepath.Join(src, "b"))
	mustCode(t, runAsync(t, args...), 0)
	got := readTree(t, dst)
	if got["a"] != "a2, replaced" || got["attic/a"] != "a1" || got["attic/b"] != "b1" {
		t.Errorf("destination with keep dir: %v", got)
	}
	if _, ok := readTree(t, src)["attic/"]; ok {
		t.Errorf("the keep dir was synchronized back")
	}

	// --remove-after-transfer empties the source, and the removals are not
	// propagated.
	src2, dst2 := dirs(t)
	writeTree(t, src2, tree{"x/1": "1", "x/2": "2"})
	rat := []string{"-N", "r", "-d", src2, "-r", dst2, "--remove-after-transfer"}
	mustCode(t, runAsync(t, rat...), 0)
	if got := readTree(t, src2); got["x/1"] != "" || got["x/2"] != "" || len(got) != 1 {
		t.Errorf("source after --remove-after-transfer: %v", got)
	}
	mustCode(t, runAsync(t, rat...), 0)
	if got := readTree(t, dst2); got["x/1"] != "1" || got["x/2"] != "2" {
		t.Errorf("destination lost files: %v", got)
	}
	r := runAsync(t, "-N", "r2", "-d", src2, "-r", dst2, "-K", "bidi", "--remove-after-transfer")
	mustCode(t, r, 2)
}

func TestDeleteBefore(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"old": "o"})
	mustCode(t, runAsync(t, "-N", "d", "-d", src, "-r", dst), 0)
	os.Remove(filepath.Join(src, "old"))
	writeTree(t, src, tree{"new": "n"})
	r := runAsync(t, "-N", "d", "-d", src, "-r", dst, "--delete-before", "--transfer-threads", "1")
	mustCode(t, r, 0)
	del, add := strings.Index(r.stdout, "/old  SYNCHRONIZED(del)"), strings.Index(r.stdout, "/new  SYNCHRONIZED")
	if del < 0 || add < 0 || del > add {
		t.Errorf("deletion did not come first:\n%s", r.stdout)
	}
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	l, r := dirs(t)
	writeTree(t, l, tree{"a": "1", "b/c": "2"})
	mustCode(t, runAsync(t, "-N", "adm", "-d", l, "-r", r), 0)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-l"}, []string{"Session: adm"}},
		{[]string{"-m"}, []string{"Session name: adm", "Direction: push", "Condition: stopped", "Local directory: file://"}},
		{[]string{"-s"}, []string{"Synchronized Paths: 3", "Conflict Paths: 0"}},
		{[]string{"-f"}, []string{"# State Id Path", "Syncd 1 /a", "Syncd 2 /b", "Syncd 3 /b/c"}},
		{[]string{"-s", "--json"}, []string{`"Synchronized Paths":3`}},
		{[]string{"-m", "-q"}, []string{"adm\n"}},
		{[]string{"-E", "1"}, []string{"Erased: 1"}},
		{[]string{"-M", "/b*"}, []string{"Erased: 1"}}, // * stops at "/": /b/c stays
		{[]string{"-f"}, []string{"# State Id Path\nSyncd 1 /b/c\n"}},
	} {
		res := runAsync(t, append([]string{"admin", "-d", l}, tc.args...)...)
		mustCode(t, res, 0)
		for _, w := range tc.want {
			if !strings.Contains(res.stdout, w) {
				t.Errorf("admin %v: no %q in\n%s", tc.args, w, res.stdout)
			}
		}
	}
	if res := runAsync(t, "admin", "-d", l); res.code != 2 {
		t.Errorf("admin without an action: exit %d", res.code)
	}
	if res := runAsync(t, "admin", "-d", r, "-N", "nope", "-m"); res.code != 1 {
		t.Errorf("admin of a missing session: exit %d", res.code)
	}
}
