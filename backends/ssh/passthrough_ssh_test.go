package ssh

import (
	"context"
	"testing"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core/backendtest"
)

// TestClientPassesOptionalInterfacesOverSSH: the backend of a client
// whose agent runs over a real sshd (the command's agent, which serves
// the local backend) has exactly the optional interfaces of the local
// backend on that root.
func TestClientPassesOptionalInterfacesOverSSH(t *testing.T) {
	t.Parallel()
	s := server(t)
	conn := dial(t, s)
	defer conn.Close()
	root := s.TempDir(t)
	c, err := conn.StartAgent(context.Background(), StartOptions{Binary: agentBinary(t), Root: root, Session: "pass"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inner, err := local.Open(root, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	backendtest.PassThrough(t, inner, c.Backend(), nil)
}
