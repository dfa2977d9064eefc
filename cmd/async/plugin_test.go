package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/internal/testnet"
)

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// bboltPlugin builds the example plugin (its own module) once into a
// plugin directory.
func bboltPlugin(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() {
		pluginDir, pluginErr = os.MkdirTemp("", "async-plugins-")
		if pluginErr != nil {
			return
		}
		pluginErr = testnet.ExamplePlugin(filepath.Join(pluginDir, "async-backend-bbolt"), filepath.Join("..", "..", "examples", "backend-bbolt"))
	})
	if pluginErr != nil {
		t.Fatalf("build the example plugin: %v", pluginErr)
	}
	return pluginDir
}

func TestPluginPushPullAndList(t *testing.T) {
	t.Parallel()
	dir := bboltPlugin(t)
	state, src, back := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, sample)
	url := "bbolt://" + filepath.Join(t.TempDir(), "tree.db")
	mustCode(t, sshRun(t, state, nil, "--plugin-dir", dir, "-N", "pl", "-d", src, "-r", url, "-t"), 0)
	r := sshRun(t, state, nil, "--plugin-dir", dir, "-N", "pl", "-d", src, "-r", url, "-t")
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, " 0 files (0 B) transferred") {
		t.Errorf("second run transferred something:\n%s", r.stderr)
	}
	mustCode(t, sshRun(t, state, []string{"ASYNC_PLUGIN_DIR=" + dir}, "-N", "plb", "-d", back, "-r", url, "-K", "pull", "-t"), 0)
	equalTrees(t, readTree(t, back), readTree(t, src))
	r = sshRun(t, state, nil, "plugins", "--plugin-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "bbolt") || !strings.Contains(r.stdout, filepath.Join(dir, "async-backend-bbolt")) {
		t.Errorf("async plugins: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPluginFailures(t *testing.T) {
	t.Parallel()
	dir := bboltPlugin(t)
	bad := t.TempDir()
	// A program that answers go-plugin's handshake with another
	// application protocol version.
	os.WriteFile(filepath.Join(bad, "async-backend-old"), []byte("#!/bin/sh\necho '1|7|unix|/nonexistent|grpc'\nsleep 5\n"), 0o755)
	src := t.TempDir()
	writeTree(t, src, tree{"f": "x"})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing plugin", []string{"--plugin-dir", dir, "-N", "f", "-d", src, "-r", "nosuch://x"}, "async-backend-nosuch"},
		{"wrong handshake", []string{"--plugin-dir", bad, "-N", "f", "-d", src, "-r", "old://x"}, "version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sshRun(t, t.TempDir(), nil, c.args...)
			msg := strings.TrimSpace(r.stderr)
			if r.code != 1 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line with %q", r.code, msg, c.want)
			}
		})
	}
}

func TestPluginKilledMidTransferThenRerunConverges(t *testing.T) {
	t.Parallel()
	// A plugin directory of this test's own: the kill below finds the
	// plugin by its path, and must not hit other tests' plugins.
	dir := t.TempDir()
	bin, err := os.ReadFile(filepath.Join(bboltPlugin(t), "async-backend-bbolt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "async-backend-bbolt"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	state, src := t.TempDir(), t.TempDir()
	big := strings.Repeat("0123456789abcdef", 1<<20) // 16 MiB
	writeTree(t, src, tree{"a": "a", "big": big, "z": "z"})
	url := "bbolt://" + filepath.Join(t.TempDir(), "tree.db")
	args := []string{"--plugin-dir", dir, "-N", "k", "-d", src, "-r", url}
	// 16 MiB at 32 Mbit/s takes 4 s: the plugin is killed after 1.5 s.
	cmd := exec.Command(asyncBin, append(args, "-l", "32m")...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	exec.Command("pkill", "-KILL", "-f", filepath.Join(dir, "async-backend-bbolt")).Run()
	err = cmd.Wait()
	if err == nil {
		t.Fatalf("the run went on without its plugin:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "async-backend-bbolt") {
		t.Errorf("the error does not name the plugin:\n%s", out.String())
	}
	// The rerun converges.
	mustCode(t, sshRun(t, state, nil, args...), 0)
	back := t.TempDir()
	mustCode(t, sshRun(t, state, nil, "--plugin-dir", dir, "-N", "kb", "-d", back, "-r", url, "-K", "pull"), 0)
	equalTrees(t, readTree(t, back), readTree(t, src))
}
