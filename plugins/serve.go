package plugins

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"

	"github.com/async-sync/async/core"
)

// Serve runs a plugin program: it answers async's handshake and serves the
// backend that open returns for the URL async asks for. It returns when
// async is done with the plugin. A plugin's main is typically
//
//	func main() { plugins.Serve(mybackend.Open) }
//
// The ctx given to open bounds the opening only. Serve makes slog's default
// logger write to async's log (stderr in a format the host understands);
// the plugin's stdout is not shown.
func Serve(open func(ctx context.Context, rawURL string) (core.Backend, error)) {
	serve(open, ProtocolVersion)
}

// serve is Serve speaking a given protocol version.
func serve(open func(ctx context.Context, rawURL string) (core.Backend, error), version uint) {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
		Level:       slog.LevelDebug,
		ReplaceAttr: hclogJSON,
	})))
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake(version),
		Plugins:         plugin.PluginSet{pluginName: &backendPlugin{open: open}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts,
				grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage),
				grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow),
				grpc.ReadBufferSize(ioBuffer), grpc.WriteBufferSize(ioBuffer),
				experimental.BufferPool(transportPool)))
		},
	})
}

// gcPercent is the plugin process's GOGC unless the environment sets one.
// A plugin's live heap is small while content streams through it, so Go's
// default would collect after every few chunks.
const gcPercent = 400

// hclogJSON renames slog's JSON keys to hclog's, which go-plugin parses on
// the host side to keep each record's level and attributes.
func hclogJSON(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.MessageKey:
		a.Key = "@message"
	case slog.LevelKey:
		a.Key = "@level"
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(strings.ToLower(l.String()))
		}
	case slog.TimeKey:
		a.Key = "@timestamp"
		a.Value = slog.StringValue(a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
	}
	return a
}
