package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// following is an async -C running in the background.
type following struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startFollowing(t *testing.T, state string, env []string, args ...string) *following {
	t.Helper()
	cmd := exec.Command(asyncBin, args...)
	cmd.Env = append(append(os.Environ(), "XDG_STATE_HOME="+state), env...)
	f := &following{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return f
}

// stop sends SIGTERM and returns the exit code.
func (f *following) stop(t *testing.T) int {
	t.Helper()
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatalf("async -C did not stop on SIGTERM:\n%s", f.out)
	}
	return -1
}

// eventually waits (generously) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestContinuousFollowsChanges(t *testing.T) {
	t.Parallel()
	src, dst := memDirs(t) // 10,000 files below
	state := t.TempDir()
	writeTree(t, src, tree{"a": "a1", "d/x": "x"})
	f := startFollowing(t, state, nil, "-N", "c", "-d", src, "-r", dst, "-C", "--cooloff", "1", "-t")
	eventually(t, "first sync", func() bool { return readTree(t, dst)["d/x"] == "x" })
	// Create, modify, delete, rename files and directories.
	writeTree(t, src, tree{"new": "n", "a": "a2", "deep/er/f": "f"})
	os.Remove(filepath.Join(src, "d", "x"))
	eventually(t, "creates, writes and deletes", func() bool {
		got := readTree(t, dst)
		_, x := got["d/x"]
		return got["new"] == "n" && got["a"] == "a2" && got["deep/er/f"] == "f" && !x
	})
	before := inode(t, filepath.Join(dst, "new"))
	os.Rename(filepath.Join(src, "deep"), filepath.Join(src, "moved"))
	os.Rename(filepath.Join(src, "new"), filepath.Join(src, "new2"))
	eventually(t, "renames", func() bool {
		got := readTree(t, dst)
		_, old := got["deep/er/f"]
		return got["moved/er/f"] == "f" && got["new2"] == "n" && !old
	})
	if inode(t, filepath.Join(dst, "new2")) != before {
		t.Errorf("a rename at the source was a copy at the destination")
	}
	// A burst of 10,000 files all arrive.
	for i := range 10000 {
		p := filepath.Join(src, "burst", fmt.Sprintf("d%02d", i/500), fmt.Sprintf("f%05d", i))
		if i%500 == 0 {
			os.MkdirAll(filepath.Dir(p), 0o755)
		}
		os.WriteFile(p, []byte(strconv.Itoa(i)), 0o644)
	}
	eventually(t, "a burst of 10,000 files", func() bool {
		n := 0
		filepath.Walk(filepath.Join(dst, "burst"), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				n++
			}
			return nil
		})
		return n == 10000
	})
	if code := f.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, f.out)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
	// The snapshot is consistent: a normal run plans nothing.
	r := sshRun(t, state, nil, "-N", "c", "-d", src, "-r", dst, "-t", "--dry-run")
	mustCode(t, r, 0)
	if strings.TrimSpace(r.stdout) != "" && !strings.Contains(r.stdout, "nothing to do") {
		if strings.Contains(r.stdout, "copy ") || strings.Contains(r.stdout, "delete ") {
			t.Errorf("after SIGTERM a rerun still plans:\n%s", r.stdout)
		}
	}
}

func TestContinuousPollsASourceThatCannotWatch(t *testing.T) {
	t.Parallel()
	state, store, dst := t.TempDir(), t.TempDir(), t.TempDir()
	url := "blob+file://" + store
	// Fill the bucket, then follow it into dst (pull), rescanning every second.
	src := t.TempDir()
	writeTree(t, src, tree{"one": "1"})
	mustCode(t, sshRun(t, state, nil, "-N", "fill", "-d", src, "-r", url), 0)
	f := startFollowing(t, state, nil, "-N", "poll", "-d", dst, "-r", url, "-K", "pull", "-C", "--remote-scan-interval", "1s")
	eventually(t, "first sync", func() bool { return readTree(t, dst)["one"] == "1" })
	writeTree(t, src, tree{"two": "2"})
	mustCode(t, sshRun(t, state, nil, "-N", "fill", "-d", src, "-r", url), 0)
	eventually(t, "a change found by a rescan", func() bool { return readTree(t, dst)["two"] == "2" })
	if code := f.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, f.out)
	}
}

func TestContinuousRefusesDryRun(t *testing.T) {
	t.Parallel()
	src, dst := dirs(t)
	r := runAsync(t, "--dry-run", "-N", "c", "-d", src, "-r", dst, "-C")
	if r.code != 2 || !strings.Contains(r.stderr, "-C") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestContinuousReopensTheLogOnHangup(t *testing.T) {
	t.Parallel()
	state, src, dst, logs := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"a": "a1"})
	f := startFollowing(t, state, nil, "-N", "hup", "-d", src, "-r", dst, "-C", "--cooloff", "1", "-L", logs)
	eventually(t, "first sync", func() bool { return readTree(t, dst)["a"] == "a1" })
	// An outside rotation, then SIGHUP: the log starts again under its name.
	log := filepath.Join(logs, "async-hup.log")
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	f.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "the log reopened", func() bool { _, err := os.Stat(log); return err == nil })
	writeTree(t, src, tree{"b": "b1"})
	eventually(t, "second sync", func() bool { return readTree(t, dst)["b"] == "b1" })
	if code := f.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, f.out)
	}
	for _, p := range []string{log + ".1", log} {
		if b, err := os.ReadFile(p); err != nil || len(b) == 0 {
			t.Errorf("%s: %d bytes, %v; want records", p, len(b), err)
		}
	}
	if strings.Contains(f.out.String(), "reopen") {
		t.Errorf("a reopen warned:\n%s", f.out)
	}
}
