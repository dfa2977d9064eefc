package main

import (
	"fmt"
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
		if !strings.Contains(m.stdout, "Condition: running") {
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
