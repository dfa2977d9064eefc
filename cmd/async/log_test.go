package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sessionLog reads a session's log file under state (XDG_STATE_HOME).
func sessionLog(t *testing.T, state, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "async", "log", "async-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logLines returns the log's lines at a level (DEBUG, TRACE, ...).
func logLines(log, level string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " level="+level+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestWarningsGoToStderrAndTheLog(t *testing.T) {
	state := t.TempDir()
	src1, dst1 := dirs(t)
	src2, dst2 := dirs(t)
	writeTree(t, src1, tree{"f": "1"})
	writeTree(t, src2, tree{"g": "2"})
	// An instance option that warns, one of each session, and a warning
	// of the run itself (owners on a side that cannot set them).
	r := sshRun(t, state, nil, "--watchd", "ds:localhost:1",
		"-N", "one", "-d", src1, "-r", dst1, "--no-scan",
		"-N", "two", "-d", src2, "-r", dst2, "--pending-max", "5")
	mustCode(t, r, 0)
	for _, w := range []string{"warning: option --watchd", "warning: option --no-scan", "warning: option --pending-max"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	one, two := sessionLog(t, state, "one"), sessionLog(t, state, "two")
	want := map[string][]string{
		"one": {"warning: option --watchd", "warning: option --no-scan"},
		"two": {"warning: option --watchd", "warning: option --pending-max"},
	}
	logs := map[string]string{"one": one, "two": two}
	for name, ws := range want {
		warns := strings.Join(logLines(logs[name], "WARN"), "\n")
		for _, w := range ws {
			if !strings.Contains(warns, w) {
				t.Errorf("log of %s lacks WARN %q:\n%s", name, w, logs[name])
			}
		}
	}
	// Each session's own warnings stay in its own log.
	if strings.Contains(one, "--pending-max") || strings.Contains(two, "--no-scan") {
		t.Errorf("a session's warning in the other's log:\none:\n%s\ntwo:\n%s", one, two)
	}
}

func TestDebugAndTraceAddLogRecords(t *testing.T) {
	files := tree{"a": "alpha", "sub/b": "bravo"}
	logs := map[string]string{}
	for _, flag := range []string{"", "-D", "-DD"} {
		state := t.TempDir()
		src, dst := dirs(t)
		writeTree(t, src, files)
		args := []string{"-N", "d", "-d", src, "-r", dst}
		if flag != "" {
			args = append([]string{flag}, args...)
		}
		mustCode(t, sshRun(t, state, nil, args...), 0)
		logs[flag] = sessionLog(t, state, "d")
	}
	if d, tr := logLines(logs[""], "DEBUG"), logLines(logs[""], "TRACE"); len(d)+len(tr) > 0 {
		t.Errorf("a plain run logged debug or trace records:\n%s", logs[""])
	}
	// -D: per action the plan's decision, the preconditions checked, the
	// bytes and the time taken; stage timings.
	debug := []string{
		`msg=plan .*op=copy side=remote path=/a bytes=5 local=created remote=absent`,
		`msg="action start" .*op=copy side=remote path=/sub/b expect_source="file size=5 mtime=[^ ]+" expect_dest=none`,
		`msg="action end" .*op=copy side=remote path=/a took=[0-9.]+[µnm]?s result=SYNCHRONIZED bytes=5`,
		`msg="action end" .*op=mkdir side=remote path=/sub took=`,
		`msg="plan totals" .*copy=2 copy_bytes=10 mkdir=1`,
		`msg=stage .*stage=scan took=`,
		`msg=stage .*stage=transfer took=`,
		`msg=scanned .*side=local entries=3`,
		`msg="snapshot loaded" .*side=remote records=0`,
	}
	for _, flag := range []string{"-D", "-DD"} {
		lines := strings.Join(logLines(logs[flag], "DEBUG"), "\n")
		for _, re := range debug {
			if !regexp.MustCompile(re).MatchString(lines) {
				t.Errorf("%s: no DEBUG record matching %s in\n%s", flag, re, logs[flag])
			}
		}
	}
	if tr := logLines(logs["-D"], "TRACE"); len(tr) > 0 {
		t.Errorf("-D logged trace records:\n%s", strings.Join(tr, "\n"))
	}
	// -DD: finer records, per directory scanned.
	trace := strings.Join(logLines(logs["-DD"], "TRACE"), "\n")
	if !regexp.MustCompile(`msg="scan dir" .*side=local path=/sub`).MatchString(trace) {
		t.Errorf("-DD: no TRACE record of the directory scanned:\n%s", logs["-DD"])
	}
	if len(logs["-DD"]) <= len(logs["-D"]) {
		t.Errorf("-DD logged no more than -D")
	}
}

func TestLinksToABucketAreWarned(t *testing.T) {
	state := t.TempDir()
	src := t.TempDir()
	store := t.TempDir()
	writeTree(t, src, tree{"f": "1", "d/g": "2"})
	var links []string
	for i := range 7 {
		l := fmt.Sprintf("l%d", i)
		if err := os.Symlink("f", filepath.Join(src, l)); err != nil {
			t.Fatal(err)
		}
		links = append(links, "/"+l)
	}
	url := "blob+file://" + store
	r := sshRun(t, state, nil, "-N", "b", "-d", src, "-r", url)
	mustCode(t, r, 0)
	want := "warning: 7 symbolic links not synchronized: a bucket (-r) cannot hold links; -n follow sends what they point to: /l0, /l1, /l2, /l3, /l4 and 2 more"
	if strings.Count(r.stderr, want) != 1 {
		t.Errorf("stderr lacks one %q:\n%s", want, r.stderr)
	}
	if strings.Contains(r.stdout, "/l") {
		t.Errorf("links reported as synchronized:\n%s", r.stdout)
	}
	if w := strings.Join(logLines(sessionLog(t, state, "b"), "WARN"), "\n"); !strings.Contains(w, want) {
		t.Errorf("log lacks the warning:\n%s", w)
	}
	// Every run says it again; -D names every link in the log.
	r = sshRun(t, state, nil, "-D", "-N", "b", "-d", src, "-r", url)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("second run: stderr lacks %q:\n%s", want, r.stderr)
	}
	debug := strings.Join(logLines(sessionLog(t, state, "b"), "DEBUG"), "\n")
	for _, l := range links {
		if !strings.Contains(debug, "symbolic link skipped: a bucket cannot hold links\" session=b path="+l+"\n") {
			t.Errorf("debug log does not name %s:\n%s", l, debug)
		}
	}
	// Links the user skips (-n skip) are not warned about.
	r = sshRun(t, state, nil, "-N", "b", "-d", src, "-r", url, "-n", "skip")
	mustCode(t, r, 0)
	if strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("-n skip: links warned about:\n%s", r.stderr)
	}
	// Nothing to warn about when the links are not sent to the bucket.
	back := t.TempDir()
	if err := os.Symlink("x", filepath.Join(back, "mine")); err != nil {
		t.Fatal(err)
	}
	r = sshRun(t, state, nil, "-N", "p", "-d", back, "-r", url, "-K", "pull")
	mustCode(t, r, 0)
	if strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("pull: a destination link warned about:\n%s", r.stderr)
	}
}
