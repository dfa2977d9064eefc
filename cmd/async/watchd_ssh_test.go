package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHWatchdServesTheRemoteSide: a pull from an SSH server whose
// change journal service (run by root for the users' trees, --shared)
// watches the docroot reads the remote side's changes from it through the
// agent, and only the records it needs from the remote snapshot; the
// agent asks about the session's root only.
func TestSSHWatchdServesTheRemoteSide(t *testing.T) {
	s := testServer(t)
	base := s.TempDir(t)
	sock := filepath.Join(base, "run", "watchd.sock")
	_, doc, env := docrootServer(t, s, "watchd_socket = "+sock+"\n")
	data := filepath.Join(doc, "data")
	writeTree(t, data, tree{"a": "a", "d/b": "b", "d/e/c": "c"})
	s.Chown(t, data)
	j := &journalEnv{t: t, state: filepath.Join(t.TempDir(), "state"), sock: sock,
		args: []string{"--tree", doc, "--socket", sock, "--shared"}}
	j.start()
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("the shared socket: %v %v", st.Mode(), err)
	}
	state, local := t.TempDir(), t.TempDir()
	logFile := filepath.Join(state, "async", "log", "async-wr.log")
	pull := func() (result, string) {
		t.Helper()
		before, _ := os.ReadFile(logFile)
		r := sshRun(t, state, env, append(keyArgs(s, "wr"), "--watchd", "-d", local, "-r", remote(s, "/data"), "-K", "pull", "-D")...)
		after, _ := os.ReadFile(logFile)
		mustCode(t, r, 0)
		equalTrees(t, readTree(t, local), readTree(t, data))
		return r, string(after[min(len(before), len(after)):])
	}
	r, _ := pull()
	if !strings.Contains(r.stderr, "watchd: the remote side is scanned in full: no cursor yet") {
		t.Fatalf("first run: want a full scan for want of a cursor:\n%s", r.stderr)
	}
	j.settle(data)
	pull() // takes in the settle marker
	writeTree(t, data, tree{"d/b": "b, changed on the server", "d/new": "n"})
	s.Chown(t, data)
	j.settle(data)
	r, log := pull()
	if strings.Contains(r.stderr, "scanned in full") {
		t.Fatalf("a side was scanned in full:\n%s", r.stderr)
	}
	if !strings.Contains(log, `msg="watchd: changes from the journal"`) || !strings.Contains(log, "side=remote") {
		t.Errorf("the remote side's changes did not come from the server's journal:\n%s", log)
	}
	if !strings.Contains(log, `msg="sparse gather"`) {
		t.Errorf("the remote snapshot was loaded whole, not read for the changed paths:\n%s", log)
	}
	if got := readTree(t, local)["d/b"]; got != "b, changed on the server" {
		t.Errorf("d/b = %q", got)
	}
}

// TestSSHWatchdPushReadsTheServerSnapshotSparsely: a push to an SSH
// server driven by the local journal reads from the server's snapshot
// only the records of what changed (and looks only there on the server).
func TestSSHWatchdPushReadsTheServerSnapshotSparsely(t *testing.T) {
	s := testServer(t)
	state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"a": "a", "d/b": "b", "d/e/c": "c"})
	j := &journalEnv{t: t, state: state, args: []string{"--tree", src}}
	j.start()
	logFile := filepath.Join(state, "async", "log", "async-wp.log")
	push := func() (result, string) {
		t.Helper()
		before, _ := os.ReadFile(logFile)
		r := sshRun(t, state, nil, append(keyArgs(s, "wp"), "--watchd", "-d", src, "-r", remote(s, dst), "-D")...)
		after, _ := os.ReadFile(logFile)
		mustCode(t, r, 0)
		equalTrees(t, readTree(t, dst), readTree(t, src))
		return r, string(after[min(len(before), len(after)):])
	}
	push()
	j.settle(src)
	push()
	writeTree(t, src, tree{"d/b": "b2", "d/e/new": "n"})
	os.Remove(filepath.Join(src, "a"))
	j.settle(src)
	r, log := push()
	if strings.Contains(r.stderr, "scanned in full") || !strings.Contains(log, `msg="sparse gather"`) {
		t.Errorf("not a sparse run:\n%s\n%s", r.stderr, log)
	}
	if _, err := os.Stat(filepath.Join(dst, "a")); err == nil {
		t.Errorf("a deleted at the source is still on the server")
	}
}
