package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/core"
)

// server runs the remote agent: `async server --stdio [--config FILE]`,
// started by a client over SSH. It speaks the agent protocol on stdin and
// stdout, and never writes anything else to stdout.
func server(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	conf, stdio := agent.DefaultServerConfig, false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--stdio":
			stdio = true
		case a == "--config" && i+1 < len(args):
			i++
			conf = args[i]
		case len(a) > 9 && a[:9] == "--config=":
			conf = a[9:]
		default:
			fmt.Fprintf(stderr, "async server: unknown option %s (usage: async server --stdio [--config FILE])\n", a)
			return exitUsage
		}
	}
	if !stdio {
		fmt.Fprintln(stderr, "async server: --stdio is required: the agent is started by an async client over SSH")
		return exitUsage
	}
	cfg, err := agent.LoadServerConfig(conf)
	if err != nil {
		fmt.Fprintf(stderr, "async server: option --config: %v\n", err)
		return exitUsage
	}
	u, err := user.Current()
	if err != nil {
		fmt.Fprintf(stderr, "async server: %v\n", err)
		return exitFailed
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = u.HomeDir
	}
	// The data path listens where SSH reached this server.
	o := agent.Options{Config: cfg, User: u.Username, Home: home, StateDir: stateDir(),
		DataHost: agent.DataHost(os.Getenv("SSH_CONNECTION")), Open: openLocal}
	if err := agent.Serve(ctx, stdin, stdout, o); err != nil {
		fmt.Fprintf(stderr, "async server: %v\n", err)
		return exitFailed
	}
	return 0
}

// openLocal is what the agent serves a session's root through: the local
// backend.
func openLocal(dir string, o agent.FSOptions) (core.Backend, error) {
	fs, err := local.Open(dir, local.Options{FollowLinks: o.FollowLinks, Confined: o.Confined})
	if err != nil {
		return nil, err // not a nil *local.FS in a non-nil core.Backend
	}
	return fs, nil
}
