package plugins

import (
	"context"
	"os"
	"testing"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

// TestPluginPassesOptionalInterfaces: the host-side client has exactly
// the optional interfaces of the plugin's backend, here the local one
// (which has them all but Copier). TestConformanceThroughPlugin checks
// the bbolt example's Linker and Hasher.
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
		const noCall = "the plugin protocol has no call for it, and describe does not report it (issue 17: capabilities exchanged at connect)"
		backendtest.PassThrough(t, inner, outer, map[string]string{
			backendtest.IfaceHardLinker: noCall,
			backendtest.IfaceXattrer:    noCall,
			backendtest.IfaceWatcher:    noCall,
		})
	})
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
