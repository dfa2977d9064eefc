package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/sshdtest"
)

var (
	sshdOnce sync.Once
	sshd     *sshdtest.Server
	sshdDone []func()
)

// testServer is the package's sshd on 127.0.0.1, with keys and passwords.
func testServer(t *testing.T) *sshdtest.Server {
	t.Helper()
	sshdtest.Require(t)
	sshdOnce.Do(func() { sshd = sshdtest.Start(lasting{t}, sshdtest.Options{Password: true}) })
	if sshd == nil {
		t.Fatal("sshd did not start")
	}
	return sshd
}

// lasting keeps the shared sshd past the test that started it.
type lasting struct{ *testing.T }

func (lasting) Cleanup(fn func()) { sshdDone = append(sshdDone, fn) }

func stopServers() {
	for i := len(sshdDone) - 1; i >= 0; i-- {
		sshdDone[i]()
	}
}

// sshRun runs async with a fixed state directory (the SFTP snapshot lives
// there) and extra environment.
func sshRun(t *testing.T, state string, env []string, args ...string) result {
	t.Helper()
	return runBin(t, asyncBin, state, env, args...)
}

// remote is the -r form of a directory on the test server.
func remote(s *sshdtest.Server, dir string) string {
	return fmt.Sprintf("ssh://%s@%s:%d%s", s.User, s.Host, s.Port, dir)
}

// keyArgs starts a command line for session name that logs in with the
// test key.
func keyArgs(s *sshdtest.Server, name string) []string {
	return []string{"--known-hosts", s.KnownHosts, "-N", name, "-i", s.KeyFile}
}

func TestSSHPushPullAgentAndSFTP(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	for _, mode := range []string{"agent", "sftp"} {
		t.Run(mode, func(t *testing.T) {
			state := t.TempDir()
			src := t.TempDir()
			dst := s.TempDir(t)
			writeTree(t, src, sample)
			args := append(keyArgs(s, "s"), "-d", src, "-r", remote(s, dst), "-t")
			if mode == "sftp" {
				args = append(args, "--sftp")
			}
			r := sshRun(t, state, nil, args...)
			mustCode(t, r, 0)
			equalTrees(t, readTree(t, dst), readTree(t, src))
			// A second run transfers nothing.
			r = sshRun(t, state, nil, args...)
			mustCode(t, r, 0)
			if !strings.Contains(r.stderr, " 0 files (0 B) transferred") || r.stdout != "" {
				t.Errorf("second run transferred something:\n%s%s", r.stdout, r.stderr)
			}
			// Changes and deletions propagate.
			writeTree(t, src, tree{"a.txt": "alpha v2", "new/file": "n"})
			os.RemoveAll(filepath.Join(src, "docs"))
			mustCode(t, sshRun(t, state, nil, args...), 0)
			equalTrees(t, readTree(t, dst), readTree(t, src))
			// The snapshot is on the server with the agent, local with SFTP.
			_, err := os.Stat(filepath.Join(dst, core.PrivateDir, "s"))
			if mode == "agent" && err != nil {
				t.Errorf("no remote snapshot on the server: %v", err)
			}
			if mode == "sftp" {
				if err == nil {
					t.Errorf("SFTP mode wrote a snapshot on the server")
				}
				if _, err := os.Stat(stateSnap(t, state, "s", "remote")); err != nil {
					t.Errorf("SFTP mode keeps no local snapshot of the remote side: %v", err)
				}
			}
			// Pull into a fresh directory.
			back := t.TempDir()
			pull := append(keyArgs(s, "p"), "-d", back, "-r", remote(s, dst), "-K", "pull", "-t")
			if mode == "sftp" {
				pull = append(pull, "--sftp")
			}
			mustCode(t, sshRun(t, state, nil, pull...), 0)
			equalTrees(t, readTree(t, back), readTree(t, src))
		})
	}
}

func TestSSHBidi(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	state, local, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, local, tree{"l": "local"})
	writeTree(t, dst, tree{"r": "remote"})
	s.Chown(t, dst)
	args := append(keyArgs(s, "b"), "-d", local, "-r", remote(s, dst), "-K", "bidi")
	mustCode(t, sshRun(t, state, nil, args...), 0)
	want := tree{"l": "local", "r": "remote"}
	equalTrees(t, readTree(t, local), want)
	equalTrees(t, readTree(t, dst), want)
	os.Remove(filepath.Join(dst, "l"))
	writeTree(t, local, tree{"r": "changed locally"})
	mustCode(t, sshRun(t, state, nil, args...), 0)
	want = tree{"r": "changed locally"}
	equalTrees(t, readTree(t, local), want)
	equalTrees(t, readTree(t, dst), want)
}

func TestSSHRemoteLogAndSnapshotDirs(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	state, src, home := t.TempDir(), t.TempDir(), s.TempDir(t)
	dst := filepath.Join(home, "dst")
	writeTree(t, src, tree{"f": "x"})
	args := append(keyArgs(s, "rl"), "-d", src, "-r", remote(s, dst), "--create-dir",
		"-B", filepath.Join(home, "db"), "-R", filepath.Join(home, "log"), "--cookie", "job-42")
	mustCode(t, sshRun(t, state, nil, args...), 0)
	log, err := os.ReadFile(filepath.Join(home, "log", "async-rl.log"))
	if err != nil || !strings.Contains(string(log), "job-42") {
		t.Errorf("remote log (%v) does not name the cookie:\n%s", err, log)
	}
	if _, err := os.Stat(filepath.Join(home, "db", "rl")); err != nil {
		t.Errorf("-B: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, core.PrivateDir)); err == nil {
		t.Errorf("with -B the private area still holds the snapshot")
	}
}

func TestSSHPasswordStaysSecret(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"big": strings.Repeat("b", 4<<20)})
	logDir := t.TempDir()
	// No key: the password from ASPERA_SCP_PASS logs in. A rate limit
	// keeps the run going while the process list is read.
	cmd := exec.Command(asyncBin, "--known-hosts", s.KnownHosts, "-L", logDir, "-D", "-N", "pw", "-d", src,
		"-r", remote(s, dst), "-l", "16m")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "HOME="+t.TempDir(), "ASPERA_SCP_PASS="+s.Password, "SSH_AUTH_SOCK=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	seen := ""
	var err error
	for done := false; !done; {
		seen += processList()
		select {
		case err = <-exited:
			done = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("password login: %v\n%s", err, out.String())
	}
	if strings.Contains(seen, s.Password) {
		t.Errorf("the password appeared in the process list")
	}
	if !strings.Contains(seen, "server --stdio") {
		t.Errorf("the process list was not observed while the agent ran")
	}
	for _, dir := range []string{logDir, state, filepath.Join(dst, "..")} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() && fi.Size() < 64<<20 {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(s.Password)) {
					t.Errorf("the password is in %s", p)
				}
			}
			return nil
		})
	}
	if strings.Contains(out.String(), s.Password) {
		t.Errorf("the password is in the output")
	}
}

// processList is every process's command line and environment we may read.
func processList() string {
	var b strings.Builder
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if c, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			b.Write(bytes.ReplaceAll(c, []byte{0}, []byte{' '}))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestSSHFailuresAreOneLine(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	src := t.TempDir()
	writeTree(t, src, tree{"f": "x"})
	dst := s.TempDir(t)
	otherKey := filepath.Join(t.TempDir(), "other")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(otherKey, pem.EncodeToMemory(blk), 0o600)
	emptyKnown := filepath.Join(t.TempDir(), "known_hosts")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	noHome := []string{"HOME=" + t.TempDir(), "SSH_AUTH_SOCK="}
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"wrong key", noHome, []string{"-i", otherKey, "--known-hosts", s.KnownHosts, "-r", remote(s, dst)}, 1, "authentication failed"},
		{"wrong password", append(noHome, "ASPERA_SCP_PASS=wrong"), []string{"--known-hosts", s.KnownHosts, "-r", remote(s, dst)}, 1, "authentication failed"},
		{"unknown host key", noHome, []string{"-i", s.KeyFile, "--known-hosts", emptyKnown, "-r", remote(s, dst)}, 1, "SHA256:"},
		{"connection refused", noHome, []string{"-i", s.KeyFile, "--known-hosts", s.KnownHosts, "-r", fmt.Sprintf("ssh://%s@127.0.0.1:%d%s", s.User, closedPort, dst)}, 1, "connection refused"},
		{"remote path missing", noHome, []string{"-i", s.KeyFile, "--known-hosts", s.KnownHosts, "-r", remote(s, dst+"/missing")}, 2, "does not exist"},
		{"dot-dot escape", noHome, []string{"-i", s.KeyFile, "--known-hosts", s.KnownHosts, "-r", s.User + "@127.0.0.1:../../etc", "-P", fmt.Sprint(s.Port)}, 2, `".."`},
		{"-d over SSH", noHome, []string{"-r", src}, 2, "option -d"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := readTree(t, src)
			local := src
			if c.name == "-d over SSH" {
				local = remote(s, dst)
			}
			var args []string
			rest := c.args
			for i := 0; i < len(rest); i++ {
				if rest[i] == "--known-hosts" {
					args = append(args, rest[i], rest[i+1])
					rest = append(append([]string{}, rest[:i]...), rest[i+2:]...)
					break
				}
			}
			args = append(append(args, "-N", "f", "-d", local), rest...)
			r := sshRun(t, t.TempDir(), c.env, args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:%s\nstderr:%s", r.code, c.code, r.stdout, r.stderr)
			}
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Errorf("stderr = %q, want one line with %q", msg, c.want)
			}
			equalTrees(t, readTree(t, src), before)
			if _, err := os.Stat(filepath.Join(src, core.PrivateDir)); err == nil {
				t.Errorf("a failed run created the local private area")
			}
		})
	}
}

func TestSSHFallsBackToSFTPWhenTheAgentCannotRun(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"f": "x", "d/g": "y"})
	broken := filepath.Join(t.TempDir(), "not-an-agent")
	os.WriteFile(broken, []byte("#!/bin/sh\necho 'cannot run here' >&2\nexit 3\n"), 0o755)
	env := []string{envAgent + "=" + broken}
	args := append(keyArgs(s, "fb"), "-d", src, "-r", remote(s, dst))
	r := sshRun(t, state, env, args...)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, "falling back to SFTP") {
		t.Errorf("no fallback warning:\n%s", r.stderr)
	}
	equalTrees(t, readTree(t, dst), readTree(t, src))
	if _, err := os.Stat(stateSnap(t, state, "fb", "remote")); err != nil {
		t.Errorf("the fallback keeps no local snapshot: %v", err)
	}
	// Once the agent runs again, the session's snapshot moved: --reset.
	r = sshRun(t, state, nil, args...)
	if r.code != 2 || !strings.Contains(r.stderr, "--reset") {
		t.Errorf("switching back without --reset: exit %d\n%s", r.code, r.stderr)
	}
}

func TestSSHKeysFromAgentAndHome(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// ~/.ssh/id_ed25519, no -i.
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), key, 0o600)
	src, dst := t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"f": "from the default key"})
	args := []string{"--known-hosts", s.KnownHosts, "-N", "k", "-d", src, "-r", remote(s, dst)}
	mustCode(t, sshRun(t, t.TempDir(), []string{"HOME=" + home, "SSH_AUTH_SOCK="}, args...), 0)
	equalTrees(t, readTree(t, dst), readTree(t, src))
	// ssh-agent, no key file at all.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	defer agent.Process.Kill()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command("ssh-add", s.KeyFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	dst2 := s.TempDir(t)
	args = []string{"--known-hosts", s.KnownHosts, "-N", "a", "-d", src, "-r", remote(s, dst2)}
	mustCode(t, sshRun(t, t.TempDir(), []string{"HOME=" + t.TempDir(), "SSH_AUTH_SOCK=" + sock}, args...), 0)
	equalTrees(t, readTree(t, dst2), readTree(t, src))
}

// Not parallel: async must stop within 1.5 s of SIGTERM, which a loaded
// machine can miss.
func TestSSHContinuousWatchesTheServer(t *testing.T) {
	s := testServer(t)
	state, local, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	f := startFollowing(t, state, nil, append(keyArgs(s, "cw"), "-d", local, "-r", remote(s, dst), "-K", "bidi", "-C", "--cooloff", "1")...)
	time.Sleep(1500 * time.Millisecond)
	writeTree(t, dst, tree{"from-server": "s"})
	s.Chown(t, dst)
	writeTree(t, local, tree{"from-client": "c"})
	eventually(t, "changes on both sides", func() bool {
		return readTree(t, local)["from-server"] == "s" && readTree(t, dst)["from-client"] == "c"
	})
	if code := f.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, f.out)
	}
}

func TestSSHCompression(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	for _, algo := range []string{"zstd", "zlib"} {
		state, src, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
		writeTree(t, src, tree{"text": strings.Repeat("compressible text ", 100000), "small": "s", "d/e": "e"})
		args := append(keyArgs(s, "z"+algo), "-d", src, "-r", remote(s, dst), "--compression", algo, "-t")
		mustCode(t, sshRun(t, state, nil, args...), 0)
		equalTrees(t, readTree(t, dst), readTree(t, src))
	}
	r := sshRun(t, t.TempDir(), nil, "-N", "zbad", "-d", t.TempDir(), "-r", "h:/x", "--compression", "lz4")
	if r.code != 2 || !strings.Contains(r.stderr, "--compression") {
		t.Errorf("--compression lz4: exit %d %s", r.code, r.stderr)
	}
}

// TestSSHResyncOfManyFiles: bidi over the agent with more records than the
// engine's streaming join queues per side: the first run, a no-change
// resync and one with a change on each side finish and converge.
func TestSSHResyncOfManyFiles(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	state, local, dst := t.TempDir(), t.TempDir(), s.TempDir(t)
	want := tree{}
	for i := range 6000 {
		want[fmt.Sprintf("d%02d/f%04d", i%20, i)] = fmt.Sprint(i)
	}
	writeTree(t, local, want)
	for i := range 20 {
		want[fmt.Sprintf("d%02d/", i)] = ""
	}
	s.Chown(t, dst)
	args := append(keyArgs(s, "many"), "-d", local, "-r", remote(s, dst), "-K", "bidi")
	mustCode(t, sshRun(t, state, nil, args...), 0)
	equalTrees(t, readTree(t, dst), want)
	mustCode(t, sshRun(t, state, nil, args...), 0) // nothing changed
	writeTree(t, local, tree{"d00/f0000": "changed locally"})
	writeTree(t, dst, tree{"d19/f5999": "changed remotely"})
	want["d00/f0000"], want["d19/f5999"] = "changed locally", "changed remotely"
	mustCode(t, sshRun(t, state, nil, args...), 0)
	equalTrees(t, readTree(t, local), want)
	equalTrees(t, readTree(t, dst), want)
}
