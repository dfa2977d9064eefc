// Package sshdtest starts Debian's OpenSSH server on 127.0.0.1 for tests:
// a temporary configuration, host key and client key, and a test user whose
// home is the docroot. Tests that need it fail (never skip) when sshd is
// missing or the process cannot create the user (it must run as root, as CI
// does); `.ci/run` installs openssh-server.
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/async-sync/async/internal/testnet"
)

// DefaultUser is the account the tests log in as.
const DefaultUser = "synctest"

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
	// the user (restored to "no password" when the test ends).
	Password bool
	// User is the account to log in as (DefaultUser when empty), created
	// with Home as its home directory when missing.
	User, Home string
}

// T is what Start needs of a test (testing.TB has it).
type T = testnet.T

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Start starts sshd for the test and stops it when the test ends.
func Start(t T, o Options) *Server {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Fatalf("sshd: %v (install openssh-server; .ci/run does)", err)
	}
	name := o.User
	if name == "" {
		name = DefaultUser
	}
	u, err := ensureUser(name, o.Home)
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
		setPassword(t, s.User, s.Password)
		t.Cleanup(func() { exec.Command("usermod", "-p", "*", s.User).Run() })
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
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
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

// ensureUser creates the test user (login shell /bin/sh, no password) when
// missing; with UsePAM no, sshd refuses a locked account, hence "-p *".
func ensureUser(name, home string) (*user.User, error) {
	if u, err := user.Lookup(name); err == nil {
		return u, nil
	}
	args := []string{"-m", "-s", "/bin/sh", "-p", "*"}
	if home != "" {
		args = append(args, "-d", home)
	}
	out, err := exec.Command("useradd", append(args, name)...).CombinedOutput()
	if u, lerr := user.Lookup(name); lerr == nil {
		return u, nil // created, possibly by a concurrent test process
	}
	return nil, fmt.Errorf("useradd %s: %v: %s", name, err, strings.TrimSpace(string(out)))
}

func setPassword(t T, name, pw string) {
	t.Helper()
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(name + ":" + pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
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
