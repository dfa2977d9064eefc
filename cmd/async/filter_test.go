package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWorkedFilterExample(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{
		"Raw/2024/img.cr2": "raw", "Raw/2024/img.cr2~": "backup", "Raw/x.thm": "thumb",
		"Jpg/Big/a.jpg": "big", "Jpg/Med/m.jpg": "med", "Jpg/Small/s.jpg": "small",
		"notes.txt": "notes", ".config/settings": "cfg", ".profile": "p",
	})
	rules := []string{"-E", ".*~", "-E", "*~", "-E", ".*.thm", "-E", "*.thm", "-I", ".*/", "-I", "/Raw/**",
		"-I", "/Jpg/Big/**", "-I", "/Jpg/Med/**", "-E", "*", "-E", ".*"}
	r := runAsync(t, append([]string{"-N", "f", "-d", src, "-r", dst}, rules...)...)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), tree{
		"Raw/": "", "Raw/2024/": "", "Raw/2024/img.cr2": "raw",
		"Jpg/": "", "Jpg/Big/": "", "Jpg/Big/a.jpg": "big", "Jpg/Med/": "", "Jpg/Med/m.jpg": "med",
		".config/": "",
	})
	// The rules are recorded; changing them leaves newly excluded entries
	// alone on both sides.
	if m := runAsync(t, "admin", "-d", src, "-m"); !strings.Contains(m.stdout, `"-I /Raw/**"`) {
		t.Errorf("rules not in the snapshot metadata:\n%s", m.stdout)
	}
	os.Remove(filepath.Join(src, "Jpg/Med/m.jpg"))
	rf := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(filepath.Join(filepath.Dir(rf), "inner"), []byte("- /Jpg/Med/\n"), 0o644)
	os.WriteFile(rf, []byte("# now without Med\n. inner\n+ /Raw/**\n+ /Jpg/Big/**\n*\n"), 0o644)
	r = runAsync(t, "-N", "f", "-d", src, "-r", dst, "--exclude-from", rf)
	mustCode(t, r, 0)
	if readTree(t, dst)["Jpg/Med/m.jpg"] != "med" {
		t.Errorf("a newly excluded entry was deleted at the destination:\n%s", r.stdout)
	}
	// --clean-excluded forgets them without deleting anything.
	r = runAsync(t, "-N", "f", "-d", src, "-r", dst, "--exclude-from", rf, "--clean-excluded")
	mustCode(t, r, 0)
	if readTree(t, dst)["Jpg/Med/m.jpg"] != "med" {
		t.Errorf("--clean-excluded deleted a file")
	}
	if f := runAsync(t, "admin", "-d", src, "-f"); strings.Contains(f.stdout, "/Jpg/Med") {
		t.Errorf("excluded records kept after --clean-excluded:\n%s", f.stdout)
	}
	// A bad pattern is a usage error that touches nothing.
	if r := runAsync(t, "-N", "f", "-d", src, "-r", dst, "-E", "[oops"); r.code != 2 || !strings.Contains(r.stderr, "[oops") {
		t.Errorf("bad pattern: exit %d, %q", r.code, r.stderr)
	}
}

func TestApplySavedPlan(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a", "b": "b", "d/c": "c"})
	writeTree(t, dst, tree{"old": "o"})
	mustCode(t, runAsync(t, "-N", "p", "-d", src, "-r", dst), 0)
	writeTree(t, src, tree{"a": "a2", "new": "n"})
	os.Remove(filepath.Join(src, "b"))
	r := runAsync(t, "-N", "p", "-d", src, "-r", dst, "--dry-run", "--plan-format=json", "-t")
	mustCode(t, r, 0)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(planFile, []byte(r.stdout), 0o644)
	// The tree moves on after the plan was made: /new changes.
	writeTree(t, src, tree{"new": "changed after planning"})
	r = runAsync(t, "apply", planFile)
	mustCode(t, r, 3)
	if !strings.Contains(r.stdout, "/new  ERROR: stale plan") {
		t.Errorf("no stale-plan error:\n%s", r.stdout)
	}
	got := readTree(t, dst)
	if got["a"] != "a2" || got["new"] != "" || got["b"] != "" {
		t.Errorf("after apply: %v", got)
	}
	if _, ok := got["b"]; ok {
		t.Errorf("b not deleted")
	}
	if _, ok := got["new"]; ok {
		t.Errorf("a stale action was applied")
	}
	// A normal run picks up what the stale plan left.
	mustCode(t, runAsync(t, "-N", "p", "-d", src, "-r", dst, "-t"), 0)
	if readTree(t, dst)["new"] != "changed after planning" {
		t.Errorf("rerun did not converge: %v", readTree(t, dst))
	}
	if r := runAsync(t, "apply", filepath.Join(t.TempDir(), "missing.json")); r.code != 2 {
		t.Errorf("missing plan file: exit %d", r.code)
	}
}

// TestReferenceExampleCommandLine runs the reference's seed example (§1),
// short and long forms, with the SSH endpoint replaced by a local path
// (and the remote log directory by one under the test's home).
func TestReferenceExampleCommandLine(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	data, mirror := filepath.Join(home, "data"), filepath.Join(home, "mnt", "data")
	writeTree(t, data, tree{"report.txt": "r", "sub/x": "x"})
	os.MkdirAll(mirror, 0o755)
	short := []string{"-L", "~/async-jobs/log", "-N", "job1", "-i", "~/.ssh/id_ed25519", "-b", "~/async-jobs/db", "-l", "500m",
		"-d", "~/data", "-r", mirror, "-R", "~/rlog", "-B", filepath.Join(home, "rdb"), "-K", "bidi", "-t", "-u", "-j"}
	long := []string{"--alt-logdir=~/async-jobs/log", "--name=job1", "--private-key-path=~/.ssh/id_ed25519",
		"--local-db-dir=~/async-jobs/db", "--target-rate=500m", "--local-dir=~/data", "--remote-dir=" + mirror,
		"--remote-logdir=" + filepath.Join(home, "rlog"), "--remote-db-dir=" + filepath.Join(home, "rdb"), "--direction=bidi",
		"--preserve-time", "--preserve-uid", "--preserve-gid"}
	for i, args := range [][]string{short, long} {
		cmd := exec.Command(asyncBin, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("form %d: %v\n%s", i, err, out)
		}
		if !strings.Contains(string(out), "warning: option -i") && !strings.Contains(string(out), "warning: option --private-key-path") {
			t.Errorf("form %d: the SSH-only options were not warned about:\n%s", i, out)
		}
	}
	equalTrees(t, readTree(t, mirror), readTree(t, data))
	// With a local -r, this process serves the remote side and keeps its
	// log (-R) on this machine.
	for _, p := range []string{"async-jobs/log/async-job1.log", "async-jobs/db/job1", "rdb/job1", "rlog/async-job1.log"} {
		if _, err := os.Stat(filepath.Join(home, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestExcludeDirsOlderThan(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"old/a": "a", "old/sub/b": "b", "new/c": "c"})
	long := time.Now().Add(-30 * 24 * time.Hour)
	for _, p := range []string{"old/a", "old/sub/b", "old/sub", "old"} {
		os.Chtimes(filepath.Join(src, p), long, long)
	}
	args := []string{"-N", "o", "-d", src, "-r", dst, "-t"}
	mustCode(t, runAsync(t, args...), 0)
	// Both trees change inside the old directory; with the option, neither
	// change is looked at, and nothing there is deleted.
	writeTree(t, src, tree{"old/a": "changed", "new/d": "d"})
	os.Chtimes(filepath.Join(src, "old/a"), long, long)
	os.Chtimes(filepath.Join(src, "old"), long, long)
	os.Remove(filepath.Join(src, "old/sub/b"))
	os.Chtimes(filepath.Join(src, "old/sub"), long, long)
	r := runAsync(t, append(args, "--exclude-dirs-older-than", "1w")...)
	mustCode(t, r, 0)
	got := readTree(t, dst)
	if got["old/a"] != "a" || got["old/sub/b"] != "b" || got["new/d"] != "d" {
		t.Errorf("with --exclude-dirs-older-than: %v\n%s", got, r.stdout)
	}
	// Without it, the changes go through.
	mustCode(t, runAsync(t, args...), 0)
	got = readTree(t, dst)
	if _, ok := got["old/sub/b"]; ok || got["old/a"] != "changed" {
		t.Errorf("without the option: %v", got)
	}
}

// A run that changes nothing leaves the snapshot's identity unwritten;
// admin -m still gives that run's start and stop times.
func TestAdminMetaTimesOfANoopRun(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	writeTree(t, src, tree{"a": "a"})
	mustCode(t, runAsync(t, "-N", "m", "-d", src, "-r", dst), 0)
	first := runAsync(t, "admin", "-d", src, "-N", "m", "-m").stdout
	time.Sleep(1100 * time.Millisecond) // the times are to the second
	mustCode(t, runAsync(t, "-N", "m", "-d", src, "-r", dst), 0)
	second := runAsync(t, "admin", "-d", src, "-N", "m", "-m").stdout
	start := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, "Start time: "); ok {
				return v
			}
		}
		t.Fatalf("no start time in:\n%s", out)
		return ""
	}
	if a, b := start(first), start(second); b <= a {
		t.Errorf("admin -m after a no-op run: start time %s, the run before started %s", b, a)
	}
}
