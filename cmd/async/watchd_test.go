package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/internal/watchd"
)

// journalEnv is a temporary state directory shared by a watchd service and
// the sessions that ask it.
type journalEnv struct {
	t     *testing.T
	state string
	svc   *exec.Cmd
	args  []string // the service's arguments
	log   string   // the last sync's log lines
	sock  string   // the service's socket when not the default one
}

func newJournalEnv(t *testing.T, args ...string) *journalEnv {
	return &journalEnv{t: t, state: filepath.Join(t.TempDir(), "state"), args: args}
}

func (j *journalEnv) socket() string {
	if j.sock != "" {
		return j.sock
	}
	return filepath.Join(j.state, "async", "watchd", watchd.SocketName)
}

// start runs `async watchd` and waits (bounded) until it answers.
func (j *journalEnv) start() {
	t := j.t
	t.Helper()
	cmd := exec.Command(asyncBin, append([]string{"watchd"}, j.args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+j.state)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j.svc = cmd
	t.Cleanup(j.kill)
	for range 200 {
		if a, err := watchd.Ask(context.Background(), j.socket(), watchd.Request{Op: "status"}, time.Second); err == nil && a.Status.PID == cmd.Process.Pid {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("watchd did not start: %s", se.String())
}

// kill stops the service with SIGKILL (no chance to clean up).
func (j *journalEnv) kill() {
	if j.svc != nil {
		j.svc.Process.Signal(syscall.SIGKILL)
		j.svc.Wait()
		j.svc = nil
	}
}

// settle waits (bounded) until the service has journaled every change
// made so far below dir: it writes a marker and polls for it; the events
// of one tree come in order.
func (j *journalEnv) settle(dir string) {
	t := j.t
	t.Helper()
	a, err := watchd.Ask(context.Background(), j.socket(), watchd.Request{Op: "changes", Dir: realPathT(t, dir)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "zz-settle")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(marker)
	req := watchd.Request{Op: "changes", Dir: realPathT(t, dir), Epoch: a.Epoch, Since: a.Cursor}
	for range 400 {
		b, err := watchd.Ask(context.Background(), j.socket(), req, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if b.Hole != "" || slices.Contains(b.Paths, "zz-settle") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the service did not see the marker")
}

// sync runs a push with --watchd; extra are more options.
func (j *journalEnv) sync(src, dst string, extra ...string) result {
	t := j.t
	t.Helper()
	args := append([]string{"--watchd", "-N", "j", "-d", src, "-r", dst, "-K", "push", "-D"}, extra...)
	logFile := filepath.Join(j.state, "async", "log", "async-j.log")
	before, _ := os.ReadFile(logFile)
	r := runBin(t, asyncBin, j.state, nil, args...)
	after, _ := os.ReadFile(logFile)
	j.log = string(after[min(len(before), len(after)):])
	return r
}

// fullScan reports the reason the local side was scanned in full, "" if
// it was not.
func fullScan(r result) string {
	for _, l := range strings.Split(r.stderr, "\n") {
		if _, why, ok := strings.Cut(l, "watchd: the local side is scanned in full: "); ok {
			return why
		}
	}
	return ""
}

// journalRun checks a run that should have read the journal and matched.
// scanned says whether the engine may still scan (the journal named a
// directory that appeared or vanished: its contents are not known).
func (j *journalEnv) journalRun(r result, src, dst string, scanned bool) {
	t := j.t
	t.Helper()
	mustCode(t, r, 0)
	if why := fullScan(r); why != "" {
		t.Fatalf("scanned in full (%s), want the journal\n%s", why, r.stderr)
	}
	if !strings.Contains(j.log, "watchd: changes from the journal") {
		t.Errorf("no journal in the log:\n%s", j.log)
	}
	if !scanned && scannedLocal(j.log) {
		t.Errorf("the local side was scanned:\n%s", j.log)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
}

// scannedLocal reports whether a log says the engine scanned the local side.
func scannedLocal(log string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg=scanned ") && strings.Contains(l, " side=local ") {
			return true
		}
	}
	return false
}

// scanRun checks a run that should have scanned for a reason saying want.
func scanRun(t *testing.T, r result, want, src, dst string) {
	t.Helper()
	mustCode(t, r, 0)
	if why := fullScan(r); !strings.Contains(why, want) {
		t.Fatalf("full scan reason %q, want one saying %q\n%s", why, want, r.stderr)
	}
	if n := strings.Count(r.stderr, "scanned in full"); n != 1 {
		t.Errorf("%d info lines, want one:\n%s", n, r.stderr)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
}

func TestWatchdJournalDrivenSync(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a", "d/b": "b", "d/e/c": "c", "swap": "file", "swap2/": "", "swap2/x": "x", "gone/deep/f": "f"})
	j := newJournalEnv(t, "--tree", src)
	j.start()
	scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
	j.journalRun(j.sync(src, dst), src, dst, false) // nothing changed: not even run
	if !strings.Contains(j.log, "nothing changed at the source since the last complete run") {
		t.Errorf("a no-change run ran the engine:\n%s", j.log)
	}

	// Files only: the journal's paths stand for the scan.
	writeTree(t, src, tree{"a": "a2", "d/new": "n"})
	os.Remove(filepath.Join(src, "d/b"))
	os.Rename(filepath.Join(src, "d/e/c"), filepath.Join(src, "d/e/c2"))
	j.settle(src)
	r := j.sync(src, dst)
	j.journalRun(r, src, dst, false)
	if !strings.Contains(r.stdout, "/a") || !strings.Contains(r.stdout, "/d/new") {
		t.Errorf("changed files not transferred:\n%s", r.stdout)
	}

	// Directories appear, vanish and swap with files.
	os.RemoveAll(filepath.Join(src, "gone"))
	os.Remove(filepath.Join(src, "swap"))
	writeTree(t, src, tree{"swap/inside": "now a dir", "newdir/sub/f": "f"})
	os.RemoveAll(filepath.Join(src, "swap2"))
	writeTree(t, src, tree{"swap2": "now a file"})
	j.settle(src)
	j.journalRun(j.sync(src, dst), src, dst, true)
	j.journalRun(j.sync(src, dst), src, dst, false)
}

func TestWatchdHoles(t *testing.T) {
	t.Run("not running", func(t *testing.T) {
		src, dst := dirs(t)
		writeTree(t, src, tree{"a": "a"})
		j := newJournalEnv(t, "--tree", src)
		j.start()
		scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
		j.kill()
		writeTree(t, src, tree{"a": "changed while the service is down"})
		scanRun(t, j.sync(src, dst), "not running", src, dst)
	})
	t.Run("restarted", func(t *testing.T) {
		src, dst := dirs(t)
		writeTree(t, src, tree{"a": "a"})
		j := newJournalEnv(t, "--tree", src)
		j.start()
		scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
		j.kill()
		writeTree(t, src, tree{"a": "changed while the service is down"})
		j.start()
		scanRun(t, j.sync(src, dst), "restarted", src, dst)
		j.journalRun(j.sync(src, dst), src, dst, false)
	})
	t.Run("killed run", func(t *testing.T) {
		src, dst := dirs(t)
		writeTree(t, src, tree{"a": "a", "b": "b", "c": "c"})
		j := newJournalEnv(t, "--tree", src)
		j.start()
		scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
		writeTree(t, src, tree{"a": "a2", "b": "b2", "c": "c2"})
		j.settle(src)
		os.Setenv(crashEnv, "1")
		r := j.sync(src, dst)
		os.Unsetenv(crashEnv)
		if r.code == 0 {
			t.Fatalf("the run was not killed:\n%s", r.stderr)
		}
		scanRun(t, j.sync(src, dst), "did not end", src, dst)
	})
	t.Run("filters changed", func(t *testing.T) {
		src, dst := dirs(t)
		writeTree(t, src, tree{"a": "a", "x.tmp": "t"})
		j := newJournalEnv(t, "--tree", src)
		j.start()
		r := j.sync(src, dst, "-E", "*.tmp")
		mustCode(t, r, 0)
		r = j.sync(src, dst, "-E", "*.tmp") // same filters: the journal
		mustCode(t, r, 0)
		if why := fullScan(r); why != "" {
			t.Fatalf("same filters: scanned in full (%s)", why)
		}
		equalTrees(t, readTree(t, dst), tree{"a": "a"})
		r = j.sync(src, dst)
		scanRun(t, r, "filters", src, dst)
	})
	t.Run("compacted", func(t *testing.T) {
		src, dst := dirs(t)
		writeTree(t, src, tree{"a": "a"})
		j := newJournalEnv(t, "--tree", src, "--max-entries", "8")
		j.start()
		scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
		for i := range 30 {
			writeTree(t, src, tree{fmt.Sprint("f", i): "x"})
		}
		j.settle(src)
		time.Sleep(1500 * time.Millisecond) // compaction runs every second
		scanRun(t, j.sync(src, dst), "compacted", src, dst)
	})
	t.Run("remounted", func(t *testing.T) {
		src, dst := dirs(t)
		mnt := filepath.Join(src, "mnt")
		writeTree(t, src, tree{"a": "a", "mnt/under": "hidden by the mount"})
		j := newJournalEnv(t, "--tree", src)
		j.start()
		scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
		if out, err := exec.Command("mount", "-t", "tmpfs", "none", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		writeTree(t, src, tree{"mnt/on-tmpfs": "t"})
		r := j.sync(src, dst)
		mustCode(t, r, 0)
		if why := fullScan(r); !strings.Contains(why, "mounted") {
			t.Fatalf("reason %q, want a mount\n%s", why, r.stderr)
		}
		if err := exec.Command("umount", mnt).Run(); err != nil {
			t.Fatal(err)
		}
		r = j.sync(src, dst)
		mustCode(t, r, 0)
		if why := fullScan(r); !strings.Contains(why, "mounted") {
			t.Fatalf("after umount: reason %q, want a mount\n%s", why, r.stderr)
		}
	})
}

// TestWatchdKilledConverges kills the service at random moments, around
// random changes: every run after must scan in full and converge.
func TestWatchdKilledConverges(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a", "d/b": "b"})
	j := newJournalEnv(t, "--tree", src)
	j.start()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 20))
	scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
	for round := range 6 {
		done := make(chan struct{})
		names := make([]int, 40)
		for i := range names {
			names[i] = rng.IntN(20)
		}
		go func() {
			defer close(done)
			for i, n := range names {
				os.WriteFile(filepath.Join(src, "d", fmt.Sprintf("r%d-%d", round, n)), []byte(fmt.Sprint(i)), 0o644)
				if i%7 == 0 {
					os.RemoveAll(filepath.Join(src, "d", fmt.Sprintf("r%d-%d", round, names[(i+3)%len(names)])))
				}
			}
		}()
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		j.kill()
		<-done
		want := "restarted"
		if rng.IntN(2) == 0 {
			scanRun(t, j.sync(src, dst), "not running", src, dst)
			want = "not running at the last run"
		}
		j.start()
		scanRun(t, j.sync(src, dst), want, src, dst)
		writeTree(t, src, tree{fmt.Sprint("after", round): "x"})
		j.settle(src)
		j.journalRun(j.sync(src, dst), src, dst, false)
	}
}

// TestWatchdContinuous: -C's first round reads the journal, its rounds
// keep the cursor moving, and a one-time run after it reads the journal.
func TestWatchdContinuous(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a", "d/b": "b"})
	j := newJournalEnv(t, "--tree", src)
	j.start()
	scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
	writeTree(t, src, tree{"a": "changed before -C"})
	j.settle(src)
	f := startFollowing(t, j.state, nil, "--watchd", "-N", "j", "-d", src, "-r", dst, "-K", "push", "-C", "--cooloff", "1")
	eventually(t, "first round", func() bool { return readTree(t, dst)["a"] == "changed before -C" })
	writeTree(t, src, tree{"d/c": "during -C"})
	eventually(t, "a round", func() bool { return readTree(t, dst)["d/c"] == "during -C" })
	if code := f.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, f.out)
	}
	if strings.Contains(f.out.String(), "scanned in full") {
		t.Errorf("-C scanned in full:\n%s", f.out)
	}
	logb, _ := os.ReadFile(filepath.Join(j.state, "async", "log", "async-j.log"))
	if !strings.Contains(string(logb), "watchd: changes from the journal") {
		t.Errorf("-C did not read the journal")
	}
	writeTree(t, src, tree{"d/e": "after -C"})
	j.settle(src)
	j.journalRun(j.sync(src, dst), src, dst, false)
}

// TestWatchdEmptiedDestinationStillHalts: with nothing changed at the
// source, an emptied destination is not waved through: the engine runs
// and its safety check stops the run, as without --watchd.
func TestWatchdEmptiedDestinationStillHalts(t *testing.T) {
	src, dst := dirs(t)
	files := tree{}
	for i := range 20 {
		files[fmt.Sprint("f", i)] = "x"
	}
	writeTree(t, src, files)
	j := newJournalEnv(t, "--tree", src)
	j.start()
	scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
	j.journalRun(j.sync(src, dst), src, dst, false)
	entries, _ := os.ReadDir(dst)
	for _, e := range entries {
		if e.Name() != ".private-asp" {
			os.RemoveAll(filepath.Join(dst, e.Name()))
		}
	}
	r := j.sync(src, dst)
	if strings.Contains(j.log, "nothing changed at the source") {
		t.Fatalf("an emptied destination was skipped:\n%s", j.log)
	}
	if r.code == 0 && len(readTree(t, dst)) != len(files) {
		t.Fatalf("exit 0 and the destination not restored:\n%s", r.stderr)
	}
}

func TestWatchdStatusAndBadInput(t *testing.T) {
	src, _ := dirs(t)
	j := newJournalEnv(t, "--tree", src)
	run := func(args ...string) result {
		cmd := exec.Command(asyncBin, args...)
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+j.state)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return result{code, so.String(), se.String()}
	}
	if r := run("watchd", "--status"); r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("no service: exit %d %q", r.code, r.stderr)
	}
	j.start()
	writeTree(t, src, tree{"f": "x"})
	j.settle(src)
	r := run("watchd", "--status")
	mustCode(t, r, 0)
	for _, want := range []string{"cursor", realPathT(t, src), "WATCHER", "EVENTS/S", "LAST OVERFLOW", "never", "watching"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--status lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run("watchd", "--status", "--json")
	mustCode(t, r, 0)
	var st watchd.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Trees) != 1 || st.Trees[0].Events == 0 || st.Cursor == 0 {
		t.Errorf("--status --json: %v %+v\n%s", err, st, r.stdout)
	}
	// The watcher in use is shown: fanotify, or inotify and why not.
	if w := st.Trees[0].Watcher; !(w == watchd.WatcherFanotify || strings.HasPrefix(w, watchd.WatcherInotify+" (")) || !strings.Contains(r.stdout, `"watcher"`) {
		t.Errorf("--status --json: watcher %q", w)
	} else {
		t.Logf("watcher: %s", w)
	}
	// A second service on the same socket is refused; bad options touch nothing.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"watchd", "--tree", src}, 1, "another async watchd"},
		{[]string{"watchd", "--tree", filepath.Join(src, "missing")}, 2, "option --tree"},
		{[]string{"watchd"}, 2, "no tree to watch"},
		{[]string{"watchd", "--tree", src, "--max-entries", "0"}, 2, "option --max-entries"},
		{[]string{"watchd", "--tree", src, "--json"}, 2, "only with --status"},
		{[]string{"watchd", "--tree", src, "--watcher", "dnotify"}, 2, "option --watcher"},
		{[]string{"watchd", "--config", filepath.Join(src, "nope.conf")}, 2, "option --config"},
		{[]string{"--watchd=redis", "-N", "x", "-d", src, "-r", t.TempDir()}, 2, "option --watchd"},
	} {
		r := run(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%q: exit %d %q, want %d and one line saying %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}

func TestWatchdConfigFile(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a"})
	conf := filepath.Join(t.TempDir(), "watchd.conf")
	os.WriteFile(conf, []byte("# trees\ntree "+src+"\nmax-entries 1000\nwatcher inotify\n"), 0o644)
	j := newJournalEnv(t, "--config", conf)
	j.start()
	if a, err := watchd.Ask(context.Background(), j.socket(), watchd.Request{Op: "status"}, 5*time.Second); err != nil || a.Status.Trees[0].Watcher != watchd.WatcherInotify {
		t.Fatalf("the config's watcher: %v %+v", err, a)
	}
	scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
	writeTree(t, src, tree{"b": "b"})
	j.settle(src)
	j.journalRun(j.sync(src, dst), src, dst, false)
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("trees /x\n"), 0o644)
	cmd := exec.Command(asyncBin, "watchd", "--config", bad)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.conf:1: unknown setting") {
		t.Errorf("bad config: %v %s", err, out)
	}
}

// TestWatchdPullAndBidi: the journal serves the remote side of a pull
// (a local directory) and both sides of bidi.
func TestWatchdPullAndBidi(t *testing.T) {
	base := t.TempDir()
	l, r := filepath.Join(base, "l"), filepath.Join(base, "r")
	writeTree(t, r, tree{"from-r": "r"})
	writeTree(t, l, tree{"from-l": "l"})
	j := newJournalEnv(t, "--tree", base)
	j.start()
	run := func(dir string, extra ...string) result {
		return j.syncDir("p-"+dir, l, r, dir, extra...)
	}
	// pull
	res := run("pull")
	mustCode(t, res, 0)
	writeTree(t, r, tree{"r2": "new at r"})
	j.settle(r)
	res = run("pull")
	mustCode(t, res, 0)
	if why := fullScan(res); why != "" || strings.Contains(res.stderr, "remote side is scanned in full") {
		t.Errorf("pull: scanned in full:\n%s", res.stderr)
	}
	if readTree(t, l)["r2"] != "new at r" {
		t.Errorf("pull: r2 not pulled:\n%s", res.stdout)
	}
	// bidi, another session
	lb, rb := filepath.Join(base, "lb"), filepath.Join(base, "rb")
	writeTree(t, lb, tree{"x": "x"})
	writeTree(t, rb, tree{"y": "y"})
	mustCode(t, j.syncDir("b", lb, rb, "bidi"), 0)
	writeTree(t, lb, tree{"x2": "x2"})
	writeTree(t, rb, tree{"y2": "y2"})
	j.settle(lb)
	j.settle(rb)
	res = j.syncDir("b", lb, rb, "bidi")
	mustCode(t, res, 0)
	if strings.Contains(res.stderr, "scanned in full") {
		t.Errorf("bidi: scanned in full:\n%s", res.stderr)
	}
	equalTrees(t, readTree(t, lb), readTree(t, rb))
	equalTrees(t, readTree(t, lb), tree{"x": "x", "y": "y", "x2": "x2", "y2": "y2"})
}

// syncDir runs a session with --watchd in a direction.
func (j *journalEnv) syncDir(name, l, r, dir string, extra ...string) result {
	t := j.t
	t.Helper()
	return runBin(t, asyncBin, j.state, nil, append([]string{"--watchd", "-N", name, "-d", l, "-r", r, "-K", dir}, extra...)...)
}

// snapshotFiles lists the files of the snapshots below roots (the
// directories holding a MANIFEST, the service's journal left out), each
// with its size and modification time, and each directory's own time:
// what opening and closing a snapshot changes.
func snapshotFiles(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	snaps := map[string]bool{}
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == "watchd" {
				return filepath.SkipDir
			}
			if err == nil && d.Name() == "MANIFEST" {
				snaps[filepath.Dir(p)] = true
			}
			return nil
		})
	}
	if len(snaps) != 2 {
		t.Fatalf("snapshots below %q: %v, want two", roots, snaps)
	}
	files := map[string]string{}
	for dir := range snaps {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		// The directory's own time: a run that opens a snapshot without
		// writing to it changes no file of Badger's, but writes and
		// removes the pid file beside them.
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		files[dir] = fmt.Sprint(fi.ModTime().UnixNano())
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Join(dir, e.Name())] = fmt.Sprint(fi.Size(), " ", fi.ModTime().UnixNano())
		}
	}
	return files
}

// TestWatchdNoChangeLeavesSnapshotsClosed: a push whose source did not
// change is settled from the copies of the snapshots' identities, without
// opening them; a snapshot without its copy is opened, with the same
// answer; a run with changes writes the copies again.
func TestWatchdNoChangeLeavesSnapshotsClosed(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a", "d/b": "b"})
	j := newJournalEnv(t, "--tree", src)
	j.start()
	scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
	noChange := func() {
		t.Helper()
		j.journalRun(j.sync(src, dst), src, dst, false)
		if !strings.Contains(j.log, "nothing changed at the source since the last complete run") {
			t.Fatalf("a no-change run ran the engine:\n%s", j.log)
		}
	}
	before := snapshotFiles(t, j.state, src, dst)
	noChange()
	if after := snapshotFiles(t, j.state, src, dst); !maps.Equal(after, before) {
		t.Errorf("a no-change run touched the snapshots:\nbefore %v\nafter  %v", before, after)
	}

	// Without the copy of an identity the snapshots are opened: same
	// answer, and the copy is not made up by reading (only a run that
	// records its identity writes it).
	var copies []string
	for p := range before {
		if filepath.Base(p) == "meta.json" {
			copies = append(copies, p)
		}
	}
	if len(copies) != 2 {
		t.Fatalf("identity copies %q, want one per snapshot: %v", copies, before)
	}
	if err := os.Remove(copies[1]); err != nil {
		t.Fatal(err)
	}
	before = snapshotFiles(t, j.state, src, dst)
	noChange()
	if after := snapshotFiles(t, j.state, src, dst); maps.Equal(after, before) {
		t.Errorf("a run without an identity copy did not open the snapshots: %v", after)
	}

	writeTree(t, src, tree{"a": "a2"})
	j.settle(src)
	j.journalRun(j.sync(src, dst), src, dst, false)
	for _, p := range copies {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after a run with changes: %v", err)
		}
	}
	before = snapshotFiles(t, j.state, src, dst)
	noChange()
	if after := snapshotFiles(t, j.state, src, dst); !maps.Equal(after, before) {
		t.Errorf("a no-change run touched the snapshots:\nbefore %v\nafter  %v", before, after)
	}
}
