package agent

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/internal/watchd"
)

// journal answers what changed below the session's root since the token
// the client recorded at its last complete run, from the server's change
// journal service (async watchd): at the user's watchd_socket, else at
// STATE/watchd/watchd.sock. Only the root is asked about, as the kernel
// names it: it lies in the docroot, and the service answers paths below
// the directory asked about, relative to it, so nothing outside the
// docroot is ever read. The reply is why the journal cannot stand for a
// scan ("" when it can), the token to record, and the paths.
func (a *agent) journal(ctx context.Context, prior, fp string) (byte, []byte, error) {
	var paths []string
	next, why := watchd.Token{Epoch: "-", FP: fp}.String(), ""
	if a.tree == "" {
		why = "the server cannot tell the sync root's path"
	} else {
		paths, next, why = watchd.Since(ctx, a.watchdSocket(), a.tree, prior, fp)
	}
	size := 0
	for _, p := range paths {
		size += len(p) + 2
	}
	if size > protocol.MaxFrame/2 {
		why = fmt.Sprintf("%d paths changed: more than one answer holds", len(paths))
		paths = nil
	}
	var e protocol.Enc
	e.Str(why)
	e.Str(next)
	e.Strings(paths)
	return protocol.OpOK, e.B, nil
}

// watchdSocket is the change journal service the agent asks.
func (a *agent) watchdSocket() string {
	return cmp.Or(a.o.Config.user(a.o.User).WatchdSocket, filepath.Join(a.o.StateDir, "watchd", watchd.SocketName))
}
