package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the user the tests that need unreadable paths run async as:
// root reads everything.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// asNobody gives the trees below base to nobody and opens the way to them.
func asNobody(t *testing.T, base string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run async as another user")
	}
	if err := os.Chmod(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lock makes the directory p unreadable for nobody until the test ends.
func lock(t *testing.T, p string) {
	t.Helper()
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(p, 0o755) })
}

// unlock makes p readable again.
func unlock(t *testing.T, p string) {
	t.Helper()
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadableSourceDirectory: a source directory that cannot be listed
// is ERROR; the rest syncs (exit 3), on every run; nothing under it is
// ever taken as deleted, in push with --mirror nor in bidi.
func TestUnreadableSourceDirectory(t *testing.T) {
	for _, mode := range [][]string{{"--mirror"}, {"-K", "bidi"}} {
		t.Run(strings.Join(mode, ""), func(t *testing.T) {
			src, dst := dirs(t)
			base := filepath.Dir(src)
			db := filepath.Join(base, "db")
			writeTree(t, src, tree{"ok/f": "1", "bad/inner/g": "2", "top": "3"})
			asNobody(t, base)
			run := func() result {
				return runAsyncAs(t, nobody, append([]string{"-N", "u", "-d", src, "-r", dst, "-b", db}, mode...)...)
			}
			mustCode(t, run(), 0)
			lock(t, filepath.Join(src, "bad"))
			writeTree(t, src, tree{"new": "4"})
			for i := range 2 {
				r := run()
				mustCode(t, r, 3)
				if !strings.Contains(r.stdout, "/bad  ERROR: open /bad: permission denied") {
					t.Errorf("run %d: no ERROR line for /bad:\n%s", i, r.stdout)
				}
				if strings.Contains(r.stdout, "(del)") {
					t.Errorf("run %d deleted something:\n%s", i, r.stdout)
				}
			}
			want := tree{"ok/": "", "ok/f": "1", "bad/": "", "bad/inner/": "", "bad/inner/g": "2", "top": "3", "new": "4"}
			equalTrees(t, readTree(t, dst), want)
			unlock(t, filepath.Join(src, "bad"))
			mustCode(t, run(), 0)
		})
	}
}

// TestUnreadableSourceDirectoryFirstRun: on a first run too, the rest
// syncs, and what the destination holds below it is left alone.
func TestUnreadableSourceDirectoryFirstRun(t *testing.T) {
	src, dst := dirs(t)
	base := filepath.Dir(src)
	writeTree(t, src, tree{"ok/f": "1", "bad/g": "2"})
	writeTree(t, dst, tree{"bad/theirs": "keep"})
	asNobody(t, base)
	lock(t, filepath.Join(src, "bad"))
	r := runAsyncAs(t, nobody, "-N", "u", "-d", src, "-r", dst, "-b", filepath.Join(base, "db"), "--mirror")
	mustCode(t, r, 3)
	want := tree{"ok/": "", "ok/f": "1", "bad/": "", "bad/theirs": "keep"}
	equalTrees(t, readTree(t, dst), want)
}

// TestUnreadableDestinationDirectory: a destination directory that cannot
// be read is ERROR, on a full scan (first run) and on a lazy one (later
// runs); the rest syncs.
func TestUnreadableDestinationDirectory(t *testing.T) {
	src, dst := dirs(t)
	base := filepath.Dir(src)
	db := filepath.Join(base, "db")
	writeTree(t, src, tree{"ok/f": "1", "bad/inner/g": "2"})
	asNobody(t, base)
	run := func() result { return runAsyncAs(t, nobody, "-N", "u", "-d", src, "-r", dst, "-b", db) }
	mustCode(t, run(), 0)
	mustCode(t, run(), 0) // a clean end: the next run looks at the destination lazily
	lock(t, filepath.Join(dst, "bad"))
	writeTree(t, src, tree{"ok/f": "changed", "bad/inner/g": "changed"})
	for i := range 2 {
		r := run()
		mustCode(t, r, 3)
		if !strings.Contains(r.stdout, "/bad/inner  ERROR: ") {
			t.Errorf("run %d: no ERROR line for /bad/inner:\n%s", i, r.stdout)
		}
	}
	// --mirror scans the destination in full: the directory cannot be listed.
	r := runAsyncAs(t, nobody, "-N", "u", "-d", src, "-r", dst, "-b", db, "--mirror")
	mustCode(t, r, 3)
	if !strings.Contains(r.stdout, "/bad  ERROR: open /bad: permission denied") || strings.Contains(r.stdout, "(del)") {
		t.Errorf("full scan of an unreadable destination directory:\n%s", r.stdout)
	}
	unlock(t, filepath.Join(dst, "bad"))
	if got := readTree(t, dst); got["ok/f"] != "changed" || got["bad/inner/g"] != "2" {
		t.Errorf("destination = %v", got)
	}
	mustCode(t, run(), 0)
	if got := readTree(t, dst); got["bad/inner/g"] != "changed" {
		t.Errorf("destination after unlocking = %v", got)
	}
}

// TestPathLongerThanPathMax: entries whose paths exceed PATH_MAX sync
// like any other.
func TestPathLongerThanPathMax(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"ok": "1"})
	// Built one directory at a time: the whole path is too long for one call.
	comp := strings.Repeat("d", 200)
	dir, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	for range 25 {
		fd := int(dir.Fd())
		if err := syscall.Mkdirat(fd, comp, 0o755); err != nil {
			t.Fatal(err)
		}
		nfd, err := syscall.Openat(fd, comp, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		dir.Close()
		dir = os.NewFile(uintptr(nfd), comp)
	}
	ffd, err := syscall.Openat(int(dir.Fd()), "deep", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	dir.Close()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Write(ffd, []byte("deep"))
	syscall.Close(ffd)
	db := filepath.Join(filepath.Dir(src), "db")
	for range 2 {
		r := runAsync(t, "-N", "l", "-d", src, "-r", dst, "-b", db)
		mustCode(t, r, 0)
	}
	// find walks by descriptors too: filepath.WalkDir cannot stat there.
	out, err := exec.Command("find", dst, "-name", "deep", "-type", "f").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "\n"); n != 1 {
		t.Errorf("deep file copied %d times", n)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "ok")); string(b) != "1" {
		t.Errorf("ok = %q, %v", b, err)
	}
}

// TestSymlinkLoopFollow: under -n follow a link that leads back above
// itself, or to itself, is ERROR: symlink loop (exit 3); the rest syncs.
func TestSymlinkLoopFollow(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"sub/f": "1"})
	os.Symlink("..", filepath.Join(src, "sub/up"))
	os.Symlink("self", filepath.Join(src, "self"))
	args := []string{"-N", "l", "-d", src, "-r", dst, "-n", "follow"}
	r := runAsync(t, args...)
	mustCode(t, r, 3)
	for _, p := range []string{"/sub/up", "/self"} {
		if !strings.Contains(r.stdout, p+"  ERROR: symlink loop") {
			t.Errorf("no loop ERROR for %s:\n%s", p, r.stdout)
		}
	}
	equalTrees(t, readTree(t, dst), tree{"sub/": "", "sub/f": "1"})
	if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 2") {
		t.Errorf("the loops are not recorded as errors:\n%s", s)
	}
	// Gone, they are errors no more.
	os.Remove(filepath.Join(src, "sub/up"))
	os.Remove(filepath.Join(src, "self"))
	mustCode(t, runAsync(t, args...), 0)
	if s := adminSummary(t, src); !strings.Contains(s, "Error Paths: 0") {
		t.Errorf("error records left:\n%s", s)
	}
}

// TestSSHUnreadableAndLinkLoops: on the server too (agent and SFTP), a
// directory that cannot be listed and a link loop under -n follow are
// ERROR while the rest syncs (exit 3).
func TestSSHUnreadableAndLinkLoops(t *testing.T) {
	s := testServer(t)
	for _, mode := range []string{"agent", "sftp"} {
		t.Run(mode, func(t *testing.T) {
			state, local, dir := t.TempDir(), t.TempDir(), s.TempDir(t)
			writeTree(t, dir, tree{"ok/f": "1", "bad/g": "2", "sub/h": "3"})
			os.Symlink("..", filepath.Join(dir, "sub/up"))
			lock(t, filepath.Join(dir, "bad"))
			args := append(keyArgs(s, "u"), "-d", local, "-r", remote(s, dir), "-K", "pull", "-n", "follow")
			if mode == "sftp" {
				args = append(args, "--sftp")
			}
			for i := range 2 {
				r := sshRun(t, state, nil, args...)
				mustCode(t, r, 3)
				for _, want := range []string{"/bad  ERROR: ", "/sub/up  ERROR: symlink loop"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("run %d: no %q line:\n%s", i, want, r.stdout)
					}
				}
			}
			equalTrees(t, readTree(t, local), tree{"ok/": "", "ok/f": "1", "sub/": "", "sub/h": "3"})
		})
	}
}
