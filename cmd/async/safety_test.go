package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestContinuousHoldsTheSessionLock: a -C session holds its snapshots for
// its whole life, between rounds too: a second run of the session is
// refused and admin says it is running.
func TestContinuousHoldsTheSessionLock(t *testing.T) {
	src, dst := dirs(t)
	state := t.TempDir()
	writeTree(t, src, tree{"a": "1"})
	f := startFollowing(t, state, nil, "-N", "c", "-d", src, "-r", dst, "-C", "--cooloff", "1")
	eventually(t, "first sync", func() bool { return readTree(t, dst)["a"] == "1" })
	time.Sleep(500 * time.Millisecond) // between rounds
	pid := fmt.Sprintf("pid %d", f.cmd.Process.Pid)
	for range 3 {
		r := sshRun(t, state, nil, "-N", "c", "-d", src, "-r", dst)
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "session c is running, "+pid) {
			t.Errorf("second run: %s", r.stderr)
		}
		m := sshRun(t, state, nil, "admin", "-d", src, "-m")
		mustCode(t, m, 0)
		if !strings.Contains(m.stdout, "Condition: running") || !strings.Contains(m.stdout, "Last sync: 20") {
			t.Errorf("admin -m while -C runs:\n%s", m.stdout)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code := f.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, f.out)
	}
	m := sshRun(t, state, nil, "admin", "-d", src, "-m")
	if !strings.Contains(m.stdout, "Condition: stopped") {
		t.Errorf("admin -m after -C ended:\n%s", m.stdout)
	}
	mustCode(t, sshRun(t, state, nil, "-N", "c", "-d", src, "-r", dst), 0)
}

// numberedTree is a tree of n small files in a few directories.
func numberedTree(n int) tree {
	tr := tree{}
	for i := range n {
		tr[fmt.Sprintf("d%d/f%03d", i%4, i)] = fmt.Sprint(i)
	}
	return tr
}

// emptyBut removes everything in root but the private area, then writes
// the stray tree.
func emptyBut(t *testing.T, root string, stray tree) {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != ".private-asp" {
			if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeTree(t, root, stray)
}

// TestLostMostHalts: a root that lost most of what its snapshot records
// halts the run (exit 1, nothing done) even with a stray file left (a
// .DS_Store, a fresh file system's lost+found), in push and bidi, until
// --force-deletes.
func TestLostMostHalts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dir   string // -K
		stray tree
	}{
		{"push/DS_Store", "push", tree{".DS_Store": "x"}},
		{"bidi/DS_Store", "bidi", tree{".DS_Store": "x"}},
		{"push/lost+found", "push", tree{"lost+found/": ""}},
		{"bidi/lost+found", "bidi", tree{"lost+found/": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, src, numberedTree(40))
			args := []string{"-N", "lost", "-d", src, "-r", dst, "-K", tc.dir}
			mustCode(t, runAsync(t, args...), 0)
			before := readTree(t, dst)
			emptyBut(t, src, tc.stray)
			r := runAsync(t, args...)
			mustCode(t, r, 1)
			if !strings.Contains(r.stderr, "lost 44 of the 44 entries") || !strings.Contains(r.stderr, "--force-deletes") {
				t.Errorf("halt message: %s", r.stderr)
			}
			equalTrees(t, readTree(t, dst), before)
			mustCode(t, runAsync(t, append(args, "--force-deletes")...), 0)
			if got := readTree(t, dst); len(got) != len(tc.stray) {
				t.Errorf("after --force-deletes the destination holds %v", got)
			}
		})
	}
	// Deleting less than half, or fewer than core.MinLost entries, is an
	// ordinary run.
	src, dst := dirs(t)
	writeTree(t, src, numberedTree(40))
	args := []string{"-N", "few", "-d", src, "-r", dst}
	mustCode(t, runAsync(t, args...), 0)
	os.RemoveAll(filepath.Join(src, "d0"))
	mustCode(t, runAsync(t, args...), 0)
	if _, err := os.Stat(filepath.Join(dst, "d0")); err == nil {
		t.Errorf("a deleted quarter was not propagated")
	}
}

// TestRootOnAnotherFileSystem: a file system mounted over a root since the
// last run is "root vanished" (exit 1), whatever --force-deletes says.
func TestRootOnAnotherFileSystem(t *testing.T) {
	src, dst := dirs(t)
	db := t.TempDir()
	writeTree(t, src, tree{"a": "1", "b/c": "2"})
	for _, b := range []bool{false, true} {
		args := []string{"-N", "mnt", "-d", src, "-r", dst, "-K", "bidi"}
		if b {
			args = append(args, "-b", db)
		}
		mustCode(t, runAsync(t, append(args, "-x")...), 0)
		if out, err := exec.Command("mount", "-t", "tmpfs", "async-test", src).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
		}
		writeTree(t, src, tree{"lost+found/": ""})
		r := runAsync(t, append(args, "--force-deletes")...)
		if err := exec.Command("umount", src).Run(); err != nil {
			t.Fatalf("umount %s: %v", src, err)
		}
		mustCode(t, r, 1)
		if !strings.Contains(r.stderr, "root vanished: another file system is mounted here") {
			t.Errorf("-b %v: %s", b, r.stderr)
		}
		if got := readTree(t, dst); got["a"] != "1" || got["b/c"] != "2" {
			t.Errorf("-b %v: the destination changed: %v", b, got)
		}
	}
}

// TestMistypedRemoteNamesTheRecordedEndpoints: a run of a known session
// with another -r names the endpoints the session was run with.
func TestMistypedRemoteNamesTheRecordedEndpoints(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "1"})
	mustCode(t, runAsync(t, "-N", "typo", "-d", src, "-r", dst), 0)
	other := t.TempDir()
	r := runAsync(t, "-N", "typo", "-d", src, "-r", other)
	mustCode(t, r, 2)
	want := fmt.Sprintf("session typo was last run with -d file://%s -r file://%s -K push, not -r file://%s", src, dst, realPathT(t, other))
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--reset") {
		t.Errorf("got %s\nwant %s", r.stderr, want)
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Errorf("the mistyped remote was written to: %v", ents)
	}
}

// TestKeepDirStaysOutOfTheSync: a keep directory is recorded in the
// snapshot and stays out of the sync in later runs without the option,
// until --reset.
func TestKeepDirStaysOutOfTheSync(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "v1"})
	args := []string{"-N", "keep", "-d", src, "-r", dst, "-K", "bidi"}
	mustCode(t, runAsync(t, append(args, "--keep-dir-remote", "trash")...), 0)
	time.Sleep(10 * time.Millisecond)
	writeTree(t, src, tree{"f": "v2, longer"})
	mustCode(t, runAsync(t, append(args, "--keep-dir-remote", "trash")...), 0)
	if got := readTree(t, dst); got["trash/f"] != "v1" {
		t.Fatalf("the old version was not kept: %v", got)
	}
	r := runAsync(t, args...)
	mustCode(t, r, 0)
	if _, err := os.Stat(filepath.Join(src, "trash")); err == nil {
		t.Errorf("the keep dir was synced without the option:\n%s", r.stdout)
	}
	mustCode(t, runAsync(t, append(args, "-x")...), 0)
	if got := readTree(t, src); got["trash/f"] != "v1" {
		t.Errorf("after --reset the former keep dir is not synced: %v", got)
	}
}

// TestRootVanished: a root that is missing while a snapshot of the session
// records entries under it is "root vanished" (exit 1): --create-dir and
// --force-deletes do not apply, nothing is created or deleted, and the
// message does not suggest --create-dir; --reset starts over.
func TestRootVanished(t *testing.T) {
	t.Run("-b outside the tree", func(t *testing.T) {
		src, dst := dirs(t)
		db := t.TempDir()
		writeTree(t, src, numberedTree(5))
		args := []string{"-N", "v", "-d", src, "-r", dst, "-b", db}
		mustCode(t, runAsync(t, args...), 0)
		before := readTree(t, dst)
		os.RemoveAll(src)
		for _, extra := range [][]string{nil, {"--create-dir"}, {"--create-dir", "--force-deletes"}, {"--create-dir", "--force-deletes", "--dry-run"}} {
			r := runAsync(t, append(args, extra...)...)
			mustCode(t, r, 1)
			if !strings.Contains(r.stderr, "root vanished: unmounted?") || strings.Contains(r.stderr, "use --create-dir") {
				t.Errorf("%v: %s", extra, r.stderr)
			}
			if _, err := os.Stat(src); err == nil {
				t.Fatalf("%v: the vanished root was created", extra)
			}
			equalTrees(t, readTree(t, dst), before)
		}
		mustCode(t, runAsync(t, append(args, "-x", "--create-dir")...), 0)
		equalTrees(t, readTree(t, dst), before)
	})
	t.Run("the other side's snapshot", func(t *testing.T) {
		for _, dir := range []string{"push", "pull", "bidi"} {
			local, remote := dirs(t)
			writeTree(t, local, numberedTree(5))
			args := []string{"-N", "v", "-d", local, "-r", remote, "-K", "bidi"}
			mustCode(t, runAsync(t, args...), 0)
			args[len(args)-1] = dir
			mustCode(t, runAsync(t, append(args, "-x")...), 0)
			// The remote root vanishes: the local snapshot knows it.
			os.RemoveAll(remote)
			r := runAsync(t, append(args, "--create-dir", "--force-deletes")...)
			mustCode(t, r, 1)
			if !strings.Contains(r.stderr, "option -r: root vanished") {
				t.Errorf("%s, -r vanished: %s", dir, r.stderr)
			}
			if _, err := os.Stat(remote); err == nil {
				t.Errorf("%s: the vanished remote root was created", dir)
			}
			if len(readTree(t, local)) != 9 {
				t.Errorf("%s: the local tree changed: %v", dir, readTree(t, local))
			}
		}
	})
	t.Run("a root that never had a snapshot", func(t *testing.T) {
		src, dst := dirs(t)
		os.Remove(dst)
		r := runAsync(t, "-N", "n", "-d", src, "-r", dst)
		mustCode(t, r, 2)
		if !strings.Contains(r.stderr, "use --create-dir") {
			t.Errorf("no hint: %s", r.stderr)
		}
		mustCode(t, runAsync(t, "-N", "n", "-d", src, "-r", dst, "--create-dir"), 0)
	})
	t.Run("a mistyped missing root", func(t *testing.T) {
		src, dst := dirs(t)
		writeTree(t, src, tree{"a": "1"})
		mustCode(t, runAsync(t, "-N", "m", "-d", src, "-r", dst), 0)
		typo := dst + "x"
		r := runAsync(t, "-N", "m", "-d", src, "-r", typo, "--create-dir")
		mustCode(t, r, 2)
		if !strings.Contains(r.stderr, "session m was last run with -d file://"+src+" -r file://"+dst) {
			t.Errorf("%s", r.stderr)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Errorf("the mistyped root was created")
		}
	})
}

// TestSSHRootVanished: a remote root on a server that vanished is not
// recreated by --create-dir (agent and SFTP).
func TestSSHRootVanished(t *testing.T) {
	s := testServer(t)
	for _, mode := range []string{"agent", "sftp"} {
		t.Run(mode, func(t *testing.T) {
			state, src := t.TempDir(), t.TempDir()
			dst := filepath.Join(s.TempDir(t), "root")
			writeTree(t, src, numberedTree(5))
			args := append(keyArgs(s, "sv"), "-d", src, "-r", remote(s, dst), "-K", "bidi")
			if mode == "sftp" {
				args = append(args, "--sftp")
			}
			mustCode(t, sshRun(t, state, nil, append(args, "--create-dir")...), 0)
			if err := os.RemoveAll(dst); err != nil {
				t.Fatal(err)
			}
			r := sshRun(t, state, nil, append(args, "--create-dir", "--force-deletes")...)
			mustCode(t, r, 1)
			if !strings.Contains(r.stderr, "root vanished") {
				t.Errorf("%s", r.stderr)
			}
			if _, err := os.Stat(dst); err == nil {
				t.Errorf("the vanished remote root was created")
			}
			if len(readTree(t, src)) != 9 {
				t.Errorf("the local tree changed: %v", readTree(t, src))
			}
		})
	}
}

// stateSnap is the directory of a session's snapshot kept in STATE (a
// bucket or SFTP side): STATE/sessions/NAME-ID/SIDE; "" when there is none.
func stateSnap(t *testing.T, state, name, side string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(state, "async", "sessions", name+"-????????????", side))
	if len(m) != 1 {
		return filepath.Join(state, "async", "sessions", name+"-none", side)
	}
	return m[0]
}

// sessionDirFor is STATE/sessions/NAME-ID for the local directory dir.
func sessionDirFor(t *testing.T, state, name, dir string) string {
	sum := sha256.Sum256([]byte("file://" + realPathT(t, dir)))
	return filepath.Join(state, "async", "sessions", name+"-"+hex.EncodeToString(sum[:6]))
}

// TestBucketSessionsKeyedByLocalDir: one session name used from two local
// directories into one bucket names two sessions (the bucket-side
// snapshots are keyed by name and -d), and a snapshot in the older place
// STATE/sessions/NAME is moved when its -d matches.
func TestBucketSessionsKeyedByLocalDir(t *testing.T) {
	type bucket struct {
		url func(prefix string) string
		env []string
	}
	store := t.TempDir()
	kinds := map[string]func(t *testing.T) bucket{
		"blob+file": func(t *testing.T) bucket {
			return bucket{url: func(p string) string { return "blob+file://" + store + "?prefix=" + p + "/" }}
		},
		"s3": func(t *testing.T) bucket {
			if os.Getenv("ASYNC_VERSITYGW") == "" {
				t.Skip("ASYNC_VERSITYGW not set")
			}
			s := s3Server(t)
			b := s.Bucket(t)
			return bucket{url: func(p string) string { return s3URL(s, b, p) }, env: s.Env()}
		},
	}
	for name, mk := range kinds {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			state, home := t.TempDir(), t.TempDir()
			photos, docs := filepath.Join(home, "photos"), filepath.Join(home, "docs")
			writeTree(t, photos, tree{"p1.jpg": "photo 1", "p2.jpg": "photo 2"})
			writeTree(t, docs, tree{"d1.txt": "doc 1"})
			ph := []string{"-N", "backup", "-d", photos, "-r", b.url("photos")}
			dc := []string{"-N", "backup", "-d", docs, "-r", b.url("docs")}
			mustCode(t, sshRun(t, state, b.env, ph...), 0)
			mustCode(t, sshRun(t, state, b.env, dc...), 0)
			for _, args := range [][]string{ph, dc} {
				r := sshRun(t, state, b.env, args...)
				mustCode(t, r, 0)
				if !strings.Contains(r.stderr, " 0 files (0 B) transferred") || r.stdout != "" {
					t.Errorf("%s: a rerun did something:\n%s%s", args[3], r.stdout, r.stderr)
				}
			}
			m, _ := filepath.Glob(filepath.Join(state, "async", "sessions", "backup-*"))
			if len(m) != 2 {
				t.Fatalf("bucket-side snapshots: %v", m)
			}
			// Each is STATE/sessions/backup-ID, ID the first 12 hex digits of
			// the SHA-256 of the canonical -d.
			photosDir := sessionDirFor(t, state, "backup", photos)
			if !slices.Contains(m, photosDir) || !slices.Contains(m, sessionDirFor(t, state, "backup", docs)) {
				t.Fatalf("bucket-side snapshots %v, not keyed by -d", m)
			}
			// The older layout: photos' snapshot at STATE/sessions/backup.
			legacy := filepath.Join(state, "async", "sessions", "backup")
			if err := os.Rename(photosDir, legacy); err != nil {
				t.Fatal(err)
			}
			// docs does not take photos' old snapshot.
			r := sshRun(t, state, b.env, dc...)
			mustCode(t, r, 0)
			if _, err := os.Stat(legacy); err != nil {
				t.Fatalf("a docs run moved photos' older snapshot: %v", err)
			}
			// photos moves it back and goes on where it was.
			r = sshRun(t, state, b.env, ph...)
			mustCode(t, r, 0)
			if !strings.Contains(r.stderr, " 0 files (0 B) transferred") || r.stdout != "" {
				t.Errorf("photos after the move did something:\n%s%s", r.stdout, r.stderr)
			}
			if _, err := os.Stat(legacy); err == nil {
				t.Errorf("the older snapshot was not moved")
			}
			if _, err := os.Stat(filepath.Join(photosDir, "remote", "MANIFEST")); err != nil {
				t.Errorf("the snapshot is not in its new place: %v", err)
			}
		})
	}
}

// TestStateDirsRefused: async's state directories (-B, -R, -L) may not lie
// where they would be synchronized, a bucket cannot hold a log, and -R
// where no agent runs is refused, each with one line naming the option
// (exit 2, nothing touched).
func TestStateDirsRefused(t *testing.T) {
	src, dst := dirs(t)
	store := t.TempDir()
	bucket := "blob+file://" + store + "?prefix=tree/"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"-B in the bucket's directory", []string{"-r", bucket, "-B", filepath.Join(store, "db")}, []string{"option -B", "inside the directory of the bucket"}},
		{"-B is the bucket's directory", []string{"-r", bucket, "-B", store}, []string{"option -B", "inside the directory of the bucket"}},
		{"-R in the bucket's directory", []string{"-r", bucket, "-R", filepath.Join(store, "logs")}, []string{"option -R", "inside the directory of the bucket"}},
		{"-b in the bucket's directory", []string{"-r", bucket, "-b", filepath.Join(store, "tree", "db")}, []string{"option -b", "inside the directory of the bucket"}},
		{"-B in a local remote tree", []string{"-r", dst, "-B", filepath.Join(dst, "db")}, []string{"option -B", "inside the synchronized tree"}},
		{"-R in a local remote tree", []string{"-r", dst, "-R", filepath.Join(dst, "logs")}, []string{"option -R", "inside the synchronized tree"}},
		{"-R over SFTP", []string{"-r", "localhost:/srv/x", "--sftp", "-R", "/tmp/logs"}, []string{"option -R", "SFTP", "-L"}},
		{"-L a bucket", []string{"-r", dst, "-L", "s3://b/logs"}, []string{"option -L", "a bucket cannot hold a log", "local directory"}},
		{"-R a bucket", []string{"-r", bucket, "-R", "s3://b/logs"}, []string{"option -R", "a bucket cannot hold a log"}},
		{"-B a bucket with an SSH -r", []string{"-r", "localhost:/srv/x", "-B", "s3://b/db"}, []string{"option -B", "a bucket cannot hold a snapshot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAsync(t, append([]string{"-N", "st", "-d", src}, tc.args...)...)
			mustCode(t, r, 2)
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 {
				t.Errorf("more than one line:\n%s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("no %q in %s", w, r.stderr)
				}
			}
			if ents, _ := os.ReadDir(store); len(ents) != 0 {
				t.Errorf("the bucket was written to: %v", ents)
			}
		})
	}
}

// TestSSHRemoteStateInsideTheTreeRefused: a remote -B or -R inside the
// synchronized remote tree is refused (exit 2), through a symbolic link
// too, so that no sync (--mirror least of all) touches the live snapshot.
func TestSSHRemoteStateInsideTheTreeRefused(t *testing.T) {
	s := testServer(t)
	state, src := t.TempDir(), t.TempDir()
	base := s.TempDir(t)
	dst := filepath.Join(base, "tree")
	writeTree(t, src, tree{"a": "1"})
	writeTree(t, dst, tree{"old": "x"})
	if err := os.Symlink("tree", filepath.Join(base, "alias")); err != nil {
		t.Fatal(err)
	}
	s.Chown(t, base)
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"-B", []string{"-B", filepath.Join(dst, "db")}, "option -B"},
		{"-B through a link", []string{"-B", filepath.Join(base, "alias", "db")}, "option -B"},
		{"-B relative to the home", []string{"-B", relHome(t, s.Home, filepath.Join(dst, "new", "db"))}, "option -B"},
		{"-R", []string{"-R", filepath.Join(dst, "logs")}, "option -R"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(keyArgs(s, "in"), "-d", src, "-r", remote(s, dst), "--mirror")
			r := sshRun(t, state, nil, append(args, tc.extra...)...)
			mustCode(t, r, 2)
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "inside the synchronized tree") {
				t.Errorf("%s", r.stderr)
			}
			if got := readTree(t, dst); len(got) != 1 || got["old"] != "x" {
				t.Errorf("the remote tree changed: %v", got)
			}
		})
	}
	// Outside the tree it works, and --mirror leaves the snapshot be.
	db := filepath.Join(base, "db")
	args := append(keyArgs(s, "in"), "-d", src, "-r", remote(s, dst), "--mirror", "-B", db)
	mustCode(t, sshRun(t, state, nil, args...), 0)
	mustCode(t, sshRun(t, state, nil, args...), 0)
	if _, err := os.Stat(filepath.Join(db, "in", "MANIFEST")); err != nil {
		t.Errorf("no snapshot in -B: %v", err)
	}
}

// TestTornBadgerFileRecovered: a kill -9 inside Badger's file creation
// leaves an empty .mem or .vlog file; admin -f and the next run recover.
func TestTornBadgerFileRecovered(t *testing.T) {
	for _, name := range []string{"00009.mem", "000009.vlog"} {
		t.Run(name, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, src, tree{"a": "1"})
			args := []string{"-N", "torn", "-d", src, "-r", dst}
			mustCode(t, runAsync(t, args...), 0)
			for _, root := range []string{src, dst} {
				if err := os.WriteFile(filepath.Join(root, ".private-asp", "torn", name), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := runAsync(t, "admin", "-d", src, "-f")
			mustCode(t, r, 0)
			if !strings.Contains(r.stdout, "Syncd 1 /a") {
				t.Errorf("admin -f:\n%s", r.stdout)
			}
			writeTree(t, src, tree{"b": "2"})
			mustCode(t, runAsync(t, args...), 0)
			if got := readTree(t, dst); got["b"] != "2" {
				t.Errorf("the run after the repair: %v", got)
			}
		})
	}
}

// TestRemoteLogWithoutAgent: with a local or bucket -r, this process
// serves the remote side and writes its log (-R) on this machine.
func TestRemoteLogWithoutAgent(t *testing.T) {
	state, src, dst, store := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"a": "1"})
	for i, r := range []string{dst, "blob+file://" + store} {
		rlog := t.TempDir()
		res := sshRun(t, state, nil, "-N", fmt.Sprint("rl", i), "-d", src, "-r", r, "-R", rlog+":1")
		mustCode(t, res, 0)
		if strings.Contains(res.stderr, "-R") {
			t.Errorf("-r %s: -R warned about: %s", r, res.stderr)
		}
		b, err := os.ReadFile(filepath.Join(rlog, fmt.Sprintf("async-rl%d.log", i)))
		if err != nil || !strings.Contains(string(b), "session start") {
			t.Errorf("-r %s: no remote log: %v %q", r, err, b)
		}
	}
}

// TestRenamedBulkIsNotLost: renaming the directory that holds most of a
// tree is not "lost most": the entries are found under the new name.
func TestRenamedBulkIsNotLost(t *testing.T) {
	src, dst := dirs(t)
	tr := tree{}
	for i := range 40 {
		tr[fmt.Sprintf("photos/f%02d", i)] = fmt.Sprint(i)
	}
	writeTree(t, src, tr)
	args := []string{"-N", "mv", "-d", src, "-r", dst, "-K", "bidi"}
	mustCode(t, runAsync(t, args...), 0)
	if err := os.Rename(filepath.Join(src, "photos"), filepath.Join(src, "Photos")); err != nil {
		t.Fatal(err)
	}
	r := runAsync(t, args...)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), readTree(t, src))
}

// relHome is p relative to home (a server path relative to the login's
// home).
func relHome(t *testing.T, home, p string) string {
	t.Helper()
	rel, err := filepath.Rel(home, p)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}
