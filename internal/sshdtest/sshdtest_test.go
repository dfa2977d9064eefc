package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/async-sync/async/internal/testnet"
)

func TestStartAndLogIn(t *testing.T) {
	s := Start(t, Options{Password: true})
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]ssh.AuthMethod{"key": ssh.PublicKeys(signer), "password": ssh.Password(s.Password)} {
		c, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{auth}, HostKeyCallback: hk})
		if err != nil {
			log, _ := os.ReadFile(s.Dir + "/sshd.log")
			t.Fatalf("%s: %v\n%s", name, err, log)
		}
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := sess.Output("echo $HOME")
		if err != nil || strings.TrimSpace(string(out)) != s.Home {
			t.Errorf("%s: echo $HOME = %q, %v; want %s", name, out, err, s.Home)
		}
		c.Close()
	}
	if _, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.Password("wrong")}, HostKeyCallback: hk}); err == nil {
		t.Error("a wrong password logged in")
	}
}

// dialPassword logs in to s as user with a password.
func dialPassword(s *Server, user, pw string) error {
	hk, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		return err
	}
	c, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(pw)}, HostKeyCallback: hk})
	if err != nil {
		return err
	}
	return c.Close()
}

// TestServersShareNothing starts password servers side by side: each has
// a user, home and password of its own, which keep working while the
// others start and stop (one shared user's password was reset by every
// new server), and its user is gone when its test ends.
func TestServersShareNothing(t *testing.T) {
	Require(t)
	const n = 4
	var (
		mu    sync.Mutex
		users = map[string]bool{}
		homes = map[string]bool{}
	)
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				s := Start(t, Options{Password: true})
				mu.Lock()
				users[s.User], homes[s.Home] = true, true
				mu.Unlock()
				if fi, err := os.Stat(s.Home); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != s.UID {
					t.Errorf("home %s: %v, not owned by uid %d", s.Home, err, s.UID)
				}
				for range 5 { // the others start and stop meanwhile
					if err := dialPassword(s, s.User, s.Password); err != nil {
						log, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
						t.Fatalf("own password refused: %v\nsshd's log:\n%s", err, log)
					}
				}
				if err := dialPassword(s, s.User, s.Password+"x"); err == nil {
					t.Error("a wrong password logged in")
				}
			})
		}
	})
	if len(users) != n || len(homes) != n {
		t.Fatalf("servers shared users or homes: %v %v", users, homes)
	}
	for u := range users {
		if _, err := user.Lookup(u); err == nil {
			t.Errorf("user %s still exists after its test", u)
		}
	}
	for h := range homes {
		if _, err := os.Stat(h); err == nil {
			t.Errorf("home %s still exists after its test", h)
		}
	}
}

// TestLeftoverUsersRemoved: a user whose test process died before its
// cleanup is removed by the next sweep; a live process's user is kept.
func TestLeftoverUsersRemoved(t *testing.T) {
	Require(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pid  int
		kept bool
	}{{dead.Process.Pid, false}, {os.Getpid(), true}} {
		name := userPrefix + testnet.RandomHex(5)
		if err := userTool("useradd", nil, "-m", "-s", "/bin/sh", "-p", "*", "-c", fmt.Sprintf("async test pid=%d", c.pid), name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteUser(name) })
		sweepLeftovers()
		if _, err := user.Lookup(name); (err == nil) != c.kept {
			t.Errorf("user of pid %d (kept %v): lookup after sweep: %v", c.pid, c.kept, err)
		}
	}
}

// TestLeftoverServersStopped: the sshd of a server whose test process died
// is stopped by the next sweep and its directory removed; a process that
// merely reuses the recorded pid is left alone; a live owner's server is
// kept.
func TestLeftoverServersStopped(t *testing.T) {
	tmp := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// Stand-ins for sshd: a shell whose command line names the config, or
	// (a reused pid) a process that does not.
	server := func(name string, owner int, namesConfig bool, args ...string) (string, *exec.Cmd) {
		dir := filepath.Join(tmp, "async-sshd-"+name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, ownerFile), []byte(fmt.Sprint(owner)), 0o644)
		if namesConfig {
			args = append(args, filepath.Join(dir, "sshd_config"))
		}
		cmd := exec.Command(args[0], args[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		os.WriteFile(filepath.Join(dir, "sshd.pid"), []byte(fmt.Sprintln(cmd.Process.Pid)), 0o644)
		return dir, cmd
	}
	orphan, orphanCmd := server("orphan", dead.Process.Pid, true, "sh", "-c", "sleep 60; :")
	reused, reusedCmd := server("reused", dead.Process.Pid, false, "sleep", "60")
	live, liveCmd := server("live", os.Getpid(), true, "sh", "-c", "sleep 60; :")
	sweepServers(tmp)
	done := make(chan error, 1)
	go func() { done <- orphanCmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("the orphaned server's sshd was not stopped")
	}
	for _, c := range []*exec.Cmd{reusedCmd, liveCmd} {
		// Not reaped: a killed child is a zombie, which kill(pid, 0) finds.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if i := strings.LastIndexByte(string(stat), ')'); err != nil || i < 0 || strings.HasPrefix(string(stat[i+1:]), " Z") {
			t.Errorf("%v was stopped", c.Args)
		}
	}
	for _, d := range []string{orphan, reused} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s not removed", d)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live owner's server directory was removed: %v", err)
	}
}
