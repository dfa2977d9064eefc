package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dataTree has files that travel over the data path (larger than one
// 256 KiB chunk) and small ones that stay on SSH.
func dataTree() tree {
	return tree{"big.bin": strings.Repeat("0123456789abcdef", 200<<10/16*5+3), "dir/mid.bin": strings.Repeat("m", 300<<10),
		"dir/small.txt": "small", "a.txt": "alpha"}
}

// TestSSHDataPathTreeBothWays: with --data-path=tcp a tree goes to the
// server and comes back over the data path's streams (the log says so).
func TestSSHDataPathTreeBothWays(t *testing.T) {
	s := testServer(t)
	state, src, dst, back, logs := t.TempDir(), t.TempDir(), s.TempDir(t), t.TempDir(), t.TempDir()
	writeTree(t, src, dataTree())
	push := append(keyArgs(s, "dp"), "-d", src, "-r", remote(s, dst), "--data-path=tcp", "--data-streams", "3", "-L", logs)
	r := sshRun(t, state, nil, push...)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), readTree(t, src))
	pull := append(keyArgs(s, "dpp"), "-d", back, "-r", remote(s, dst), "-K", "pull", "--data-path=tcp", "-L", logs)
	r = sshRun(t, state, nil, pull...)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, back), readTree(t, src))
	for _, name := range []string{"async-dp.log", "async-dpp.log"} {
		b, _ := os.ReadFile(filepath.Join(logs, name))
		if !strings.Contains(string(b), "data path open") || !strings.Contains(string(b), "streams=") {
			t.Errorf("%s does not record the data path:\n%s", name, b)
		}
	}
	// A change goes the same way; the warning-free run says nothing.
	writeTree(t, src, tree{"big.bin": strings.Repeat("v2", 400<<10)})
	r = sshRun(t, state, nil, push...)
	mustCode(t, r, 0)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("warnings: %s", r.stderr)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
}

// TestSSHDataPathBlockedFallsBack: when the agent cannot take the data
// port (-O names one already in use), auto says so in one warning line
// and moves the content over SSH; tcp fails with one line.
func TestSSHDataPathBlockedFallsBack(t *testing.T) {
	s := testServer(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, src, dataTree())
	args := append(keyArgs(s, "blocked"), "-d", src, "-r", remote(s, dst), "-O", port)
	r := sshRun(t, state, nil, append(args, "--data-path=tcp")...)
	mustCode(t, r, 1)
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "--data-path=tcp") {
		t.Errorf("want one line naming --data-path=tcp, got:\n%s", r.stderr)
	}
	if got := readTree(t, dst); len(got) != 0 {
		t.Errorf("a failed run wrote %v", got)
	}
	r = sshRun(t, state, nil, args...)
	mustCode(t, r, 0)
	if n := strings.Count(r.stderr, "warning: no data path"); n != 1 {
		t.Errorf("want one warning, got %d:\n%s", n, r.stderr)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
}

func TestDataPathOptionsChecked(t *testing.T) {
	src, dst := dirs(t)
	for _, bad := range [][]string{{"--data-path=udp"}, {"--data-streams", "0"}, {"--data-streams", "33"}, {"-O", "70000"}} {
		r := runAsync(t, append([]string{"-N", "c", "-d", src, "-r", dst}, bad...)...)
		mustCode(t, r, exitUsage)
		if opt, _, _ := strings.Cut(bad[0], "="); !strings.Contains(r.stderr, "option "+opt) {
			t.Errorf("%v: %s", bad, r.stderr)
		}
	}
}
