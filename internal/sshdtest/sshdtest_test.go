package sshdtest

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
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
