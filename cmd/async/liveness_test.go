package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/internal/sshdtest"
)

// TestStalledAgentEndsTheRun: with no signal at all, a run whose agent
// froze (SIGSTOP: sshd still answers keepalives) ends with an error once
// the agent stayed silent for the bound, and what was committed stays
// committed: the rerun sends the rest only.
func TestStalledAgentEndsTheRun(t *testing.T) {
	// A server of its own: agentPID finds the agent below it, and must not
	// stop another test's.
	s := sshdtest.Start(t, sshdtest.Options{})
	src, small := smallAndBig(t)
	state, dst := t.TempDir(), s.TempDir(t)
	args := append(keyArgs(s, "sa"), "-d", src, "-r", remote(s, dst), "-b", filepath.Join(state, "db"))
	cmd := exec.Command(asyncBin, append(args, "-l", "8m")...)
	// Keepalives every hour (sshd would answer them anyway), the agent
	// bound at 2 s.
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "ASYNC_TEST_SSH_LIVENESS=1h,3,2s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logFile := filepath.Join(state, "async", "log", "async-sa.log")
	agent := freezeAgentAfter(t, s, logFile, "sa", small)
	start := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if took := time.Since(start); took > 12*time.Second {
			t.Errorf("the run ended %v after the agent froze, want within the 2 s bound and Close's", took)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
			t.Errorf("exit %v, want code %d; stderr:\n%s", err, exitFailed, &stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the run still waits on the frozen agent after 30 s; stderr:\n%s", &stderr)
	}
	if log, _ := os.ReadFile(logFile); testing.Verbose() {
		t.Logf("log:\n%s\nstderr:\n%s", log, &stderr)
	}
	if !strings.Contains(stderr.String(), "the agent stopped answering (no reply in 2s)") {
		t.Errorf("stderr does not say the agent stopped answering:\n%s", &stderr)
	}
	syscall.Kill(agent, syscall.SIGCONT)
	waitFor(t, 10*time.Second, "the agent to end", func() bool { return !alive(agent) })
	r := sshRun(t, state, nil, args...)
	mustCode(t, r, 0)
	if got := r.lines(); len(got) != 1 || got[0] != "/big SYNCHRONIZED" {
		t.Errorf("rerun did %v, want only /big", got)
	}
	equalTrees(t, withoutReserved(readTree(t, dst)), withoutReserved(readTree(t, src)))
	if left := temporaries(t, dst); len(left) > 0 {
		t.Errorf("temporaries left: %v", left)
	}
}
