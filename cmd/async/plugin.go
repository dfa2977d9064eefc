package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/plugins"
)

// openPlugin starts async-backend-SCHEME, the plugin that serves the side; its
// snapshot is local, as a bucket's. cloud: the scheme is a bucket kind
// whose plugin is installed beside async.
func openPlugin(ctx context.Context, p *prepared, side core.Side, scheme string, cloud bool) (*opened, error) {
	e := p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	path, err := plugins.Find(scheme, p.pluginDirs)
	if err != nil {
		if cloud {
			return nil, &fatal{exitFailed, fmt.Errorf("option %s: %s:// buckets are served by async-backend-%s, installed beside async by make install (or: go install github.com/async-sync/async/cmd/async-backend-%s): %w", opt, scheme, scheme, scheme, err)}
		}
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: %w (install async-backend-%s there, or give --plugin-dir)", opt, err, scheme)}
	}
	sums, err := pluginSums(p.env.pluginConfig)
	if err != nil {
		return nil, usagef("%v", err)
	}
	b, err := plugins.Open(ctx, path, e.raw, plugins.OpenOptions{Logger: p.log, SHA256: sums[scheme]})
	if err != nil {
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: %w", opt, err)}
	}
	return &opened{backend: b, snaps: &lifecycle.Dir{Path: p.dbDir[side], StoreDir: p.storeDir[side]},
		close: func() { b.Close() }}, nil
}

// pluginSums reads the pinned checksums of file (none when it is missing):
// lines "SCHEME sha256:HEX"; '#' starts a comment.
func pluginSums(file string) (map[string][]byte, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) || file == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin config: %w", err)
	}
	defer f.Close()
	return parsePluginSums(file, f)
}

func parsePluginSums(file string, r io.Reader) (map[string][]byte, error) {
	sums := map[string][]byte{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		hexSum, ok := strings.CutPrefix(f[len(f)-1], "sha256:")
		sum, err := hex.DecodeString(hexSum)
		if len(f) != 2 || !ok || err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("plugin config %s line %d: want SCHEME sha256:HEX (64 hex digits)", file, n)
		}
		sums[f[0]] = sum
	}
	return sums, sc.Err()
}

// listPlugins is `async plugins`: what the plugin directories hold (env:
// the environment, for $ASYNC_PLUGIN_DIR).
func listPlugins(args []string, env environ, stdout, stderr io.Writer) int {
	dir := ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--plugin-dir" && i+1 < len(args):
			i++
			dir = args[i]
		case strings.HasPrefix(a, "--plugin-dir="):
			dir = strings.TrimPrefix(a, "--plugin-dir=")
		default:
			fmt.Fprintf(stderr, "async plugins: unknown option %s (usage: async plugins [--plugin-dir DIR])\n", a)
			return exitUsage
		}
	}
	dirs := plugins.Dirs(dir, env.pluginPath)
	found := plugins.List(dirs)
	if len(found) == 0 {
		fmt.Fprintf(stdout, "no backend plugins in %s\n", strings.Join(dirs, ", "))
		return 0
	}
	fmt.Fprintf(stdout, "%-12s %-8s %s\n", "SCHEME", "PROTOCOL", "PATH")
	for _, p := range found {
		v := fmt.Sprint(p.ProtocolVersion)
		if p.Err != nil {
			v = "error"
		}
		fmt.Fprintf(stdout, "%-12s %-8s %s", p.Scheme, v, p.Path)
		if p.Err != nil {
			fmt.Fprintf(stdout, "  (%v)", p.Err)
		}
		fmt.Fprintln(stdout)
	}
	return 0
}
