//go:build lean

package datapath

// A lean build (make build's async) leaves out the experimental UDP and
// QUIC transports (kcp-go, quic-go and their dependencies, initialised at
// every start); async-full has them, and a lean async hands a session that
// asks for one over to it.

import (
	"context"
	"errors"
	"net"
)

// errNotBuilt is the answer of a lean build asked for UDP or QUIC.
var errNotBuilt = errors.New("data path: this build of async has no UDP or QUIC transport (async-full has)")

// ListenUDP fails: a lean build has no UDP transport.
func ListenUDP(string, int, PortRange, Key, int64, int) (*Listener, error) {
	return nil, errNotBuilt
}

// ListenQUIC fails: a lean build has no QUIC transport.
func ListenQUIC(string, int, PortRange, Key) (*Listener, error) { return nil, errNotBuilt }

func udpDialer(Key, int64, int) (func(context.Context, string, string) (net.Conn, error), error) {
	return nil, errNotBuilt
}

func quicDialer([]byte) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) { return nil, errNotBuilt }
}
