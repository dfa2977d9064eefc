package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// udpDataPaths are the data path's transports over UDP, with the options
// each needs (the rate-based one sends at -l).
var udpDataPaths = []struct {
	name  string
	flags []string
}{
	{"udp", []string{"--data-path=udp", "-l", "400m"}},
	{"quic", []string{"--data-path=quic"}},
}

// quicOn is the environment that lets --data-path take udp and quic.
var quicOn = []string{envTransports + "=1"}

// TestSSHDataPathUDPAndQUICTreeBothWays: with --data-path=udp or quic a
// tree goes to the server and comes back over that transport (the log
// says so), and a rerun with a change says nothing.
func TestSSHDataPathUDPAndQUICTreeBothWays(t *testing.T) {
	s := testServer(t)
	for _, dp := range udpDataPaths {
		t.Run(dp.name, func(t *testing.T) {
			state, src, dst, back, logs := t.TempDir(), t.TempDir(), s.TempDir(t), t.TempDir(), t.TempDir()
			writeTree(t, src, dataTree())
			push := append(append(keyArgs(s, "dp"), "-d", src, "-r", remote(s, dst), "--data-streams", "3", "-L", logs), dp.flags...)
			r := sshRun(t, state, quicOn, push...)
			mustCode(t, r, 0)
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 {
				t.Errorf("the push said more than its summary:\n%s", r.stderr)
			}
			equalTrees(t, readTree(t, dst), readTree(t, src))
			pull := append(append(keyArgs(s, "dpp"), "-d", back, "-r", remote(s, dst), "-K", "pull", "-L", logs), dp.flags...)
			r = sshRun(t, state, quicOn, pull...)
			mustCode(t, r, 0)
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 {
				t.Errorf("the pull said more than its summary:\n%s", r.stderr)
			}
			equalTrees(t, readTree(t, back), readTree(t, src))
			for _, name := range []string{"async-dp.log", "async-dpp.log"} {
				b, _ := os.ReadFile(filepath.Join(logs, name))
				if !strings.Contains(string(b), "data path open") || !strings.Contains(string(b), "transport="+dp.name) {
					t.Errorf("%s does not record the %s data path:\n%s", name, dp.name, b)
				}
			}
			writeTree(t, src, tree{"big.bin": strings.Repeat("v2", 400<<10)})
			r = sshRun(t, state, quicOn, push...)
			mustCode(t, r, 0)
			if strings.Contains(r.stderr, "warning") {
				t.Errorf("warnings: %s", r.stderr)
			}
			equalTrees(t, readTree(t, dst), readTree(t, src))
		})
	}
}

// TestSSHDataPathUDPBlockedFails: when the agent cannot take the data
// port (-O names a UDP port in use), an explicit --data-path=udp or quic
// fails with one line naming it, and writes nothing (as FASP's client
// does when its UDP port is blocked: it never silently moves to SSH).
func TestSSHDataPathUDPBlockedFails(t *testing.T) {
	s := testServer(t)
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.LocalAddr().(*net.UDPAddr).Port)
	for _, dp := range udpDataPaths {
		t.Run(dp.name, func(t *testing.T) {
			state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
			writeTree(t, src, dataTree())
			r := sshRun(t, state, quicOn, append(append(keyArgs(s, "blocked"), "-d", src, "-r", remote(s, dst), "-O", port), dp.flags...)...)
			mustCode(t, r, 1)
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "--data-path="+dp.name) {
				t.Errorf("want one line naming --data-path=%s, got:\n%s", dp.name, r.stderr)
			}
			if got := readTree(t, dst); len(got) != 0 {
				t.Errorf("a failed run wrote %v", got)
			}
		})
	}
}

// TestSSHDataPathUDPAgentKilledRerunConverges: the agent dies while
// content streams over UDP or QUIC; the run fails without committing a
// torn file (never a hang), and the next run converges.
func TestSSHDataPathUDPAgentKilledRerunConverges(t *testing.T) {
	s := testServer(t)
	for _, dp := range udpDataPaths {
		t.Run(dp.name, func(t *testing.T) {
			state, src, dst, logs := t.TempDir(), t.TempDir(), s.TempDir(t), t.TempDir()
			args := killAgentMidTransfer(t, s, state, src, dst, logs, dp.name, quicOn, 60*time.Second)
			r := sshRun(t, state, quicOn, append(args, "-l", "400m")...)
			mustCode(t, r, 0)
			equalTrees(t, readTree(t, dst), readTree(t, src))
		})
	}
}

// TestDataPathUDPHoldsTheRate: --data-path=udp needs -l (usage error
// without), and an -a that would lower the rate is named in a warning:
// the rate-based transport holds -l.
func TestDataPathUDPHoldsTheRate(t *testing.T) {
	t.Setenv(envTransports, "1")
	src, dst := dirs(t)
	r := runAsync(t, "-N", "c", "-d", src, "-r", dst, "--data-path=udp")
	mustCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "option --data-path=udp sends at the target rate") {
		t.Errorf("udp without -l: %s", r.stderr)
	}
	r = runAsync(t, "-N", "c", "-d", src, "-r", dst, "--data-path=udp", "-l", "10m", "-a", "low")
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "warning: option -a low: --data-path=udp holds the target rate") {
		t.Errorf("no warning for -a low:\n%s", r.stderr)
	}
	r = runAsync(t, "-N", "c", "-d", src, "-r", dst, "--data-path=udp", "-l", "10m", "-a", "fixed")
	mustCode(t, r, 0)
	if strings.Contains(r.stderr, "option -a") {
		t.Errorf("-a fixed warned:\n%s", r.stderr)
	}
}

// TestDataPathUDPAndQUICAreInternal: --data-path=udp and quic are usage
// errors unless the internal switch is on.
func TestDataPathUDPAndQUICAreInternal(t *testing.T) {
	src, dst := dirs(t)
	for _, v := range []string{"udp", "quic"} {
		r := runAsync(t, "-N", "c", "-d", src, "-r", dst, "-l", "10m", "--data-path="+v)
		mustCode(t, r, exitUsage)
		if !strings.Contains(r.stderr, "option --data-path") {
			t.Errorf("%s: %s", v, r.stderr)
		}
	}
}
