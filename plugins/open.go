package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// ErrIncompatible: the plugin speaks another version of the protocol.
var ErrIncompatible = errors.New("incompatible plugin protocol version")

// IncompatibleError is the error of a plugin that speaks another protocol
// version than this async. It wraps ErrIncompatible.
type IncompatibleError struct {
	Path   string // the plugin executable
	Plugin int    // the version it speaks
	Host   int    // the version async speaks
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("plugin %s speaks plugin protocol version %d, async speaks version %d (the plugin must be rebuilt for this async)",
		e.Path, e.Plugin, e.Host)
}

// Unwrap returns ErrIncompatible.
func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

// OpenOptions are given to Open.
type OpenOptions struct {
	// Logger receives the plugin's log and stderr, and go-plugin's own
	// messages (nil: discarded).
	Logger *slog.Logger
	// SHA256, when set, is the checksum the plugin executable must have;
	// it is checked before the plugin is started.
	SHA256 []byte
	// StartTimeout bounds the plugin's start-up (0: one minute).
	StartTimeout time.Duration
}

// Open starts the plugin program at path and opens its backend for rawURL.
// The backend returned has exactly the optional interfaces of the
// plugin's backend (core.Linker, core.Hasher, core.HardLinker,
// core.Xattrer, core.Copier, core.Watcher), and is core.Networked; its
// Close ends the plugin process. Errors name the
// plugin; a plugin built for another protocol version is refused with
// ErrIncompatible.
func Open(ctx context.Context, path, rawURL string, o OpenOptions) (core.Backend, error) {
	p, rpc, err := start(ctx, path, o, ProtocolVersion)
	if err != nil {
		return nil, err
	}
	c := &client{proc: p, rpc: rpc}
	caps, err := rpc.OpenBackend(ctx, &pb.OpenBackendRequest{Url: rawURL})
	if err != nil {
		op := "open " + redact(rawURL)
		err = c.fromStatus(ctx, op, err)
		p.kill()
		var re *RemoteError
		if errors.As(err, &re) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) { // not named yet
			err = fmt.Errorf("plugin %s: %s: %w", path, op, err)
		}
		return nil, err
	}
	c.caps = capsFromPB(caps)
	c.inFlight = int(caps.InFlight)
	return c.typed(featuresFromPB(caps)), nil
}

// redact hides a password in a URL for messages.
func redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	return "the URL"
}

// process is a started plugin program.
type process struct {
	path string
	pc   *plugin.Client
	stop func() // stops the stderr forwarding
}

func (p *process) exited() bool { return p.pc.Exited() }

// kill ends the process (gracefully first) and waits for it.
func (p *process) kill() {
	p.pc.Kill()
	p.stop()
}

// start runs the plugin program, checks the handshake and returns the
// service's client.
func start(ctx context.Context, path string, o OpenOptions, version uint) (*process, pb.BackendClient, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("plugin", path)
	stderr, stop := lineLogger(log, slog.LevelInfo, "plugin stderr")
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  handshake(version),
		Plugins:          plugin.PluginSet{pluginName: &backendPlugin{}},
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclogFor(log),
		SyncStderr:       stderr,
		StartTimeout:     o.StartTimeout,
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
			grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithReadBufferSize(ioBuffer), grpc.WithWriteBufferSize(ioBuffer),
			experimental.WithBufferPool(transportPool),
		},
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = time.Minute
	}
	if o.SHA256 != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: o.SHA256, Hash: sha256.New()}
	}
	p := &process{path: path, pc: plugin.NewClient(cfg), stop: stop}

	type result struct {
		rpc pb.BackendClient
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := dispense(p.pc)
		done <- result{rpc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			p.kill()
			return nil, nil, startErr(path, version, r.err)
		}
		return p, r.rpc, nil
	case <-ctx.Done():
		go p.kill() // waits for go-plugin's start to give up
		return nil, nil, fmt.Errorf("plugin %s: start: %w", path, ctx.Err())
	}
}

// dispense connects to the started plugin and returns its service client.
func dispense(pc *plugin.Client) (pb.BackendClient, error) {
	cp, err := pc.Client()
	if err != nil {
		return nil, err
	}
	raw, err := cp.Dispense(pluginName)
	if err != nil {
		return nil, err
	}
	return raw.(pb.BackendClient), nil
}

// pluginVersion finds the plugin's version in go-plugin's handshake error.
var pluginVersion = regexp.MustCompile(`Plugin version: (\d+)`)

// startErr explains why a plugin did not start.
func startErr(path string, version uint, err error) error {
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("plugin %s: the executable's SHA-256 is not the expected one: %w", path, err)
	}
	if m := pluginVersion.FindStringSubmatch(err.Error()); m != nil {
		v, _ := strconv.Atoi(m[1])
		return &IncompatibleError{Path: path, Plugin: v, Host: int(version)}
	}
	return fmt.Errorf("plugin %s: start: %w", path, err)
}
