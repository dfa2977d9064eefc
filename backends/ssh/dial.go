package ssh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	sshagent "golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/backends/ssh/protocol"
)

// Options say how to reach and log in to a server.
type Options struct {
	Host string
	Port int // 0: 22
	User string
	// KeyFiles are private keys to try first (-i), in order.
	KeyFiles []string
	// Password is used after the keys (ASPERA_SCP_PASS, -w).
	Password string
	// AskPassword asks for a password on a terminal; nil when there is
	// none.
	AskPassword func(prompt string) (string, error)
	// KnownHosts are the files of trusted host keys (default
	// ~/.ssh/known_hosts).
	KnownHosts []string
	// Home is the local home directory (default keys and known_hosts).
	Home string
	// AgentSocket is the ssh-agent's socket, whose keys are offered after
	// KeyFiles ($SSH_AUTH_SOCK, read by the caller; "": none).
	AgentSocket string
	// Ciphers is the cipher preference (nil: x/crypto's default).
	Ciphers []string
	Log     *slog.Logger

	// alive overrides the liveness bounds (tests); zero fields take the
	// defaults.
	alive liveness
}

// liveness bounds how long a silent server or agent is waited for.
type liveness struct {
	// every is the keepalive interval; after max keepalives in a row go
	// unanswered (each given every to answer) the connection is closed.
	every time.Duration
	max   int
	// stall is how long an agent may stay silent while requests wait.
	stall time.Duration
}

// Keepalive defaults, as OpenSSH's ServerAliveInterval and
// ServerAliveCountMax would be set by a careful user.
const (
	defaultKeepalive    = 15 * time.Second
	defaultKeepaliveMax = 3
)

// livenessEnv lets the end-to-end tests shorten the bounds of the built
// binary: "every,max,stall" as Go durations and a count.
const livenessEnv = "ASYNC_TEST_SSH_LIVENESS"

// withDefaults fills the unset bounds, from livenessEnv first.
func (l liveness) withDefaults() liveness {
	if v := os.Getenv(livenessEnv); v != "" && l == (liveness{}) {
		if f := strings.Split(v, ","); len(f) == 3 {
			l.every, _ = time.ParseDuration(f[0])
			l.max, _ = strconv.Atoi(f[1])
			l.stall, _ = time.ParseDuration(f[2])
		}
	}
	if l.every <= 0 {
		l.every = defaultKeepalive
	}
	if l.max <= 0 {
		l.max = defaultKeepaliveMax
	}
	if l.stall <= 0 {
		l.stall = client.DefaultStall
	}
	return l
}

// HostKeyError is an unknown or changed host key.
type HostKeyError struct {
	Host        string
	Fingerprint string // SHA256 of the key the server offered
	KeyType     string
	Changed     bool // a different key is trusted for this host
	File        string
	Line        int // of the trusted key, when it changed
	Port        int
}

func (e *HostKeyError) Error() string {
	host, _, _ := net.SplitHostPort(e.Host)
	if e.Changed {
		return fmt.Sprintf("host key of %s has CHANGED: it offered %s %s, but %s line %d trusts another key; someone may be intercepting the connection. If the server's key really changed, remove the old one with: ssh-keygen -R %s -f %s",
			e.Host, e.KeyType, e.Fingerprint, e.File, e.Line, knownhosts.Normalize(e.Host), e.File)
	}
	return fmt.Sprintf("host key of %s is unknown (%s %s); if that fingerprint is the server's, trust it with: ssh-keyscan -p %d %s >> %s",
		e.Host, e.KeyType, e.Fingerprint, e.Port, host, e.File)
}

// ErrAuth is a failed login.
var ErrAuth = errors.New("authentication failed")

// Conn is a logged-in SSH connection.
type Conn struct {
	c     *ssh.Client
	addr  string
	log   *slog.Logger
	alive liveness

	mu     sync.Mutex
	lostBy error // why keepalive closed the connection
}

// Dial connects and logs in, verifying the host key.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	if o.Port == 0 {
		o.Port = 22
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	if len(o.KnownHosts) == 0 {
		o.KnownHosts = []string{filepath.Join(o.Home, ".ssh", "known_hosts")}
	}
	hkc, algos, err := hostKeyCheck(o.KnownHosts, addr, o.Port)
	if err != nil {
		return nil, err
	}
	signers, err := signers(o)
	if err != nil {
		return nil, err
	}
	var auth []ssh.AuthMethod
	if len(signers) > 0 {
		auth = append(auth, ssh.PublicKeys(signers...))
	}
	if o.Password != "" || o.AskPassword != nil {
		pw := passwordSource(o)
		auth = append(auth, ssh.PasswordCallback(pw), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			ans := make([]string, len(qs))
			for i := range qs {
				p, err := pw()
				if err != nil {
					return nil, err
				}
				ans[i] = p
			}
			return ans, nil
		}))
	}
	cfg := &ssh.ClientConfig{User: o.User, Auth: auth, HostKeyCallback: hkc, HostKeyAlgorithms: algos, Timeout: 20 * time.Second}
	cfg.Ciphers = o.Ciphers
	d := net.Dialer{Timeout: 20 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("log in to %s as %s: %w (tried: %s)", addr, o.User, ErrAuth, triedMethods(signers, o))
		}
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	o.Log.Info("ssh connected", "server", addr, "user", o.User)
	c := &Conn{c: ssh.NewClient(sc, chans, reqs), addr: addr, log: o.Log, alive: o.alive.withDefaults()}
	go c.keepalive()
	return c, nil
}

// keepalive sends a keepalive@openssh.com request every c.alive.every and
// closes the connection once c.alive.max in a row went unanswered, so that
// a server that stopped answering ends the run instead of hanging it.
func (c *Conn) keepalive() {
	closed := make(chan struct{})
	go func() { c.c.Wait(); close(closed) }()
	missed := 0
	for {
		if missed == 0 { // an unanswered one is followed at once
			select {
			case <-closed:
				return
			case <-time.After(c.alive.every):
			}
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.c.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				return // the connection is gone
			}
			missed = 0
			continue
		case <-closed:
			return
		case <-time.After(c.alive.every):
			missed++
		}
		if missed >= c.alive.max {
			err := fmt.Errorf("the server %s stopped answering (%d keepalives in a row unanswered, %s apart)", c.addr, missed, c.alive.every)
			c.log.Warn("ssh connection lost", "err", err)
			c.mu.Lock()
			c.lostBy = err
			c.mu.Unlock()
			c.c.Close()
			return
		}
	}
}

// lost says why keepalive closed the connection, or nil.
func (c *Conn) lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostBy
}

func triedMethods(s []ssh.Signer, o Options) string {
	var parts []string
	if len(s) > 0 {
		parts = append(parts, fmt.Sprintf("%d key(s)", len(s)))
	}
	if o.Password != "" || o.AskPassword != nil {
		parts = append(parts, "password")
	}
	if len(parts) == 0 {
		return "no key and no password: give -i KEY or set ASPERA_SCP_PASS"
	}
	return strings.Join(parts, ", ")
}

// Close ends the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Addr is the server's host:port.
func (c *Conn) Addr() string { return c.addr }

// RemoteIP is the address the connection reached the server at: where
// the data path's streams go.
func (c *Conn) RemoteIP() string {
	if a, ok := c.c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, _ := net.SplitHostPort(c.addr)
	return host
}

// SSH returns the underlying client (for SFTP).
func (c *Conn) SSH() *ssh.Client { return c.c }

// hostKeyCheck builds the known_hosts verification and the host key
// algorithms to ask for: the types already trusted for the host, so that a
// server with several keys shows the one we know.
func hostKeyCheck(files []string, addr string, port int) (ssh.HostKeyCallback, []string, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	shown := files[0]
	var cb ssh.HostKeyCallback
	if len(existing) > 0 {
		var err error
		if cb, err = knownhosts.New(existing...); err != nil {
			return nil, nil, fmt.Errorf("option --known-hosts: %w", err)
		}
	} else {
		cb = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	}
	var algos []string
	probe := cb(addr, &net.TCPAddr{}, probeKey{})
	var ke *knownhosts.KeyError
	if errors.As(probe, &ke) {
		for _, k := range ke.Want {
			algos = append(algos, algorithmsFor(k.Key.Type())...)
		}
	}
	check := func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(host, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			e := &HostKeyError{Host: addr, Fingerprint: ssh.FingerprintSHA256(key), KeyType: key.Type(), File: shown, Port: port}
			if len(ke.Want) > 0 {
				e.Changed, e.File, e.Line = true, ke.Want[0].Filename, ke.Want[0].Line
			}
			return e
		}
		return err
	}
	return check, algos, nil
}

// algorithmsFor lists the signature algorithms of a key type.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// probeKey is a key no known_hosts holds: checking it reveals which keys
// are trusted for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "async-probe" }
func (probeKey) Marshal() []byte                     { return []byte("async-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe") }

// signers collects the keys to offer: -i files, the ssh-agent's, then the
// default files in ~/.ssh.
func signers(o Options) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, f := range o.KeyFiles {
		s, err := loadKey(f, o.AskPassword)
		if err != nil {
			return nil, fmt.Errorf("option -i: %w", err)
		}
		out = append(out, s)
	}
	if sock := o.AgentSocket; sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			if s, err := sshagent.NewClient(c).Signers(); err == nil {
				out = append(out, s...)
			}
		}
	}
	if len(o.KeyFiles) == 0 {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			f := filepath.Join(o.Home, ".ssh", name)
			if _, err := os.Stat(f); err != nil {
				continue
			}
			if s, err := loadKey(f, o.AskPassword); err == nil {
				out = append(out, s)
			} else {
				o.Log.Debug("default key skipped", "file", f, "err", err)
			}
		}
	}
	return out, nil
}

// loadKey reads a private key, asking for its passphrase on a terminal.
func loadKey(file string, ask func(string) (string, error)) (ssh.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		if ask == nil {
			return nil, fmt.Errorf("key %s is encrypted; its passphrase can only be asked on a terminal (or load it into ssh-agent)", file)
		}
		pass, err := ask(fmt.Sprintf("Passphrase for %s: ", file))
		if err != nil {
			return nil, err
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(b, []byte(pass))
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", file, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", file, err)
	}
	return s, nil
}

// passwordSource returns the password: the given one, or one asked once on
// the terminal.
func passwordSource(o Options) func() (string, error) {
	var once sync.Once
	var pw string
	var err error
	return func() (string, error) {
		once.Do(func() {
			switch {
			case o.Password != "":
				pw = o.Password
			case o.AskPassword != nil:
				pw, err = o.AskPassword(fmt.Sprintf("%s@%s's password: ", o.User, o.Host))
			}
		})
		return pw, err
	}
}

// StartOptions say how to start the agent.
type StartOptions struct {
	// Binary is the local agent program to install when the server has
	// none (default: this program).
	Binary string
	// Digest is Binary's SHA-256 in hex when the caller computed it
	// already (BinaryDigest), perhaps while the connection was being
	// made; empty: StartAgent computes it.
	Digest string
	Root   string // the remote root (-r's path)
	Create bool   // --create-dir
	// FollowLinks: -n follow.
	FollowLinks   bool
	Token, Cookie string
	Session       string
	LogDir        string // -R
	LogMB         int
	Debug         bool
	// Config is the agent's configuration file on the server (empty:
	// its default).
	Config string
	// Compression compresses what travels both ways: "zstd", "zlib" or
	// "" (--compression).
	Compression string
}

// agentDir is where agents are installed on the server, per version.
const agentDir = ".cache/async/agent"

// StartAgent runs the agent on the server (installing it when missing or
// of another protocol version) and opens the sync root.
func (c *Conn) StartAgent(ctx context.Context, o StartOptions) (*client.Client, error) {
	bin, err := AgentBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	sum := o.Digest
	if sum == "" {
		if sum, err = BinaryDigest(bin); err != nil {
			return nil, err
		}
	} else if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || strings.ToLower(sum) != sum {
		// It names a directory and is compared in a shell command.
		return nil, fmt.Errorf("agent binary: %q is not a SHA-256 digest in hex", sum)
	}
	version := fmt.Sprintf("p%d-%s", protocol.ProtocolVersion, sum[:16])
	h := protocol.Hello{Root: o.Root, Create: o.Create, FollowLinks: o.FollowLinks, Token: o.Token, Cookie: o.Cookie,
		Session: o.Session, LogDir: o.LogDir, LogMB: o.LogMB, Debug: o.Debug, Compression: o.Compression}
	args := "server --stdio"
	if o.Config != "" {
		args += " --config " + shellQuote(o.Config)
	}
	cached := agentDir + "/" + version + "/async"
	script := fmt.Sprintf(`if [ -x "$HOME/%s" ]; then exec "$HOME/%s" %s; elif command -v async >/dev/null 2>&1; then exec async %s; else exit 127; fi`, cached, cached, args, args)
	cl, err := c.runAgent(ctx, script, h)
	if err == nil {
		return cl, nil
	}
	var re *protocol.RemoteError
	if errors.As(err, &re) && !strings.Contains(re.Msg, "protocol version") {
		return nil, err // the agent runs and refused: docroot, token, path
	}
	c.log.Info("installing the agent on the server", "version", version, "reason", err)
	if err := c.install(ctx, bin, version, sum); err != nil {
		return nil, err
	}
	return c.runAgent(ctx, fmt.Sprintf(`exec "$HOME/%s" %s`, cached, args), h)
}

// runAgent starts the agent command and says hello. The exec request
// asks for no reply and the hello follows it at once: the server handles
// a channel's messages in order, so the hello reaches the agent's stdin,
// and the round trip of an exec reply (the server forks the command
// before it answers) is not waited for. A refused or failed command
// closes the channel, which ends the hello with what it wrote on stderr.
func (c *Conn) runAgent(ctx context.Context, cmd string, h protocol.Hello) (*client.Client, error) {
	ch, reqs, err := c.c.OpenChannel("session", nil)
	if err != nil {
		return nil, fmt.Errorf("ssh session: %w", err)
	}
	closed := make(chan struct{})
	go func() { // exit-status and the like; the channel's end closes reqs
		for r := range reqs {
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
		close(closed)
	}()
	var stderr bytes.Buffer
	stderrDone := make(chan struct{})
	go func() {
		io.Copy(&limitedWriter{w: &stderr, n: 4096}, ch.Stderr())
		close(stderrDone)
	}()
	if _, err := ch.SendRequest("exec", false, ssh.Marshal(struct{ Command string }{cmd})); err != nil {
		ch.Close()
		return nil, fmt.Errorf("start agent: %w", err)
	}
	closer := &agentSession{ch: ch, closed: closed, conn: c}
	cl, err := client.New(ctx, ch, ch, closer, h, c.alive.stall)
	if err != nil {
		closer.Close()
		var re *protocol.RemoteError
		if errors.As(err, &re) {
			return nil, err
		}
		select { // the channel is closed: what the command said is all there
		case <-stderrDone:
		case <-time.After(time.Second):
		}
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("agent on %s: %v: %s", c.addr, err, msg)
		}
		return nil, fmt.Errorf("agent on %s: %w", c.addr, err)
	}
	return cl, nil
}

var (
	_ client.Aborter      = (*agentSession)(nil)
	_ client.Detacher     = (*agentSession)(nil)
	_ client.LostReporter = (*agentSession)(nil)
)

// agentSession is the SSH channel the agent runs in.
type agentSession struct {
	ch     ssh.Channel
	closed <-chan struct{} // closed when the server closed the channel
	once   sync.Once
	conn   *Conn
}

// Abort cuts the SSH connection: a channel write the agent does not take
// returns only when the whole connection closes.
func (a *agentSession) Abort() { a.conn.c.Close() }

// Lost says why the SSH connection was lost, if keepalives found out.
func (a *agentSession) Lost() error { return a.conn.lost() }

// Close ends the agent's stdin and waits, 10 s at most, for the agent to
// exit (the server then closes the channel), so that what it holds (the
// remote snapshot's lock, its log) is let go before the run ends.
func (a *agentSession) Close() error {
	a.once.Do(func() {
		a.ch.CloseWrite()
		select {
		case <-a.closed:
		case <-time.After(10 * time.Second):
		}
		a.ch.Close()
	})
	return nil
}

// Detach ends the agent's stdin and closes the channel without waiting
// for the agent to exit: it exits on its own at the end of its input,
// the server does not stop it (no terminal), and the client's Close asks
// this only when the agent holds nothing the run waits for.
func (a *agentSession) Detach() error {
	a.once.Do(func() {
		a.ch.CloseWrite()
		a.ch.Close()
	})
	return nil
}

// install uploads the agent binary to ~/.cache/async/agent/VERSION/async,
// checking its digest there before it takes its final name.
func (c *Conn) install(ctx context.Context, bin, version, sum string) error {
	goos, goarch, err := c.platform()
	if err != nil {
		return err
	}
	if goos != runtime.GOOS || goarch != runtime.GOARCH {
		alt := filepath.Join(filepath.Dir(bin), fmt.Sprintf("async-%s-%s", goos, goarch))
		if _, err := os.Stat(alt); err != nil {
			return fmt.Errorf("the server (%s/%s) has no async agent and this client (%s/%s) cannot provide one: install async on the server's PATH, or put %s beside this program, or use --sftp",
				goos, goarch, runtime.GOOS, runtime.GOARCH, filepath.Base(alt))
		}
		bin = alt
		if sum, err = fileDigest(bin); err != nil {
			return err
		}
	}
	f, err := os.Open(bin)
	if err != nil {
		return fmt.Errorf("agent binary: %w", err)
	}
	defer f.Close()
	s, err := c.c.NewSession()
	if err != nil {
		return fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	s.Stdin = f
	dir := `"$HOME/` + agentDir + "/" + version + `"`
	script := fmt.Sprintf(`set -e; umask 077; mkdir -p %s; t=%s/async.tmp.$$; cat > "$t"; chmod 700 "$t"; `+
		`s=$(sha256sum "$t" | cut -d" " -f1); if [ "$s" != %s ]; then rm -f "$t"; echo "digest mismatch after upload" >&2; exit 1; fi; mv -f "$t" %s/async`,
		dir, dir, sum, dir)
	out, err := s.CombinedOutput(script)
	if err != nil {
		return fmt.Errorf("install the agent on %s: %v: %s", c.addr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// platform asks the server for its OS and architecture, as Go names them.
func (c *Conn) platform() (string, string, error) {
	s, err := c.c.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	out, err := s.Output("uname -sm")
	if err != nil {
		return "", "", fmt.Errorf("uname on %s: %w", c.addr, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", "", fmt.Errorf("uname on %s: unexpected %q", c.addr, out)
	}
	goos := strings.ToLower(f[0])
	arch := map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[f[1]]
	if arch == "" {
		arch = f[1]
	}
	return goos, arch, nil
}

func fileDigest(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AgentBinary is the program StartAgent installs for StartOptions.Binary
// bin: bin itself, or this program when bin is empty.
func AgentBinary(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("agent binary: %w", err)
	}
	return exe, nil
}

// BinaryDigest is the SHA-256 (hex) of the agent program bin, which names
// the agent's version on the server (StartOptions.Digest). Hashing a
// program of tens of MiB takes tens of milliseconds: callers compute it
// while the connection is being made.
func BinaryDigest(bin string) (string, error) {
	sum, err := fileDigest(bin)
	if err != nil {
		return "", fmt.Errorf("agent binary: %w", err)
	}
	return sum, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
