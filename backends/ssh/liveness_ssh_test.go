package ssh

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/internal/sshdtest"
	"github.com/async-sync/async/internal/testnet"
	"golang.org/x/crypto/ssh"
)

// freezingProxy forwards TCP to addr until frozen; then it forwards
// nothing more either way (a server that stopped answering, a dead
// network path), keeping the connections open.
type freezingProxy struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, addr string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pump(s, c)
			go p.pump(c, s)
		}
	}()
	return p
}

func (p *freezingProxy) pump(dst, src net.Conn) {
	b := make([]byte, 32<<10)
	for {
		n, err := src.Read(b)
		if p.frozen.Load() {
			return // what arrives now is dropped; nothing more is read
		}
		if n > 0 {
			if _, err := dst.Write(b[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *freezingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// TestKeepaliveEndsAConnectionToAFrozenServer: once the server stops
// answering, the connection closes after about every×max, and what waits
// on it fails naming the server that stopped answering.
func TestKeepaliveEndsAConnectionToAFrozenServer(t *testing.T) {
	t.Parallel()
	s := server(t)
	bin := agentBinary(t)
	p := startProxy(t, s.Addr())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", p.port(), ssh.MarshalAuthorizedKey(s.HostKey))
	os.WriteFile(kh, []byte(line), 0o644)
	alive := liveness{every: 200 * time.Millisecond, max: 3, stall: time.Hour}
	conn, err := Dial(context.Background(), Options{Host: "127.0.0.1", Port: p.port(), User: s.User,
		KeyFiles: []string{s.KeyFile}, KnownHosts: []string{kh}, Home: t.TempDir(), alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	c, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: s.TempDir(t), Session: "ka"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(3 * alive.every * time.Duration(alive.max)) // answered keepalives keep it up
	if _, err := c.Stat(ctx, ""); err != nil {
		t.Fatalf("a live server's connection failed: %v", err)
	}
	p.frozen.Store(true)
	start := time.Now()
	err = within(t, 10*time.Second, func() error {
		_, err := c.Stat(ctx, "")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "stopped answering (3 keepalives in a row unanswered") {
		t.Fatalf("got %v, want the server stopped answering", err)
	}
	bound := alive.every * time.Duration(alive.max+2)
	if d := time.Since(start); d > bound {
		t.Errorf("failed after %s, want within %s", d, bound)
	}
	closed := time.Now()
	within(t, 8*time.Second, c.Close)
	if d := time.Since(closed); d > client.CloseWait+2*time.Second {
		t.Errorf("Close took %s", d)
	}
}

// agentPID finds the agent the server runs for the user of s (its
// executable lies in that user's home), or 0.
func agentPIDs(home string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, home+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestFrozenAgentOverSSHFailsTheConnection: a stopped agent (SIGSTOP)
// leaves sshd answering keepalives; the agent's own silence bound ends
// the connection, and Close returns.
func TestFrozenAgentOverSSHFailsTheConnection(t *testing.T) {
	t.Parallel()
	s := sshdtestServerOfItsOwn(t)
	bin := agentBinary(t)
	alive := liveness{every: time.Hour, max: 3, stall: 600 * time.Millisecond}
	conn, err := Dial(context.Background(), Options{Host: s.Host, Port: s.Port, User: s.User,
		KeyFiles: []string{s.KeyFile}, KnownHosts: []string{s.KnownHosts}, Home: t.TempDir(), alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	c, err := conn.StartAgent(ctx, StartOptions{Binary: bin, Root: s.TempDir(t), Session: "frozen"})
	if err != nil {
		t.Fatal(err)
	}
	pids := agentPIDs(s.Home)
	if len(pids) != 1 {
		t.Fatalf("agents of %s: %v", s.Home, pids)
	}
	syscall.Kill(pids[0], syscall.SIGSTOP)
	defer syscall.Kill(pids[0], syscall.SIGKILL)
	testnet.WaitStopped(t, pids[0])
	start := time.Now()
	err = within(t, 10*time.Second, func() error {
		_, err := c.Stat(ctx, "")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "the agent stopped answering (no reply in 600ms)") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 3*alive.stall {
		t.Errorf("failed after %s", d)
	}
	closed := time.Now()
	within(t, 8*time.Second, c.Close)
	if d := time.Since(closed); d > 2*time.Second {
		t.Errorf("Close of a failed client took %s", d)
	}
}

// sshdtestServerOfItsOwn starts a server whose user runs no other agent.
func sshdtestServerOfItsOwn(t *testing.T) *sshdtest.Server {
	sshdtest.Require(t)
	return sshdtest.Start(t, sshdtest.Options{})
}

// within runs fn and fails the test when it takes longer than d.
func within(t *testing.T, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still waiting after %s", d)
		return nil
	}
}
