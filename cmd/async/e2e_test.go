package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/internal/progress"
	"github.com/async-sync/async/internal/testnet"
	"github.com/async-sync/async/plugins"
)

// asyncBin is the binary built once for the end-to-end tests.
var asyncBin string

func TestMain(m *testing.M) {
	if os.Getenv(plugins.MagicCookieKey) != "" { // started as a plugin (retry_test.go)
		flakyPlugin()
		return
	}
	dir, err := os.MkdirTemp("", "async-e2e-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // other users run it too
	// The plugins' sockets go in it: a plugin killed by a test (with the
	// run that started it) leaves its socket behind.
	os.Setenv("PLUGIN_UNIX_SOCKET_DIR", dir)
	asyncBin = filepath.Join(dir, "async")
	if err := testnet.AsyncBinary(asyncBin); err != nil {
		panic(err)
	}
	code := m.Run()
	stopServers()
	os.RemoveAll(dir)
	if pluginDir != "" {
		os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// lines returns stdout's per-entry lines, sorted.
func (r result) lines() []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if l != "" {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	slices.Sort(out)
	return out
}

func runAsync(t *testing.T, args ...string) result {
	t.Helper()
	return runAsyncAs(t, nil, args...)
}

// runAsyncAs runs the binary, as another user when cred is set.
func runAsyncAs(t *testing.T, cred *syscall.Credential, args ...string) result {
	t.Helper()
	cmd := exec.Command(asyncBin, args...)
	state := filepath.Join(t.TempDir(), "state")
	if cred != nil {
		// The user's own state directory, outside the test's private
		// temporary directory, one per run: parallel tests and test
		// processes share none.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		d, err := os.MkdirTemp("", "async-e2e-state-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
		state = d
	}
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	return runCmd(t, cmd)
}

// runCmd runs cmd, its output captured: a failure to start it fails the
// test, an exit code is the result's.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", cmd.Path, err)
	}
	return result{code, so.String(), se.String()}
}

// runBin runs the program bin with its own state directory and extra
// environment.
func runBin(t *testing.T, bin, state string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "XDG_STATE_HOME="+state), env...)
	return runCmd(t, cmd)
}

// tree describes files (path → content); a path ending in "/" is a directory.
type tree map[string]string

func writeTree(t *testing.T, root string, tr tree) {
	t.Helper()
	for p, c := range tr {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree reads a tree back, leaving out the private area.
func readTree(t *testing.T, root string) tree {
	t.Helper()
	tr := tree{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if d.Name() == ".private-asp" {
			return filepath.SkipDir
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			tr[rel+"/"] = ""
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tr[rel] = "-> " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tr[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func equalTrees(t *testing.T, got, want tree) {
	t.Helper()
	for p, c := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("missing %s", p)
		} else if g != c {
			t.Errorf("%s = %q, want %q", p, g, c)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s", p)
		}
	}
}

func mustCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
}

func dirs(t *testing.T) (src, dst string) { return dirsIn(t, t.TempDir()) }

// memDirs is dirs in memory (/dev/shm) where there is one: for tests whose
// size (many files, many runs), not the disk, is the point.
func memDirs(t *testing.T) (src, dst string) { return dirsIn(t, memTempDir(t)) }

// memTempDir is t.TempDir in /dev/shm when it can be made there.
func memTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "async-e2e-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func dirsIn(t *testing.T, base string) (src, dst string) {
	t.Helper()
	src, dst = filepath.Join(base, "src"), filepath.Join(base, "dst")
	for _, d := range []string{src, dst} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return src, dst
}

var sample = tree{
	"a.txt":                  "alpha",
	"docs/":                  "",
	"docs/report.txt":        "report v1",
	"docs/deep/x/y/z.bin":    strings.Repeat("z", 3<<20),
	"empty/":                 "",
	"with space/ünïcødé.txt": "unicode",
	".hidden":                "dot",
}

func TestPushPropagatesAndSecondRunIsNoOp(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, sample)
	r := runAsync(t, "-N", "job1", "-d", src, "-r", dst)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), readTree(t, src))
	if !slices.Contains(r.lines(), "/docs/report.txt SYNCHRONIZED") {
		t.Errorf("no SYNCHRONIZED line for /docs/report.txt in:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "job1: push done") {
		t.Errorf("no summary on stderr: %s", r.stderr)
	}

	r = runAsync(t, "-N", "job1", "-d", src, "-r", dst)
	mustCode(t, r, 0)
	if r.stdout != "" {
		t.Errorf("second run printed entries:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, " 0 files (0 B) transferred") {
		t.Errorf("second run transferred something: %s", r.stderr)
	}

	// Changes and deletions propagate.
	time.Sleep(10 * time.Millisecond)
	writeTree(t, src, tree{"docs/report.txt": "report v2, longer", "new/dir/n.txt": "new"})
	if err := os.Remove(filepath.Join(src, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "docs/deep")); err != nil {
		t.Fatal(err)
	}
	r = runAsync(t, "-N", "job1", "-d", src, "-r", dst)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), readTree(t, src))
	for _, want := range []string{"/a.txt SYNCHRONIZED(del)", "/docs/deep SYNCHRONIZED(del)", "/docs/report.txt SYNCHRONIZED", "/new/dir/n.txt SYNCHRONIZED"} {
		if !slices.Contains(r.lines(), want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
}

func TestPull(t *testing.T) {
	t.Parallel()
	local, remote := dirs(t)
	writeTree(t, remote, sample)
	writeTree(t, local, tree{"local-only.txt": "mine"})
	remoteBefore := readTree(t, remote)
	r := runAsync(t, "-N", "p", "-d", local, "-r", remote, "-K", "pull")
	mustCode(t, r, 0)
	want := readTree(t, remote)
	want["local-only.txt"] = "mine" // never in the snapshot: left alone
	equalTrees(t, readTree(t, local), want)
	// The remote side is never written in a pull.
	equalTrees(t, readTree(t, remote), remoteBefore)
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, sample)
	r := runAsync(t, "-N", "dry", "-d", src, "-r", dst, "--dry-run")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "copy /docs/report.txt 9 B") {
		t.Errorf("plan lacks the copy:\n%s", r.stdout)
	}
	if got := readTree(t, dst); len(got) != 0 {
		t.Errorf("dry run wrote %v", got)
	}
	for _, d := range []string{src, dst} {
		if _, err := os.Stat(filepath.Join(d, ".private-asp")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dry run created %s/.private-asp", d)
		}
	}
}

func TestDryRunJSONPlan(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, sample)
	writeTree(t, dst, tree{"a.txt": "old!!"})
	r := runAsync(t, "-N", "js", "-d", src, "-r", dst, "--dry-run", "--plan-format=json")
	mustCode(t, r, 0)
	var doc struct {
		Version   int    `json:"version"`
		Session   string `json:"session"`
		Direction string `json:"direction"`
		Local     string `json:"local"`
		Actions   []struct {
			Op           string          `json:"op"`
			Side         string          `json:"side"`
			Path         string          `json:"path"`
			Size         int64           `json:"size"`
			ExpectSource map[string]any  `json:"expect_source"`
			ExpectDest   json.RawMessage `json:"expect_dest"`
		} `json:"actions"`
		Totals map[string]int64 `json:"totals"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("plan is not JSON: %v\n%s", err, r.stdout)
	}
	if doc.Version != 1 || doc.Session != "js" || doc.Direction != "push" || doc.Local != "file://"+realPathT(t, src) {
		t.Errorf("header = %+v", doc)
	}
	found := false
	for _, a := range doc.Actions {
		if a.Path == "/a.txt" {
			found = true
			if a.Op != "copy" || a.Side != "remote" || a.Size != 5 || string(a.ExpectDest) == "null" {
				t.Errorf("action for /a.txt = %+v (expect_dest %s)", a, a.ExpectDest)
			}
		}
	}
	if !found || doc.Totals["copy"] != 5 {
		t.Errorf("actions %+v totals %v", doc.Actions, doc.Totals)
	}
}

func realPathT(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOverwritePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o        string
		want     string
		code     int
		wantLine string
	}{
		{"always", "source", 0, "/f SYNCHRONIZED"},
		{"conflict", "dest!!", 3, "/f CONFLICT"},
		{"older", "source", 0, "/f SYNCHRONIZED"}, // destination is older
	} {
		t.Run(tc.o, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, dst, tree{"f": "dest!!"})
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(filepath.Join(dst, "f"), old, old); err != nil {
				t.Fatal(err)
			}
			writeTree(t, src, tree{"f": "source"})
			r := runAsync(t, "-N", "o", "-d", src, "-r", dst, "-o", tc.o)
			mustCode(t, r, tc.code)
			if got := readTree(t, dst)["f"]; got != tc.want {
				t.Errorf("dest f = %q, want %q", got, tc.want)
			}
			if !slices.Contains(r.lines(), tc.wantLine) {
				t.Errorf("missing %q in %q", tc.wantLine, r.stdout)
			}
		})
	}
}

func TestIgnoreDeleteAndPreserve(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	src, dst := dirs(t)
	writeTree(t, src, tree{"keep.txt": "k", "x/y.txt": "y"})
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "keep.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "keep.txt"), 0o640); err != nil {
		t.Fatal(err)
	}
	mustCode(t, runAsync(t, "-N", "i", "-d", src, "-r", dst, "-t", "-u", "-j"), 0)
	fi, err := os.Stat(filepath.Join(dst, "keep.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o640 {
		t.Errorf("dest keep.txt mtime %v mode %v, want %v 0640", fi.ModTime(), fi.Mode().Perm(), mtime)
	}
	if err := os.RemoveAll(filepath.Join(src, "x")); err != nil {
		t.Fatal(err)
	}
	r := runAsync(t, "-N", "i", "-d", src, "-r", dst, "-t", "-u", "-j", "--ignore-delete")
	mustCode(t, r, 0)
	if _, err := os.Stat(filepath.Join(dst, "x/y.txt")); err != nil {
		t.Errorf("--ignore-delete deleted x/y.txt: %v", err)
	}
	// Without --ignore-delete, the earlier deletion is not replayed: it was
	// forgotten on purpose.
	r = runAsync(t, "-N", "i", "-d", src, "-r", dst, "-t", "-u", "-j")
	mustCode(t, r, 0)
	if _, err := os.Stat(filepath.Join(dst, "x/y.txt")); err != nil {
		t.Errorf("a deletion ignored once was propagated later: %v", err)
	}
}

func TestSymlinks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode string
		want string // what dst/link is after the run; "" = absent
	}{
		{"copy", "-> target.txt"},
		{"follow", "content"},
		{"skip", ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, src, tree{"target.txt": "content"})
			if err := os.Symlink("target.txt", filepath.Join(src, "link")); err != nil {
				t.Fatal(err)
			}
			mustCode(t, runAsync(t, "-N", "l", "-d", src, "-r", dst, "-n", tc.mode), 0)
			got, ok := readTree(t, dst)["link"]
			if tc.want == "" {
				if ok {
					t.Errorf("link synchronized with -n skip: %q", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("dst link = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChecksumModesAndThreads(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"sha1", "md5", "sha256", "sha1-sparse", "md5_sparse", "none"} {
		t.Run(k, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, src, sample)
			mustCode(t, runAsync(t, "-N", "k", "-d", src, "-r", dst, "-k", k, "--transfer-threads", "4:1m", "--transfer-threads", "2"), 0)
			equalTrees(t, readTree(t, dst), readTree(t, src))
			// Touch a small file without changing it: only its time moved.
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(filepath.Join(src, "a.txt"), later, later); err != nil {
				t.Fatal(err)
			}
			r := runAsync(t, "-N", "k", "-d", src, "-r", dst, "-k", k, "-t")
			mustCode(t, r, 0)
			want := "/a.txt SYNCHRONIZED"
			if k != "none" {
				want = "/a.txt SYNCHRONIZED(mov)" // proven equal by its fingerprint: attributes only
			}
			if !slices.Contains(r.lines(), want) {
				t.Errorf("missing %q in %q", want, r.stdout)
			}
		})
	}
}

func TestSessionIdentityAndReset(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "1"})
	mustCode(t, runAsync(t, "-N", "s", "-d", src, "-r", dst), 0)
	r := runAsync(t, "-N", "s", "-d", src, "-r", dst, "-K", "pull")
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, "--reset") {
		t.Errorf("refusal does not name --reset: %s", r.stderr)
	}
	mustCode(t, runAsync(t, "-N", "s", "-d", src, "-r", dst, "-K", "pull", "-x"), 0)
	// A snapshot on one side only is refused too.
	if err := os.RemoveAll(filepath.Join(dst, ".private-asp")); err != nil {
		t.Fatal(err)
	}
	r = runAsync(t, "-N", "s", "-d", src, "-r", dst, "-K", "pull")
	mustCode(t, r, 2)
	if !strings.Contains(r.stderr, "--reset") {
		t.Errorf("refusal does not name --reset: %s", r.stderr)
	}
}

func TestEmptiedRootHalts(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "1", "g": "2"})
	mustCode(t, runAsync(t, "-N", "h", "-d", src, "-r", dst), 0)
	for _, n := range []string{"f", "g"} {
		os.Remove(filepath.Join(src, n))
	}
	r := runAsync(t, "-N", "h", "-d", src, "-r", dst)
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "--force-deletes") || len(readTree(t, dst)) != 2 {
		t.Errorf("halt message %q, dest %v", r.stderr, readTree(t, dst))
	}
	mustCode(t, runAsync(t, "-N", "h", "-d", src, "-r", dst, "--force-deletes"), 0)
	if got := readTree(t, dst); len(got) != 0 {
		t.Errorf("dest after --force-deletes: %v", got)
	}
}

func TestMaxDeletes(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "1", "b": "2", "c": "3"})
	mustCode(t, runAsync(t, "-N", "m", "-d", src, "-r", dst), 0)
	os.Remove(filepath.Join(src, "a"))
	os.Remove(filepath.Join(src, "b"))
	r := runAsync(t, "-N", "m", "-d", src, "-r", dst, "--max-deletes", "1")
	mustCode(t, r, 1)
	if len(readTree(t, dst)) != 3 {
		t.Errorf("deleted despite --max-deletes")
	}
	mustCode(t, runAsync(t, "-N", "m", "-d", src, "-r", dst, "--max-deletes", "1", "--force-deletes"), 0)
	if len(readTree(t, dst)) != 1 {
		t.Errorf("dest after --force-deletes: %v", readTree(t, dst))
	}
}

func TestUnreadableFileIsAnErrorOthersGoOn(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// Root reads everything: run async as nobody on trees nobody owns.
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		base := filepath.Dir(src)
		for _, d := range []string{base, src, dst} {
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Dir(base), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTree(t, src, tree{"ok.txt": "fine", "locked.bin": "secret"})
	for _, n := range []string{"ok.txt", "locked.bin"} {
		if cred != nil {
			if err := os.Chown(filepath.Join(src, n), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chmod(filepath.Join(src, "locked.bin"), 0); err != nil {
		t.Fatal(err)
	}
	r := runAsyncAs(t, cred, "-N", "u", "-d", src, "-r", dst)
	mustCode(t, r, 3)
	if readTree(t, dst)["ok.txt"] != "fine" {
		t.Errorf("ok.txt not copied")
	}
	if !strings.Contains(r.stdout, "/locked.bin  ERROR: ") {
		t.Errorf("no ERROR line for /locked.bin:\n%s", r.stdout)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "1"})
	inside := filepath.Join(src, "sub")
	for _, tc := range []struct {
		name string
		args []string
		want string // in the one-line message
	}{
		{"no -N", []string{"-d", src, "-r", dst}, "-N"},
		{"no -d", []string{"-N", "x", "-r", dst}, "-d"},
		{"no -r", []string{"-N", "x", "-d", src}, "-r"},
		{"bad -N", []string{"-N", "a/b", "-d", src, "-r", dst}, "session name"},
		{"unknown flag", []string{"-N", "x", "-d", src, "-r", dst, "--frobnicate"}, "--frobnicate"},
		{"bad -K", []string{"-N", "x", "-d", src, "-r", dst, "-K", "sideways"}, "-K"},
		{"bad -o", []string{"-N", "x", "-d", src, "-r", dst, "-o", "never"}, "-o"},
		{"bad -k", []string{"-N", "x", "-d", src, "-r", dst, "-k", "crc"}, "-k"},
		{"bad -n", []string{"-N", "x", "-d", src, "-r", dst, "-n", "maybe"}, "-n"},
		{"bad -H", []string{"-N", "x", "-d", src, "-r", dst, "-H", "extreme"}, "-H"},
		{"bad time", []string{"-N", "x", "-d", src, "-r", dst, "--exclude-dirs-older-than", "soon"}, "--exclude-dirs-older-than"},
		{"bad rate", []string{"-N", "x", "-d", src, "-r", dst, "-l", "5x"}, "-l"},
		{"bad size", []string{"-N", "x", "-d", src, "-r", dst, "--transfer-threads", "4:1q"}, "--transfer-threads"},
		{"missing dir", []string{"-N", "x", "-d", filepath.Join(src, "nope"), "-r", dst}, "--create-dir"},
		{"log inside tree", []string{"-L", inside, "-N", "x", "-d", src, "-r", dst}, "-L"},
		{"db inside tree", []string{"-N", "x", "-d", src, "-r", dst, "-b", inside}, "-b"},
		{"same dirs", []string{"-N", "x", "-d", src, "-r", src}, "same"},
		{"nested dirs", []string{"-N", "x", "-d", src, "-r", inside, "--create-dir"}, "inside"},
		{"o always bidi", []string{"-N", "x", "-d", src, "-r", dst, "-K", "bidi", "-o", "always"}, "bidi"},
		{"user without host", []string{"-N", "x", "-d", src, "-r", dst, "--user", "bob"}, "--user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runAsync(t, tc.args...)
			mustCode(t, r, 2)
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.want) {
				t.Errorf("message %q: want one line naming %q", msg, tc.want)
			}
			if got := readTree(t, dst); len(got) != 0 {
				t.Errorf("bad input touched the destination: %v", got)
			}
			if _, err := os.Stat(filepath.Join(src, ".private-asp")); err == nil {
				t.Errorf("bad input created a snapshot")
			}
			if _, err := os.Stat(inside); err == nil {
				t.Errorf("bad input created %s", inside)
			}
		})
	}
}

func TestCompatFlagsWarn(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "1"})
	r := runAsync(t, "-N", "c", "-d", src, "-r", dst, "-O", "33001", "--no-scan")
	mustCode(t, r, 0)
	for _, f := range []string{"-O", "--no-scan"} {
		if !strings.Contains(r.stderr, "warning: option "+f) {
			t.Errorf("no warning for %s in %q", f, r.stderr)
		}
	}
}

func TestKilledRunResumesWithoutRedoingWork(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	big := tree{}
	for i := range 20 {
		big[fmt.Sprintf("f%02d", i)] = strings.Repeat(string(rune('a'+i)), 512<<10)
	}
	writeTree(t, src, big)
	// 512 KiB files at 16 Mbit/s (2 MB/s), one worker: about 5 s in all,
	// killed once a few files are done.
	cmd := exec.Command(asyncBin, "-N", "k", "-d", src, "-r", dst, "-l", "16m", "--transfer-threads", "1")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"))
	var so syncBuffer
	cmd.Stdout = &so
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "three files done", func() bool { return strings.Count(so.String(), "SYNCHRONIZED") >= 3 })
	cmd.Process.Kill()
	cmd.Wait()
	done := strings.Count(so.String(), "SYNCHRONIZED")
	if done == 0 || done == 20 {
		t.Fatalf("killed run finished %d of 20 files; the test needs a partial run", done)
	}
	r := runAsync(t, "-N", "k", "-d", src, "-r", dst)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), big)
	redone := 0
	for _, l := range r.lines() {
		if strings.HasSuffix(l, " SYNCHRONIZED") {
			redone++
		}
	}
	// What finished before the kill is not sent again (at most the entry
	// in flight and the last ~200 ms of records may be re-examined).
	if redone > 20-done+1 {
		t.Errorf("rerun transferred %d files; %d were done before the kill", redone, done)
	}
}

func TestRenameDetectionMovesInsteadOfCopying(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"big.bin": strings.Repeat("b", 2<<20), "dir/a": "a", "dir/sub/b": "b"})
	args := []string{"-N", "mv", "-d", src, "-r", dst, "--scan-file-rename", "--scan-dir-rename"}
	mustCode(t, runAsync(t, args...), 0)
	inode := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := inode(filepath.Join(dst, "big.bin"))
	if err := os.Rename(filepath.Join(src, "big.bin"), filepath.Join(src, "moved.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(src, "dir"), filepath.Join(src, "dir2")); err != nil {
		t.Fatal(err)
	}
	r := runAsync(t, args...)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), readTree(t, src))
	// A rename shows where it came from and where it went.
	for _, want := range []string{"/big.bin -> /moved.bin SYNCHRONIZED(mov)", "/dir -> /dir2 SYNCHRONIZED(mov)"} {
		if !slices.Contains(r.lines(), want) {
			t.Errorf("missing %q in:\n%s", want, r.stdout)
		}
	}
	if after := inode(filepath.Join(dst, "moved.bin")); after != before {
		t.Errorf("moved.bin was copied (inode %d → %d), not renamed", before, after)
	}
	// The moved entries are recorded: a third run does nothing.
	r = runAsync(t, args...)
	mustCode(t, r, 0)
	if r.stdout != "" {
		t.Errorf("third run printed:\n%s", r.stdout)
	}
}

func TestMountSignature(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "1", ".mounted": ""})
	r := runAsync(t, "-N", "m", "-d", src, "-r", dst, "--remote-mount-signature", ".mounted")
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "mount signature") || len(readTree(t, dst)) != 0 {
		t.Errorf("missing signature: %q, dest %v", r.stderr, readTree(t, dst))
	}
	mustCode(t, runAsync(t, "-N", "m", "-d", src, "-r", dst, "--local-mount-signature", ".mounted"), 0)
}

func TestOwnersWithoutPrivilegeWarnOnce(t *testing.T) {
	t.Parallel()
	testnet.NeedRoot(t, "the test runs async as another user over root-owned files")
	src, dst := dirs(t)
	base := filepath.Dir(src)
	os.Chmod(filepath.Dir(base), 0o755)
	os.Chmod(base, 0o755)
	writeTree(t, src, tree{"a": "1", "b": "2"}) // owned by root, readable by all
	os.Chown(dst, 65534, 65534)
	db := filepath.Join(os.TempDir(), fmt.Sprintf("async-e2e-db-%d", time.Now().UnixNano())) // where the other user may create it
	t.Cleanup(func() { os.RemoveAll(db) })
	r := runAsyncAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "-N", "o", "-d", src, "-r", dst, "-u", "-b", db)
	mustCode(t, r, 0)
	if strings.Count(r.stderr, "cannot set owners") != 1 {
		t.Errorf("want one owner warning:\n%s", r.stderr)
	}
	if got := readTree(t, dst); got["a"] != "1" || got["b"] != "2" {
		t.Errorf("files not copied: %v", got)
	}
}

// TestPushDestinationChanges covers what a push finds at a destination it
// does not scan in full: user changes there are left alone, and what the
// source changes is still checked against the real destination.
func TestPushDestinationChanges(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"gone/a": "a", "kept/f": "v1", "x": "x"})
	args := []string{"-N", "d", "-d", src, "-r", dst, "-B", filepath.Join(t.TempDir(), "rdb")}
	mustCode(t, runAsync(t, args...), 0)
	// The source deletes gone/, where the destination's user added a file;
	// the destination's user deleted kept/, where the source changes f.
	os.RemoveAll(filepath.Join(src, "gone"))
	writeTree(t, dst, tree{"gone/mine": "user file"})
	os.RemoveAll(filepath.Join(dst, "kept"))
	writeTree(t, src, tree{"kept/f": "v2, longer"})
	r := runAsync(t, args...)
	mustCode(t, r, 0)
	got := readTree(t, dst)
	if got["gone/mine"] != "user file" || got["kept/f"] != "v2, longer" {
		t.Errorf("destination: %v\n%s", got, r.stdout)
	}
	if _, ok := got["gone/a"]; ok {
		t.Errorf("gone/a not deleted")
	}
	// An emptied destination (an unmounted disk) stops the run.
	os.RemoveAll(dst)
	os.Mkdir(dst, 0o755)
	writeTree(t, src, tree{"x": "x changed"})
	r = runAsync(t, args...)
	mustCode(t, r, 1)
	if !strings.Contains(r.stderr, "--force-deletes") || len(readTree(t, dst)) > 0 {
		t.Errorf("emptied destination: %q, wrote %v", r.stderr, readTree(t, dst))
	}
}

func TestPreserveAccessTime(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "content"})
	at := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	mt := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "f"), at, mt); err != nil {
		t.Fatal(err)
	}
	mustCode(t, runAsync(t, "-N", "a", "-d", src, "-r", dst, "-t", "--preserve-access-time"), 0)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dst, "f"), &st); err != nil {
		t.Fatal(err)
	}
	if got := time.Unix(st.Atim.Sec, st.Atim.Nsec); !got.Equal(at) {
		t.Errorf("destination atime %v, want %v", got, at)
	}
}

func TestPreserveXattrs(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "content", "d/g": "g"})
	if err := syscall.Setxattr(filepath.Join(src, "f"), "user.async-test", []byte("hello"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	syscall.Setxattr(filepath.Join(src, "d"), "user.dir", []byte("on a dir"), 0)
	args := []string{"-N", "x", "-d", src, "-r", dst, "--preserve-xattrs=native"}
	mustCode(t, runAsync(t, args...), 0)
	for p, want := range map[string]string{"f": "hello", "d": "on a dir"} {
		name := map[string]string{"f": "user.async-test", "d": "user.dir"}[p]
		buf := make([]byte, 64)
		n, err := syscall.Getxattr(filepath.Join(dst, p), name, buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("%s: xattr %q, %v; want %q", p, buf[:max(n, 0)], err, want)
		}
	}
	// Setting them moved no change token into a false change.
	if r := runAsync(t, args...); r.code != 0 || r.stdout != "" {
		t.Errorf("second run: %d\n%s", r.code, r.stdout)
	}
	if r := runAsync(t, "-N", "y", "-d", src, "-r", filepath.Join(t.TempDir(), "m"), "--create-dir", "--preserve-xattrs=metafile"); r.code != 0 || !strings.Contains(r.stderr, "natively") {
		t.Errorf("metafile: exit %d, %q", r.code, r.stderr)
	}
}

// posixACL encodes an access ACL (the kernel's xattr form) giving user
// 1234 read access besides the usual owner, group and other entries.
func posixACL() []byte {
	var b []byte
	le32 := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	le16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
	le32(2) // version
	for _, e := range []struct {
		tag, perm uint16
		id        uint32
	}{{0x01, 6, 0xffffffff}, {0x02, 4, 1234}, {0x04, 4, 0xffffffff}, {0x10, 4, 0xffffffff}, {0x20, 4, 0xffffffff}} {
		le16(e.tag)
		le16(e.perm)
		le32(e.id)
	}
	return b
}

func TestPreserveACLs(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "content"})
	acl := posixACL()
	if err := syscall.Setxattr(filepath.Join(src, "f"), "system.posix_acl_access", acl, 0); err != nil {
		t.Skipf("no POSIX ACLs here: %v", err)
	}
	mustCode(t, runAsync(t, "-N", "acl", "-d", src, "-r", dst, "--preserve-acls", "native"), 0)
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(filepath.Join(dst, "f"), "system.posix_acl_access", buf)
	if err != nil || !bytes.Equal(buf[:n], acl) {
		t.Errorf("destination ACL %x, %v; want %x", buf[:max(n, 0)], err, acl)
	}
}

func TestDedup(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "same content", "b": "same content", "c": "other"})
	if err := os.Link(filepath.Join(src, "c"), filepath.Join(src, "c-link")); err != nil {
		t.Fatal(err)
	}
	ino := func(p string) uint64 {
		fi, err := os.Stat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	r := runAsync(t, "-N", "h", "-d", src, "-r", dst, "-k", "sha1", "--dedup")
	mustCode(t, r, 0)
	if ino("a") != ino("b") || ino("c") != ino("c-link") || ino("a") == ino("c") {
		t.Errorf("hardlink dedup: inodes a=%d b=%d c=%d c-link=%d\n%s", ino("a"), ino("b"), ino("c"), ino("c-link"), r.stdout)
	}
	if !strings.Contains(r.stdout, "SYNCHRONIZED(ddp)") {
		t.Errorf("no (ddp) line:\n%s", r.stdout)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
	if r := runAsync(t, "-N", "h", "-d", src, "-r", dst, "-k", "sha1", "--dedup"); r.stdout != "" {
		t.Errorf("second run:\n%s", r.stdout)
	}

	src2, dst2 := dirs(t)
	writeTree(t, src2, tree{"x": "1", "y": "1"})
	os.Link(filepath.Join(src2, "x"), filepath.Join(src2, "x2"))
	mustCode(t, runAsync(t, "-N", "i", "-d", src2, "-r", dst2, "--dedup=inode"), 0)
	i := func(p string) uint64 { fi, _ := os.Stat(filepath.Join(dst2, p)); return fi.Sys().(*syscall.Stat_t).Ino }
	if i("x") != i("x2") || i("x") == i("y") {
		t.Errorf("inode dedup: x=%d x2=%d y=%d", i("x"), i("x2"), i("y"))
	}
	if r := runAsync(t, "-N", "j", "-d", src2, "-r", dst2, "--dedup"); r.code != 2 || !strings.Contains(r.stderr, "full checksum") {
		t.Errorf("hardlink without a full checksum: %d %q", r.code, r.stderr)
	}

	// copy: the duplicate is copied at the destination, not sent again.
	src3, dst3 := dirs(t)
	big := strings.Repeat("d", 3<<20)
	writeTree(t, src3, tree{"one": big, "two": big})
	r = runAsync(t, "-N", "c", "-d", src3, "-r", dst3, "-k", "sha256", "--dedup=copy")
	mustCode(t, r, 0)
	if got := readTree(t, dst3); got["one"] != big || got["two"] != big {
		t.Errorf("dedup copy: wrong contents")
	}
	if !strings.Contains(r.stderr, "(3.0 MiB) transferred") || !strings.Contains(r.stdout, "/two  SYNCHRONIZED(ddp)") {
		t.Errorf("dedup copy sent the duplicate:\n%s%s", r.stdout, r.stderr)
	}
	if i := func(p string) uint64 { fi, _ := os.Stat(filepath.Join(dst3, p)); return fi.Sys().(*syscall.Stat_t).Ino }; i("one") == i("two") {
		t.Errorf("dedup copy made a hard link")
	}
}

func TestWriteOwner(t *testing.T) {
	t.Parallel()
	testnet.NeedRoot(t, "setting owners needs root")
	src, dst := dirs(t)
	writeTree(t, src, tree{"f": "1", "d/g": "2"})
	group := "nogroup" // a name, to test the lookup, where the system has it
	if _, err := user.LookupGroup(group); err != nil {
		group = "65534"
	}
	mustCode(t, runAsync(t, "-N", "w", "-d", src, "-r", dst, "--write-uid", "65534", "--write-gid", group), 0)
	for _, p := range []string{"f", "d", "d/g"} {
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s owned by %d:%d, want 65534:65534", p, st.Uid, st.Gid)
		}
	}
	if r := runAsync(t, "-N", "w2", "-d", src, "-r", dst, "--write-uid", "no-such-user-here"); r.code != 2 {
		t.Errorf("unknown user: exit %d", r.code)
	}
}

func TestSnapshotStoreDir(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	store := filepath.Join(t.TempDir(), "store")
	writeTree(t, src, tree{"f": "1"})
	args := []string{"-N", "st", "-d", src, "-r", dst, "--local-db-store-dir", store}
	mustCode(t, runAsync(t, args...), 0)
	if _, err := os.Stat(filepath.Join(store, "st", "MANIFEST")); err != nil {
		t.Fatalf("no stored snapshot: %v", err)
	}
	// The working copy is lost: it comes back from the store, so the run
	// is not refused as "snapshot on one side only" and sends nothing.
	os.RemoveAll(filepath.Join(src, ".private-asp"))
	r := runAsync(t, args...)
	mustCode(t, r, 0)
	if r.stdout != "" {
		t.Errorf("run after restore:\n%s", r.stdout)
	}
	if r := runAsync(t, "-N", "st", "-d", src, "-r", dst, "--local-db-store-dir", filepath.Join(src, "inside")); r.code != 2 {
		t.Errorf("store dir inside the tree: exit %d", r.code)
	}
}

func TestSupportResumeContinuesAPartialFile(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	content := strings.Repeat("0123456789abcdef", 256<<10) // 4 MiB
	writeTree(t, src, tree{"big": content})
	// 4 MiB at 8 Mbit/s takes 4 s: stop it after about 1.5 MiB.
	cmd := exec.Command(asyncBin, "-N", "r", "-d", src, "-r", dst, "-l", "8m", "--support-resume=1m")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "1.5 MiB received", func() bool {
		es, _ := os.ReadDir(dst)
		for _, e := range es {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), ".async-tmp-") && fi.Size() >= 3<<19 {
				return true
			}
		}
		return false
	})
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	var partial int64
	entries, _ := os.ReadDir(dst)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".async-tmp-partial-") {
			fi, _ := e.Info()
			partial = fi.Size()
		}
	}
	if partial < 1<<20 || partial >= int64(len(content)) {
		t.Fatalf("partial file of %d bytes after the interruption (entries %v)", partial, entries)
	}
	r := runAsync(t, "-N", "r", "-d", src, "-r", dst, "--support-resume=1m")
	mustCode(t, r, 0)
	if readTree(t, dst)["big"] != content {
		t.Fatalf("resumed file differs")
	}
	want := fmt.Sprintf("(%s) transferred", progress.Size(int64(len(content))-partial))
	if !strings.Contains(r.stderr, want) {
		t.Errorf("the rerun did not continue from %d bytes: %s (want %q)", partial, r.stderr, want)
	}
	for _, e := range mustReadDir(t, dst) {
		if strings.HasPrefix(e.Name(), ".async-tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func mustReadDir(t *testing.T, d string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestAssumeNoMods(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"quiet/a": "a", "quiet/b": "b", "busy/c": "c"})
	args := []string{"-N", "n", "-d", src, "-r", dst, "-t", "--assume-no-mods"}
	mustCode(t, runAsync(t, args...), 0)
	mustCode(t, runAsync(t, args...), 0) // records settle the directories' mtimes
	// A new file changes busy/'s mtime: it is listed. Rewriting quiet/a in
	// place does not change quiet/'s: it is not listed, as the option says.
	writeTree(t, src, tree{"busy/new": "n"})
	f, err := os.OpenFile(filepath.Join(src, "quiet/a"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("A")
	f.Close()
	r := runAsync(t, args...)
	mustCode(t, r, 0)
	got := readTree(t, dst)
	if got["busy/new"] != "n" || got["quiet/a"] != "a" || got["quiet/b"] != "b" {
		t.Errorf("with --assume-no-mods: %v\n%s", got, r.stdout)
	}
	// Nothing under the unlisted directory was taken for deleted.
	if strings.Contains(r.stdout, "(del)") {
		t.Errorf("deletions planned:\n%s", r.stdout)
	}
	// Without the option the change is seen.
	mustCode(t, runAsync(t, "-N", "n", "-d", src, "-r", dst, "-t"), 0)
	if readTree(t, dst)["quiet/a"] != "A" {
		t.Errorf("the in-place change was not sent without --assume-no-mods")
	}
}
