package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// planScene is a pair of trees that a session runs on twice, with changes
// on both sides in between.
type planScene struct{ src, dst string }

var (
	planT0 = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	planT1 = planT0.Add(time.Hour)
	planT2 = planT0.Add(2 * time.Hour)
)

// newPlanScene makes the trees every case of TestPlanApplyMatchesDirectRun
// starts from: files with fixed times, owners, modes, a user xattr and an
// ACL, a symlink, source hard links and duplicates, a temporary file, and a
// destination-only file.
func newPlanScene(t *testing.T) planScene {
	t.Helper()
	src, dst := dirs(t)
	sc := planScene{src, dst}
	writeTree(t, src, tree{"a": "alpha", "b": "bravo", "sub/c": "charlie", "dup1": "same content", "dup2": "same content",
		"hl1": "hard linked", "x.tmp": "temp", "m": "mode", "both": "v1", "donly": "dst side edits"})
	if err := os.Link(filepath.Join(src, "hl1"), filepath.Join(src, "hl2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(src, "ln")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dst, tree{"extra": "destination only"})
	sc.fix(t, src, "a", "b", "sub/c", "dup1", "dup2", "hl1", "x.tmp", "m", "both", "donly")
	sc.fix(t, dst, "extra")
	for _, p := range []string{"a", "b", "sub/c", "m", "sub"} {
		if err := os.Chown(filepath.Join(src, p), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Setxattr(filepath.Join(src, "a"), "user.k", []byte("v"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	if out, err := exec.Command("setfacl", "-m", "u:4444:r", filepath.Join(src, "sub/c")).CombinedOutput(); err != nil {
		t.Skipf("setfacl: %v %s", err, out)
	}
	return sc
}

// fix gives files fixed times and modes.
func (planScene) fix(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.Chmod(full, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, planT0, planT0); err != nil {
			t.Fatal(err)
		}
	}
}

// change makes the same changes in every scene between the two runs: on the
// source a changed file, a deleted one, a moved one, a new one, a mode
// change; on both sides a file changed differently (the source's newer);
// on the destination a changed file and a new one.
func (sc planScene) change(t *testing.T) {
	t.Helper()
	write := func(root, p, content string, mt time.Time) {
		full := filepath.Join(root, p)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write(sc.src, "a", "alpha, second version", planT1)
	os.Remove(filepath.Join(sc.src, "b"))
	if err := os.Rename(filepath.Join(sc.src, "sub/c"), filepath.Join(sc.src, "sub/c2")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err) // gone: --remove-after-transfer
	}
	write(sc.src, "new", "new file", planT1)
	os.Chmod(filepath.Join(sc.src, "m"), 0o600|os.ModeSetgid) // a saved plan keeps the special bits
	write(sc.src, "both", "source v2", planT2)
	write(sc.dst, "both", "destination v2!", planT1)
	write(sc.dst, "donly", "edited at the destination", planT1)
	write(sc.dst, "rnew", "made at the destination", planT1)
}

// timeSuffix matches the time suffixes of kept versions, which name the
// moment of the run.
var timeSuffix = regexp.MustCompile(`\.(async-conflict-)?\d{8}T\d{6}(\.\d{9})?Z`)

// attrTree describes every entry below root (the private area aside):
// type, content or link target, mode, owner, group, link count, user
// xattrs and ACLs, and with times the mtime of files.
func attrTree(t *testing.T, root string, times bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if fi.Name() == ".private-asp" {
			return filepath.SkipDir
		}
		st := fi.Sys().(*syscall.Stat_t)
		d := fmt.Sprintf("%v uid=%d gid=%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			d += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			d += fmt.Sprintf(" nlink=%d %q", st.Nlink, b)
			if times {
				d += " mtime=" + fi.ModTime().UTC().Format(time.RFC3339Nano)
			}
		}
		if fi.Mode()&os.ModeSymlink == 0 && rel != "." {
			for _, name := range []string{"user.k", "system.posix_acl_access"} {
				buf := make([]byte, 256)
				if n, err := syscall.Getxattr(p, name, buf); err == nil {
					d += fmt.Sprintf(" %s=%x", name, buf[:n])
				}
			}
		}
		if rel != "." {
			out[timeSuffix.ReplaceAllString(filepath.ToSlash(rel), ".TS")] = d
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlanApplyMatchesDirectRun: for every option that changes what an
// action does, a plan saved with --dry-run --plan-format=json and carried
// out with `async apply` leaves the same trees, attributes included, as
// the direct run would have (reference: docs/reference.md §10).
func TestPlanApplyMatchesDirectRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		swap  bool // -d is the destination (pull)
		times bool // compare file mtimes
	}{
		{name: "defaults"},
		{name: "keep-dir-remote", args: []string{"--keep-dir-remote", "attic"}},
		{name: "keep-dir-local pull", args: []string{"-K", "pull", "--keep-dir-local", "attic"}, swap: true},
		{name: "bidi", args: []string{"-K", "bidi"}},
		{name: "bidi older", args: []string{"-K", "bidi", "-o", "older"}},
		{name: "bidi older keep dirs", args: []string{"-K", "bidi", "-o", "older", "--keep-dir-local", "kl", "--keep-dir-remote", "kr"}},
		{name: "overwrite older", args: []string{"-o", "older"}},
		{name: "overwrite conflict", args: []string{"-o", "conflict"}},
		{name: "mirror", args: []string{"--mirror"}},
		{name: "ignore-delete", args: []string{"--ignore-delete"}},
		{name: "delete-before", args: []string{"--delete-before"}},
		{name: "remove-after-transfer", args: []string{"--remove-after-transfer"}},
		{name: "write-uid and write-gid", args: []string{"--write-uid", "4321", "--write-gid", "4322"}},
		{name: "preserve owners", args: []string{"-u", "-j"}},
		{name: "preserve time", args: []string{"-t"}, times: true},
		{name: "preserve access time", args: []string{"--preserve-access-time", "-t"}, times: true},
		{name: "ignore-mode", args: []string{"--ignore-mode"}},
		{name: "xattrs", args: []string{"--preserve-xattrs=native"}},
		{name: "acls", args: []string{"--preserve-acls=native"}},
		{name: "dedup hardlink", args: []string{"-k", "sha1", "--dedup"}},
		{name: "dedup inode", args: []string{"--dedup=inode"}},
		{name: "dedup copy", args: []string{"-k", "sha1", "--dedup=copy"}},
		{name: "links skip", args: []string{"-n", "skip"}},
		{name: "links follow", args: []string{"-n", "follow"}},
		{name: "filters", args: []string{"-E", "*.tmp", "-E", "sub"}},
		{name: "checksum none", args: []string{"-k", "none"}},
		{name: "checksum sha1", args: []string{"-k", "sha1"}},
		{name: "file renames", args: []string{"--scan-file-rename", "--scan-dir-rename"}},
		{name: "support-resume", args: []string{"--support-resume=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			direct, planned := newPlanScene(t), newPlanScene(t)
			session := func(sc planScene) []string {
				d, r := sc.src, sc.dst
				if tc.swap { // the data still flows from src to dst
					d, r = sc.dst, sc.src
				}
				// One transfer thread: the same order in both runs (a source
				// removed after transfer changes its hard links' ctime).
				return append([]string{"-N", "pa", "-d", d, "-r", r, "--transfer-threads", "1"}, tc.args...)
			}
			for round := 1; round <= 2; round++ {
				want := runAsync(t, session(direct)...)
				if want.code != 0 && want.code != 3 {
					t.Fatalf("round %d: direct run: exit %d\n%s%s", round, want.code, want.stdout, want.stderr)
				}
				p := runAsync(t, append(session(planned), "--dry-run", "--plan-format=json")...)
				mustCode(t, p, 0)
				file := filepath.Join(t.TempDir(), "plan.json")
				if err := os.WriteFile(file, []byte(p.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				got := runAsync(t, "apply", file)
				if got.code != want.code {
					t.Errorf("round %d: apply exit %d, direct run %d\napply:\n%s%s\ndirect:\n%s", round, got.code, want.code, got.stdout, got.stderr, want.stdout)
				}
				for _, side := range []struct{ name, a, b string }{{"source", direct.src, planned.src}, {"destination", direct.dst, planned.dst}} {
					a, b := attrTree(t, side.a, tc.times), attrTree(t, side.b, tc.times)
					for _, k := range slices.Sorted(mapsKeys(a, b)) {
						if a[k] != b[k] {
							t.Errorf("round %d: %s %s:\n  direct run: %s\n  plan+apply: %s", round, side.name, k, a[k], b[k])
						}
					}
				}
				if t.Failed() {
					t.Logf("plan:\n%s", p.stdout)
					return
				}
				if round == 1 {
					direct.change(t)
					planned.change(t)
				}
			}
		})
	}
}

// mapsKeys returns the keys of both maps.
func mapsKeys(a, b map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range []map[string]string{a, b} {
			for k := range m {
				if !seen[k] {
					seen[k] = true
					if !yield(k) {
						return
					}
				}
			}
		}
	}
}

// The plan shows what a keep dir keeps as keep actions, and its options
// carry every option that changes an action.
func TestPlanShowsKeepsAndOptions(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a1", "b": "b1"})
	args := []string{"-N", "k", "-d", src, "-r", dst, "--keep-dir-remote", "attic", "--write-uid", "4321", "-k", "sha1", "--dedup"}
	mustCode(t, runAsync(t, args...), 0)
	writeTree(t, src, tree{"a": "a2, replaced"})
	os.Remove(filepath.Join(src, "b"))
	r := runAsync(t, append(args, "--dry-run")...)
	mustCode(t, r, 0)
	for _, want := range []string{"keep /a -> /attic/a (replaced)", "keep /b -> /attic/b (deleted)", "copy /a"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "delete /b") {
		t.Errorf("a kept deletion is shown as a delete:\n%s", r.stdout)
	}
	r = runAsync(t, append(args, "--dry-run", "--plan-format=json")...)
	mustCode(t, r, 0)
	for _, want := range []string{`"keep_dir_remote": "attic"`, `"write_uid": 4321`, `"dedup": "hardlink"`, `"op": "keep"`, `"reason": "deleted"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("JSON plan lacks %s:\n%s", want, r.stdout)
		}
	}
	// A plan with an option this version does not know is refused.
	bad := strings.Replace(r.stdout, `"options": {`, `"options": {"from_the_future": true,`, 1)
	file := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(file, []byte(bad), 0o644)
	if res := runAsync(t, "apply", file); res.code != 2 || !strings.Contains(res.stderr, "from_the_future") {
		t.Errorf("unknown plan option: exit %d, %q", res.code, res.stderr)
	}
	if got := readTree(t, dst); got["a"] != "a1" || got["b"] != "b1" {
		t.Errorf("a refused plan changed the destination: %v", got)
	}
}
