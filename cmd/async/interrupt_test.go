package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/sshdtest"
)

// startAsync starts the binary in the background with a fixed state
// directory; stdout and stderr are gathered.
func startAsync(t *testing.T, state string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(asyncBin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &so, &se
}

// waitFor polls cond every 50 ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", limit, what)
		}
	}
}

// temporaries lists the reserved names below root (the private area aside).
func temporaries(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Name() == core.PrivateDir {
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), core.ReservedPrefix) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// withoutReserved drops reserved names from a tree read with readTree.
func withoutReserved(tr tree) tree {
	out := tree{}
	for p, c := range tr {
		if !strings.HasPrefix(filepath.Base(strings.TrimSuffix(p, "/")), core.ReservedPrefix) {
			out[p] = c
		}
	}
	return out
}

func randomFile(t *testing.T, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSFTPKilledMidTransferLeavesNoTemporary(t *testing.T) {
	s := testServer(t)
	state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"small": "s", "d/x": "x"})
	randomFile(t, filepath.Join(src, "d", "big"), 16<<20)
	// Reserved names that are not this session's temporaries are user
	// data as far as async can tell: an older or another session's name,
	// a partial file, a name of this form with another token.
	decoys := []string{core.ReservedPrefix + "0123456789abcdef01234567", core.ReservedPrefix + "partial-x",
		core.ReservedPrefix + "fedcba9876543210-0123456789abcdef01234567"}
	for _, d := range decoys {
		writeTree(t, dst, tree{d: "user data", "d/" + d: "user data"})
	}
	s.Chown(t, dst)
	args := append(keyArgs(s, "k"), "-d", src, "-r", remote(s, dst), "--sftp")
	// 16 MiB at 8 Mbit/s: about 16 s; it is killed well before.
	cmd, _, _ := startAsync(t, state, append(args, "-l", "8m")...)
	var tmp string
	waitFor(t, 20*time.Second, "the temporary file of /d/big on the server", func() bool {
		for _, p := range temporaries(t, dst) {
			fi, err := os.Stat(filepath.Join(dst, p))
			// The temporaries of the one-byte files come and go: only
			// /d/big's grows past a byte, and lives until the kill.
			if !strings.Contains(p, "partial") && !strings.HasSuffix(p, decoys[0]) && !strings.HasSuffix(p, decoys[2]) &&
				err == nil && fi.Size() > 1 {
				tmp = p
				return true
			}
		}
		return false
	})
	cmd.Process.Kill() // -9
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dst, tmp)); err != nil {
		t.Fatalf("the killed run left no temporary to clean up (%v): the test proves nothing", err)
	}
	for i := range 2 {
		r := sshRun(t, state, nil, args...)
		mustCode(t, r, 0)
		left := temporaries(t, dst)
		if len(left) != 2*len(decoys) {
			t.Errorf("after rerun %d: reserved names %v, want only the %d decoys", i+1, left, 2*len(decoys))
		}
		for _, d := range decoys {
			for _, p := range []string{d, "d/" + d} {
				if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != "user data" {
					t.Errorf("after rerun %d: user file %s: %q, %v", i+1, p, b, err)
				}
			}
		}
	}
	equalTrees(t, withoutReserved(readTree(t, dst)), readTree(t, src))
}

// agentPID finds the agent serving a session of s: a process running
// "server --stdio" below the test sshd.
func agentPID(t *testing.T, s *sshdtest.Server) int {
	t.Helper()
	procs, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	cmdline := map[int]string{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		b, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		cmdline[pid] = strings.ReplaceAll(string(b), "\x00", " ")
	}
	conf := filepath.Join(s.Dir, "sshd_config")
	below := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid = parent[pid]; strings.Contains(cmdline[pid], conf) {
				return true
			}
		}
		return false
	}
	for pid, c := range cmdline {
		if strings.Contains(c, "server --stdio") && below(pid) {
			return pid
		}
	}
	return 0
}

func alive(pid int) bool { return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// Not parallel: the run must end within 2 s of the signal, which a loaded
// machine can miss.
func TestSignalEndsARunWhoseAgentStalled(t *testing.T) {
	// A server of its own: agentPID finds the agent below it, and must not
	// stop another test's.
	s := sshdtest.Start(t, sshdtest.Options{})
	src, small := smallAndBig(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			state, dst := t.TempDir(), s.TempDir(t)
			args := append(keyArgs(s, "st"), "-d", src, "-r", remote(s, dst), "-b", filepath.Join(state, "db"))
			cmd, _, stderr := startAsync(t, state, append(args, "-l", "8m")...)
			// The small files are committed; the large one, started with
			// them, is under way (about 16 s at this rate).
			logFile := filepath.Join(state, "async", "log", "async-st.log")
			agent := freezeAgentAfter(t, s, logFile, "st", small)
			time.Sleep(500 * time.Millisecond) // let the pipe to the agent fill up
			start := time.Now()
			cmd.Process.Signal(sig)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("%v ended the run after %v, want at most 2 s", sig, took)
				}
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
					t.Errorf("exit %v, want code %d; stderr:\n%s", err, exitFailed, stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%v did not end the run in 10 s; stderr:\n%s", sig, stderr)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr does not say the run was interrupted:\n%s", stderr)
			}
			if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), "level=ERROR msg=\"interrupted, and the run did not stop") {
				t.Errorf("the log does not say why the run ended:\n%s", log)
			}
			// The stalled agent goes once it can see its client is gone.
			syscall.Kill(agent, syscall.SIGCONT)
			waitFor(t, 10*time.Second, "the agent to end", func() bool { return !alive(agent) })
			// The session lock was let go, and what was committed stays:
			// the rerun sends the large file only.
			r := sshRun(t, state, nil, args...)
			mustCode(t, r, 0)
			if got := r.lines(); len(got) != 1 || got[0] != "/big SYNCHRONIZED" {
				t.Errorf("rerun did %v, want only /big", got)
			}
			want := withoutReserved(readTree(t, src))
			equalTrees(t, withoutReserved(readTree(t, dst)), want)
			if left := temporaries(t, dst); len(left) > 0 {
				t.Errorf("temporaries left: %v", left)
			}
		})
	}
}

func TestTraceLogsAgentRequests(t *testing.T) {
	s := testServer(t)
	state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"f": "1"})
	mustCode(t, sshRun(t, state, nil, append(keyArgs(s, "tr"), "-DD", "-d", src, "-r", remote(s, dst))...), 0)
	trace := strings.Join(logLines(sessionLog(t, state, "tr"), "TRACE"), "\n")
	for _, op := range []string{"scan", "put", "store-flush"} {
		if !strings.Contains(trace, `msg="agent request" session=tr op=`+op+" ") {
			t.Errorf("no trace of the %s request:\n%s", op, trace)
		}
	}
}

// freezeAgentAfter waits until the log of session name says every file of
// small was copied (the large file started with them is then under way),
// and stops the agent below server s with SIGSTOP (continued when the
// test ends). It returns the agent's pid.
func freezeAgentAfter(t *testing.T, s *sshdtest.Server, logFile, name string, small tree) int {
	t.Helper()
	waitFor(t, 20*time.Second, "the small files in the log", func() bool {
		log, _ := os.ReadFile(logFile)
		for p := range small {
			if !strings.Contains(string(log), "msg=SYNCHRONIZED session="+name+" op=copy side=remote path=/"+p+"\n") {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond)
	agent := agentPID(t, s)
	if agent == 0 {
		t.Fatal("no agent process found below the test sshd")
	}
	syscall.Kill(agent, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(agent, syscall.SIGCONT) })
	return agent
}

// smallAndBig writes a source tree of five small files and a 16 MiB one:
// at -l 8m the small ones are committed within a second while the large
// one, started with them, is under way for about 16 s.
func smallAndBig(t *testing.T) (src string, small tree) {
	t.Helper()
	src, small = t.TempDir(), tree{}
	for i := range 5 {
		small["s"+strconv.Itoa(i)] = strings.Repeat("s", 100+i)
	}
	writeTree(t, src, small)
	randomFile(t, filepath.Join(src, "big"), 16<<20)
	return src, small
}
