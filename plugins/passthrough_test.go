package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/plugins/pb"
	"google.golang.org/protobuf/proto"
)

// TestPluginPassesOptionalInterfaces: the host-side client has exactly
// the optional interfaces of the plugin's backend: the local one (which
// has them all but Copier), and the local one with fewer.
// TestConformanceThroughPlugin checks the bbolt example's Linker and
// Hasher.
func TestPluginPassesOptionalInterfaces(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		t.Setenv(modeEnv, "local")
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		inner, err := local.Open(dir, local.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer inner.Close()
		outer, err := Open(context.Background(), self, "local://"+dir, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer outer.Close()
		backendtest.PassThrough(t, inner, outer, nil)
	})
	// A plugin whose backend has fewer: the host believes it.
	for _, f := range []core.Features{0, core.FeatureLinker | core.FeatureHasher,
		core.FeatureHardLinker | core.FeatureXattrer, core.FeatureWatcher | core.FeatureNetworked} {
		t.Run("masked-"+f.String(), func(t *testing.T) {
			t.Setenv(modeEnv, "masked")
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			fs, err := local.Open(dir, local.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			inner := core.Mask(fs, f)
			outer, err := Open(context.Background(), self, fmt.Sprintf("masked://%s?features=%d", dir, f), OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer outer.Close()
			backendtest.PassThrough(t, inner, outer, nil)
			if got, want := core.FeaturesOf(outer), core.FeaturesOf(inner)|core.FeatureNetworked; got != want {
				t.Errorf("the plugin's backend has %v, want %v", got, want)
			}
		})
	}
}

// TestPluginCopier: a plugin's core.Copier reaches the host, and its
// calls cross with their precondition and their errors.
func TestPluginCopier(t *testing.T) {
	t.Setenv(modeEnv, "copier")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "src"), []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	inner, err := local.Open(dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	outer, err := Open(context.Background(), self, "copier://"+dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	backendtest.PassThrough(t, answeringCopier{inner}, outer, nil)
	c, ok := outer.(core.Copier)
	if !ok {
		t.Fatal("the plugin's backend lost core.Copier")
	}
	ctx := context.Background()
	src, err := outer.Stat(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := c.Copy(ctx, "src", "dst", core.Expect(&src)); err != nil || e.Path != "dst" || e.Size != 5 {
		t.Errorf("copy: %+v, %v", e, err)
	}
	stale := src
	stale.Size++
	if _, err := c.Copy(ctx, "src", "dst", core.Expect(&stale)); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("copy with a stale precondition: %v, want ErrPrecondition", err)
	}
	if _, err := c.Copy(ctx, "nothing", "dst", core.Precondition{Any: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("copy of nothing: %v, want ErrNotExist", err)
	}
}

// TestFeaturesOfAnOlderPlugin: the capabilities of a plugin built before
// the protocol carried HardLinker, Xattrer, Copier and Watcher (fields it
// does not send) have none of them, as that plugin's backend had on the
// host then.
func TestFeaturesOfAnOlderPlugin(t *testing.T) {
	old := &pb.BackendCaps{Dirs: true, Linker: true, Hasher: true, InFlight: 4}
	b, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var got pb.BackendCaps
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if f := featuresFromPB(&got); f != core.FeatureLinker|core.FeatureHasher {
		t.Errorf("an older plugin's features: %v, want Linker|Hasher", f)
	}
	for f := core.Features(0); f <= core.AllFeatures; f++ {
		var c pb.BackendCaps
		setFeatures(&c, f)
		if got, want := featuresFromPB(&c), f&^core.FeatureNetworked; got != want {
			t.Errorf("features %v travel as %v", want, got)
		}
	}
}

// TestConformanceThroughPluginLocal runs the suite through a plugin
// serving the local backend: the optional interfaces the protocol carries
// (Linker, Hasher, a writer's Resumer) are proved across it.
func TestConformanceThroughPluginLocal(t *testing.T) {
	t.Setenv(modeEnv, "local")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b, err := Open(context.Background(), self, "local://"+t.TempDir(), OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
