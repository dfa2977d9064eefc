// Package sshdtest starts Debian's OpenSSH server on 127.0.0.1 for tests:
// a temporary configuration, host key and client key, and a test user of
// its own whose home is the docroot.
//
// Each server gets a new system user (unique name, removed when the test
// ends; users left by a killed test process are removed by the next one),
// so any number of servers, test packages and `go test` processes can run
// at once: none shares a password or a home with another.
//
// It needs root (useradd, sshd) and /usr/sbin/sshd (openssh-server): tests
// skip with one line without them, and fail instead under CI=true, so that
// a CI run cannot pass by skipping them.
package sshdtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/async-sync/async/internal/testnet"
)

// userPrefix starts the name of every user this package creates; the
// user's comment names the creating process ("async test pid=N").
const userPrefix = "asynct"

// sshdPath is where Debian installs the server.
const sshdPath = "/usr/sbin/sshd"

// Server is a running sshd.
type Server struct {
	Host       string // always 127.0.0.1
	Port       int
	User       string
	Home       string // the user's home directory (the agent's docroot)
	UID, GID   int
	KeyFile    string // the client's private key (unencrypted, ed25519)
	KnownHosts string // a known_hosts file that trusts the host key
	HostKey    ssh.PublicKey
	Password   string // set when Options.Password was
	Dir        string // the server's configuration directory
}

// Options configures Start.
type Options struct {
	// Password enables password authentication with a random password for
	// the server's user.
	Password bool
	// User is an existing or lasting account to log in as instead of a new
	// one, created with Home as its home directory when missing and kept
	// when the test ends (benchmarks use it). Servers that share a User
	// share its password: do not combine it with Password in parallel.
	User, Home string
}

// T is what Start needs of a test (testing.TB has it).
type T = testnet.T

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Unavailable returns why this process cannot run a test sshd, or "" when
// it can.
func Unavailable() string {
	if os.Geteuid() != 0 {
		return "not root: the SSH tests create users and run sshd (run them as root)"
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return fmt.Sprintf("no %s: install openssh-server", sshdPath)
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd"} {
		if _, err := lookTool(tool); err != nil {
			return fmt.Sprintf("no %s: install passwd", tool)
		}
	}
	return ""
}

// Require skips the test (one line; under CI=true it fails) when
// Unavailable. Start calls it; a test that shares one server between
// tests calls it before starting it.
func Require(t T) {
	t.Helper()
	if why := Unavailable(); why != "" {
		testnet.Missing(t, why)
	}
}

// Start starts sshd for the test and stops it when the test ends.
func Start(t T, o Options) *Server {
	t.Helper()
	Require(t)
	sweepOnce.Do(sweepLeftovers)
	var u *user.User
	var err error
	if o.User != "" {
		u, err = ensureUser(o.User, o.Home)
	} else {
		u, err = newUser(t)
	}
	if err != nil {
		t.Fatalf("sshd test user: %v", err)
	}
	// Not t.TempDir: its parent is private, and sshd reads
	// authorized_keys as the user.
	dir, err := os.MkdirTemp("", "async-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The owner: a later process stops this sshd if this one dies first.
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	s := &Server{Host: "127.0.0.1", User: u.Username, Home: u.HomeDir, Dir: dir}
	s.UID, _ = strconv.Atoi(u.Uid)
	s.GID, _ = strconv.Atoi(u.Gid)
	if _, err := os.Stat(s.Home); os.IsNotExist(err) { // a home in /dev/shm after a reboot
		if err := os.MkdirAll(s.Home, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(s.Home, s.UID, s.GID); err != nil {
			t.Fatal(err)
		}
	}
	hostPub := writeKey(t, filepath.Join(dir, "hostkey"))
	s.HostKey = hostPub
	clientPub := writeKey(t, filepath.Join(dir, "clientkey"))
	s.KeyFile = filepath.Join(dir, "clientkey")
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.Password {
		s.Password = testnet.RandomHex(12)
		if err := setPassword(s.User, s.Password); err != nil {
			t.Fatal(err)
		}
		if o.User != "" { // a lasting user keeps no password
			t.Cleanup(func() { userTool("usermod", nil, "-p", "*", s.User) })
		}
	}
	var lastErr error
	for range 5 {
		s.Port = testnet.FreePort(t)
		if lastErr = s.start(t, o); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("sshd: %v", lastErr)
	}
	line := fmt.Sprintf("[%s]:%d %s", s.Host, s.Port, ssh.MarshalAuthorizedKey(hostPub))
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) start(t T, o Options) error {
	pw := "no"
	if o.Password {
		pw = "yes"
	}
	conf := fmt.Sprintf(`ListenAddress %s:%d
HostKey %s/hostkey
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PasswordAuthentication %s
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers %s
MaxSessions 64
MaxStartups 64
Subsystem sftp internal-sftp
`, s.Host, s.Port, s.Dir, s.Dir, s.Dir, pw, s.User)
	cf := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(s.Dir, "sshd.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
			return fmt.Errorf("sshd exited: %s", strings.TrimSpace(string(log)))
		default:
		}
		// Its own listener, not a connection: another test process may
		// have taken the same free port, and a connection would reach
		// that one's sshd while this one's bind is about to fail.
		if testnet.Listens(cmd.Process.Pid, s.Port) {
			t.Cleanup(func() { cmd.Process.Kill(); <-exited })
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("sshd did not listen on %s", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TempDir makes a fresh directory owned by the test user inside its home
// (the docroot), removed when the test ends.
func (s *Server) TempDir(t T) string {
	t.Helper()
	d, err := os.MkdirTemp(s.Home, "t-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, s.UID, s.GID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Chown gives everything below root to the test user, for trees a test
// prepared as root.
func (s *Server) Chown(t T, root string) {
	t.Helper()
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.UID, s.GID)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ensureUser creates the named user (login shell /bin/sh, no password)
// when missing; with UsePAM no, sshd refuses a locked account, hence "-p *".
func ensureUser(name, home string) (*user.User, error) {
	if u, err := user.Lookup(name); err == nil {
		return u, nil
	}
	args := []string{"-m", "-s", "/bin/sh", "-p", "*"}
	if home != "" {
		args = append(args, "-d", home)
	}
	err := userTool("useradd", nil, append(args, name)...)
	if u, lerr := user.Lookup(name); lerr == nil {
		return u, nil // created, possibly by a concurrent test process
	}
	return nil, err
}

// sweepOnce removes, once per process, the users that test processes no
// longer running left behind (killed before their cleanups ran).
var sweepOnce sync.Once

// newUser creates a user of the test's own (home /home/NAME, no password)
// and deletes it, with its home, when the test ends.
func newUser(t T) (*user.User, error) {
	t.Helper()
	name := userPrefix + testnet.RandomHex(5)
	err := userTool("useradd", nil, "-m", "-s", "/bin/sh", "-p", "*",
		"-c", fmt.Sprintf("async test pid=%d", os.Getpid()), name)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { deleteUser(name) })
	return user.Lookup(name)
}

// deleteUser removes a test user and its home; -f: the user's last
// processes (an agent sshd just lost) may still be exiting.
func deleteUser(name string) error {
	return userTool("userdel", nil, "-f", "-r", name)
}

// ownerFile, in a server's directory, holds the pid of the test process
// that started it.
const ownerFile = "owner"

// sweepLeftovers stops the servers and deletes the test users whose test
// process is gone (killed before its cleanups ran).
func sweepLeftovers() {
	sweepServers(os.TempDir())
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 5 || !strings.HasPrefix(f[0], userPrefix) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(f[4], "async test pid="))
		if err != nil || !strings.HasPrefix(f[4], "async test pid=") || pid <= 0 {
			continue
		}
		if gone(pid) {
			deleteUser(f[0])
		}
	}
}

// sweepServers stops the sshd of every server directory under tmp whose
// owner is gone, and removes the directory. The sshd is killed only when
// its command line names the directory's configuration (its pid may have
// been reused since).
func sweepServers(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "async-sshd-*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or still being set up
		}
		if pid, err := strconv.Atoi(string(owner)); err != nil || pid <= 0 || !gone(pid) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "sshd.pid")); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err == nil && pid > 0 && bytes.Contains(cmdline, []byte(filepath.Join(dir, "sshd_config"))) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		os.RemoveAll(dir)
	}
}

// gone reports whether no process has the given pid.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// toolMu serializes this process's changes to the user database; other
// processes' are retried (see userTool).
var toolMu sync.Mutex

// userTool runs useradd, userdel, usermod or chpasswd. They refuse to run
// while another process holds the user database's lock ("cannot lock
// /etc/passwd"): that is retried for up to 30 s.
func userTool(tool string, stdin []byte, args ...string) error {
	path, err := lookTool(tool)
	if err != nil {
		return err
	}
	toolMu.Lock()
	defer toolMu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(path, args...)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if !strings.Contains(string(out), "lock") || time.Now().After(deadline) {
			return fmt.Errorf("%s: %v: %s", tool, err, strings.TrimSpace(string(out)))
		}
		time.Sleep(time.Duration(20+mathrand.IntN(80)) * time.Millisecond)
	}
}

// lookTool finds a user-administration tool: in PATH or in /usr/sbin,
// which an ordinary user's PATH may lack.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join("/usr/sbin", name))
}

// setPassword gives user name the password pw. The password goes on
// chpasswd's standard input, never on a command line.
func setPassword(name, pw string) error {
	return userTool("chpasswd", []byte(name+":"+pw+"\n"))
}

// writeKey writes a new ed25519 private key in OpenSSH format and returns
// its public half.
func writeKey(t T, file string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}
