package plugins

import (
	"context"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// ProtocolVersion is the version of the plugin protocol this build speaks.
// It changes when backend.proto changes incompatibly; async refuses plugins
// of any other version.
//
// Version 2 added Read (a small file in one round trip) and Put (a small
// file written in one call), and streams content in chunks of 1 MiB.
const ProtocolVersion = 2

// The handshake's magic cookie: the environment variable a plugin expects
// from async, so that a plugin started by hand explains itself instead of
// waiting for a host.
const (
	MagicCookieKey   = "ASYNC_PLUGIN"
	MagicCookieValue = "0d6f1e64-async-backend-plugin-9b2c"
)

// pluginName is the one plugin every plugin program serves.
const pluginName = "backend"

// chunkSize bounds the file data in one message: a file up to this size
// is read with one Read and written with one Put; larger ones stream in
// chunks of this size.
const chunkSize = 1 << 20

// The transport's flow-control windows and socket buffers: fixed windows
// large enough for a few chunks in flight per stream (a local socket needs
// no bandwidth-delay estimation), and buffers that take a chunk at once.
const (
	streamWindow = 8 << 20
	connWindow   = 64 << 20
	ioBuffer     = 1 << 20
)

// maxMessage bounds a message: scan requests carry the known entries.
const maxMessage = 256 << 20

// handshake returns the handshake for a protocol version (ProtocolVersion
// but in tests).
func handshake(version uint) plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  version,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// backendPlugin is the go-plugin glue for both sides: the plugin registers
// its gRPC server, the host gets a client.
type backendPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	open func(ctx context.Context, rawURL string) (core.Backend, error) // plugin side only
}

var _ plugin.GRPCPlugin = (*backendPlugin)(nil)

// GRPCServer registers the backend service (plugin side).
func (p *backendPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.open == nil {
		return errors.New("plugins: no backend to serve")
	}
	pb.RegisterBackendServer(s, &server{open: p.open})
	return nil
}

// GRPCClient returns the service's client (host side).
func (p *backendPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewBackendClient(c), nil
}
