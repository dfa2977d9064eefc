package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/internal/sshdtest"
	"github.com/async-sync/async/internal/testnet"
	gossh "golang.org/x/crypto/ssh"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// agentBinary builds cmd/async once per test run (or copies the one make
// test built): the program the client installs on the server.
func agentBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "async-agent-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "async")
		buildErr = testnet.AsyncBinary(binPath)
	})
	if buildErr != nil {
		t.Fatalf("build agent: %v", buildErr)
	}
	return binPath
}

var (
	sshdOnce sync.Once
	sshd     *sshdtest.Server
)

// server starts one sshd for the package's tests.
func server(t *testing.T) *sshdtest.Server {
	sshdtest.Require(t)
	sshdOnce.Do(func() { sshd = sshdtest.Start(&lasting{T: t}, sshdtest.Options{}) })
	if sshd == nil {
		t.Fatal("sshd did not start")
	}
	return sshd
}

// lasting keeps the shared server alive past the first test that asked
// for it (its cleanups run at the end of the package's tests).
type lasting struct{ *testing.T }

func (l *lasting) Cleanup(fn func()) { cleanups = append(cleanups, fn) }

var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func dial(t *testing.T, s *sshdtest.Server) *Conn {
	c, err := Dial(context.Background(), Options{Host: s.Host, Port: s.Port, User: s.User,
		KeyFiles: []string{s.KeyFile}, KnownHosts: []string{s.KnownHosts}, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformanceOverSSH(t *testing.T) {
	t.Parallel()
	// A server of its own: a home without an agent, which the first start
	// installs.
	s := sshdtest.Start(t, sshdtest.Options{})
	bin := agentBinary(t)
	conn := dial(t, s)
	t.Cleanup(func() { conn.Close() })
	backendtest.Run(t, func(t *testing.T) core.Backend {
		c, err := conn.StartAgent(context.Background(), StartOptions{Binary: bin, Root: s.TempDir(t), Session: "conf"})
		if err != nil {
			t.Fatal(err)
		}
		return c.Backend()
	})
	if _, err := os.Stat(s.Home + "/" + agentDir); err != nil {
		t.Errorf("agent not installed: %v", err)
	}
}

func TestDocrootEscapesRefused(t *testing.T) {
	t.Parallel()
	s := server(t)
	bin := agentBinary(t)
	conn := dial(t, s)
	defer conn.Close()
	base := s.TempDir(t)
	doc := filepath.Join(base, "doc")
	os.MkdirAll(filepath.Join(doc, "root"), 0o755)
	os.Symlink("/etc", filepath.Join(doc, "root", "out"))
	os.Symlink("/etc", filepath.Join(doc, "etclink"))
	s.Chown(t, base)
	conf := filepath.Join(s.Dir, "escape-test-server.conf") // readable by the test user
	os.WriteFile(conf, []byte(fmt.Sprintf("[user %s]\ndocroot = %s\n", s.User, doc)), 0o644)
	ctx := context.Background()
	for _, p := range []string{"../../etc", "/../etc", "/etclink", "/etclink/ssh", "/root/out"} {
		_, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: p, Session: "esc", Config: conf})
		if !errors.Is(err, protocol.ErrOutsideDocroot) {
			t.Errorf("root %s: err = %v, want outside the docroot", p, err)
		}
	}
	// With a docroot, "/etc" is DOCROOT/etc.
	if _, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/etc", Session: "esc", Config: conf}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("root /etc under a docroot: err = %v, want not-exist", err)
	}
	c, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/root", Session: "esc", Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"out/passwd", "out"} {
		if _, err := c.Stat(ctx, p+"/x"); err == nil {
			t.Errorf("stat through %s succeeded", p)
		}
	}
	for _, b := range []string{"/../etc/async-db", "/etclink/async-db"} {
		if _, err := c.OpenStore(ctx, b, false); !errors.Is(err, protocol.ErrOutsideDocroot) {
			t.Errorf("-B %s: err = %v, want outside the docroot", b, err)
		}
	}
}

// TestNoDocrootServerPaths: without a configured docroot, remote paths
// are the server's own, reachable as the user's permissions allow (as
// with scp and rsync), and relative ones are relative to home.
func TestNoDocrootServerPaths(t *testing.T) {
	s := server(t)
	bin := agentBinary(t)
	conn := dial(t, s)
	defer conn.Close()
	outside, err := os.MkdirTemp("", "async-srv-") // outside the user's home
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(outside)
	s.Chown(t, outside)
	os.Chmod(outside, 0o755)
	ctx := context.Background()
	c, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: outside, Session: "srv"})
	if err != nil {
		t.Fatalf("root %s outside home: %v", outside, err)
	}
	if _, err := c.Mkdir(ctx, "made", 0o755); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(outside, "made")); err != nil {
		t.Error(err)
	}
	rel := filepath.Base(s.TempDir(t))
	c, err = conn.StartAgent(ctx, StartOptions{Binary: bin, Root: rel, Session: "srv"})
	if err != nil {
		t.Fatalf("relative root %s: %v", rel, err)
	}
	defer c.Close()
	if _, err := c.Mkdir(ctx, "made", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Home, rel, "made")); err != nil {
		t.Errorf("a relative root is not relative to home: %v", err)
	}
	// The user's own permissions still hold.
	if _, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/root", Session: "srv"}); err == nil {
		t.Error("the test user opened /root")
	}
}

func TestUnknownHostKey(t *testing.T) {
	t.Parallel()
	s := server(t)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	_, err := Dial(context.Background(), Options{Host: s.Host, Port: s.Port, User: s.User,
		KeyFiles: []string{s.KeyFile}, KnownHosts: []string{empty}, Home: t.TempDir()})
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Changed || !strings.Contains(err.Error(), "SHA256:") {
		t.Fatalf("err = %v, want an unknown host key with its fingerprint", err)
	}
	other := filepath.Join(t.TempDir(), "known_hosts")
	line, _ := os.ReadFile(s.KnownHosts)
	// Same host, another (valid) key: a changed key.
	fields := strings.Fields(string(line))
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := gossh.NewPublicKey(pub)
	os.WriteFile(other, []byte(fields[0]+" "+string(gossh.MarshalAuthorizedKey(sp))), 0o600)
	_, err = Dial(context.Background(), Options{Host: s.Host, Port: s.Port, User: s.User,
		KeyFiles: []string{s.KeyFile}, KnownHosts: []string{other}, Home: t.TempDir()})
	if !errors.As(err, &hk) || !hk.Changed {
		t.Fatalf("err = %v, want a changed host key", err)
	}
}

func TestTokenAndConfiguredDocroot(t *testing.T) {
	t.Parallel()
	s := server(t)
	bin := agentBinary(t)
	conn := dial(t, s)
	defer conn.Close()
	base := s.TempDir(t)
	for _, d := range []string{"tok/sub", "dr/data"} {
		os.MkdirAll(filepath.Join(base, d), 0o755)
	}
	s.Chown(t, base)
	conf := filepath.Join(s.Dir, "token-test-server.conf") // readable by the test user
	os.WriteFile(conf, []byte(fmt.Sprintf("[user %s]\ndocroot = %s/dr\n\n[key AK1]\nsecret = s3cret\nroot = %s/tok\n", s.User, base, base)), 0o644)
	token := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	ctx := context.Background()
	write := func(c *client.Client, name string) {
		t.Helper()
		w, err := c.Create(ctx, name, core.CreateOptions{Replace: core.MustNotExist})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("x"))
		if _, err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// The configured docroot is "/".
	c, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/data", Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	write(c, "in-docroot")
	if _, err := os.Stat(filepath.Join(base, "dr/data/in-docroot")); err != nil {
		t.Errorf("configured docroot: %v", err)
	}
	// A token confines the session to its key's root, also shown as "/".
	c, err = conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/sub", Config: conf, Token: token("AK1", "s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	write(c, "by-token")
	if _, err := os.Stat(filepath.Join(base, "tok/sub/by-token")); err != nil {
		t.Errorf("token root: %v", err)
	}
	for _, tok := range []string{token("AK1", "wrong"), token("nobody", "s3cret"), "Basic !!!"} {
		if _, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/sub", Config: conf, Token: tok}); !errors.Is(err, protocol.ErrAccess) {
			t.Errorf("token %q: err = %v, want access denied", tok, err)
		}
	}
	if _, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: "/../dr", Config: conf, Token: token("AK1", "s3cret")}); !errors.Is(err, protocol.ErrOutsideDocroot) {
		t.Errorf("token escape: err = %v", err)
	}
}
