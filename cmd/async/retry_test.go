package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/faults"
	"github.com/async-sync/async/plugins"
)

// flakyPlugin is what the test binary does when async starts it as the
// plugin async-backend-flaky: it serves the local directory of a
// flaky:///PATH URL, failing the first Create with a transient error
// (ASYNC_TEST_FLAKY=transient) or a permanent one (=permanent).
func flakyPlugin() {
	plugins.Serve(func(_ context.Context, rawURL string) (core.Backend, error) {
		b, err := local.Open(strings.TrimPrefix(rawURL, "flaky://"), local.Options{})
		if err != nil {
			return nil, err
		}
		fail := core.ErrTransient
		if os.Getenv("ASYNC_TEST_FLAKY") == "permanent" {
			fail = core.ErrUnsupported
		}
		fb, _ := faults.Wrap(b, faults.Rule{Method: faults.Create, N: 1, Err: fail})
		return fb, nil
	})
}

// flakyPluginDir makes the test binary the plugin async-backend-flaky.
func flakyPluginDir(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "async-backend-flaky")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNetworkSideRetriesTransientFailure: a network side (here a plugin)
// that fails a call transiently once, the failure carried over the
// plugin protocol, is asked again: the run succeeds, and -D logs the
// retry. A permanent failure is not retried: the entry is an ERROR.
func TestNetworkSideRetriesTransientFailure(t *testing.T) {
	dir := flakyPluginDir(t)
	for _, mode := range []string{"transient", "permanent"} {
		t.Run(mode, func(t *testing.T) {
			state, src, dst := t.TempDir(), t.TempDir(), t.TempDir()
			writeTree(t, src, tree{"a": "alpha"})
			r := sshRun(t, state, []string{"ASYNC_TEST_FLAKY=" + mode}, "-D", "--plugin-dir", dir, "-N", "fl", "-d", src, "-r", "flaky://"+dst)
			log := sessionLog(t, state, "fl")
			// The plugin reports a failed create late (at the commit of its
			// stream): the engine carries the action out again.
			retried := strings.Contains(log, `msg="action failed, trying it again"`) && strings.Contains(log, "path=/a attempt=2")
			switch mode {
			case "transient":
				mustCode(t, r, 0)
				if !strings.Contains(r.stdout, "/a  SYNCHRONIZED\n") || !retried {
					t.Errorf("stdout:\n%s\nlog:\n%s", r.stdout, log)
				}
				equalTrees(t, readTree(t, dst), readTree(t, src))
			case "permanent":
				mustCode(t, r, 3)
				if !strings.Contains(r.stdout, "/a  ERROR: ") || retried {
					t.Errorf("stdout:\n%s\nlog:\n%s", r.stdout, log)
				}
			}
		})
	}
}
