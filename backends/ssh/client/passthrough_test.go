package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

// TestClientPassesOptionalInterfaces: the client has exactly the optional
// interfaces of the backend the agent serves (the local one).
func TestClientPassesOptionalInterfaces(t *testing.T) {
	t.Parallel()
	c, root := rootedPipeClient(t)
	inner, err := local.Open(root, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	backendtest.PassThrough(t, inner, c.Backend(), nil)
}

// plainWriters is the local backend whose writers cannot resume.
type plainWriters struct{ *local.FS }

func (p plainWriters) Create(ctx context.Context, path string, o core.CreateOptions) (core.Writer, error) {
	w, err := p.FS.Create(ctx, path, o)
	if err != nil {
		return nil, err
	}
	return struct{ core.Writer }{w}, nil
}

// TestClientClaimsFromFarSide: the agent tells the client which optional
// interfaces its backend has, and the client's backend has exactly those,
// whatever the set: an agent serving less is believed.
func TestClientClaimsFromFarSide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		serve func(*local.FS) core.Backend
	}{
		{"all", func(fs *local.FS) core.Backend { return fs }},
		{"none", func(fs *local.FS) core.Backend { return core.Mask(fs, 0) }},
		{"linker-hasher", func(fs *local.FS) core.Backend {
			return core.Mask(fs, core.FeatureLinker|core.FeatureHasher)
		}},
		{"hardlinker-xattrer", func(fs *local.FS) core.Backend {
			return core.Mask(fs, core.FeatureHardLinker|core.FeatureXattrer)
		}},
		{"watcher", func(fs *local.FS) core.Backend { return core.Mask(fs, core.FeatureWatcher) }},
		{"no-resume", func(fs *local.FS) core.Backend { return plainWriters{fs} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			root := filepath.Join(home, "root")
			os.Mkdir(root, 0o755)
			fs, err := local.Open(root, local.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			inner := tc.serve(fs)
			o := agentOptions(home)
			open := o.Open
			o.Open = func(dir string, fo agent.FSOptions) (core.Backend, error) {
				b, err := open(dir, fo)
				if err != nil {
					return nil, err
				}
				return tc.serve(b.(*local.FS)), nil
			}
			c, err := pipeClientOf(o, protocol.Hello{Root: root, Session: "t"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			backendtest.PassThrough(t, inner, c.Backend(), nil)
			if got, want := c.Features(), core.FeaturesOf(inner)|core.FeatureNetworked; got != want {
				t.Errorf("client features %v, want %v", got, want)
			}
		})
	}
}

// TestClientOfAnOlderAgent: an agent that tells no features (an older
// one) has every one the protocol carries, and its writers of partial
// files resume, as before features were told.
func TestClientOfAnOlderAgent(t *testing.T) {
	c := scriptedClient(t, 0, func(f protocol.Frame, c *protocol.Conn) {
		if f.Op == protocol.OpCreateSync {
			var e protocol.Enc
			e.Int(5) // the offset, and nothing after it
			c.Send(protocol.OpOK, f.ID, e.B)
		}
	})
	if got, want := core.FeaturesOf(c.Backend()), protocol.LegacyFeatures|core.FeatureNetworked; got != want {
		t.Errorf("the backend of an older agent's client has %v, want %v", got, want)
	}
	w, err := c.Create(context.Background(), "f", core.CreateOptions{Size: 9, Partial: "k"})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := w.(core.Resumer)
	if !ok || r.Offset() != 5 {
		t.Errorf("the writer of an older agent's partial file is %T (offset %v), want a Resumer at 5", w, r)
	}
}

// TestServedFSRefusesWhatItLacks: a request for an optional interface the
// served backend lacks (from a client that did not heed the features)
// fails with core.ErrUnsupported, and nothing is done.
func TestServedFSRefusesWhatItLacks(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	root := filepath.Join(home, "root")
	os.Mkdir(root, 0o755)
	o := agentOptions(home)
	open := o.Open
	o.Open = func(dir string, fo agent.FSOptions) (core.Backend, error) {
		b, err := open(dir, fo)
		if err != nil {
			return nil, err
		}
		return core.Mask(b, 0), nil
	}
	c, err := pipeClientOf(o, protocol.Hello{Root: root, Session: "t"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Symlink(ctx, "l", "t", core.MustNotExist); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("symlink: %v, want unsupported", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "l")); !os.IsNotExist(err) {
		t.Errorf("the link was made: %v", err)
	}
	if _, err := c.Xattrs(ctx, ""); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("xattrs: %v, want unsupported", err)
	}
	if err := c.Watch(ctx, func([]string) {}); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("watch: %v, want unsupported", err)
	}
}
