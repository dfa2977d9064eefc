//go:build !lean

package main

// The full build links the drivers of buckets and the plugin host: it
// opens every kind of endpoint itself. See lean.go for the other build.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/async-sync/async/backends/blob"
	"github.com/async-sync/async/backends/s3"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/plugins"
)

// leanBuild reports whether this build leaves buckets and plugins to
// async-full (see lean.go).
const leanBuild = false

// execFull is never called in the full build, which opens every kind.
func execFull(io.Writer) int { panic("async: execFull in the full build") }

// openS3 opens an s3:// endpoint; its snapshot is local (docs/reference.md
// §5.11).
func openS3(_ *app, ctx context.Context, _ *instance, p *prepared, side core.Side, _ *slog.Logger) (*opened, error) {
	e := p.ends[side]
	b, err := s3.Open(ctx, s3.Options{Bucket: e.bucket, Endpoint: e.s3.endpoint, Region: e.s3.region, PathStyle: e.s3.pathStyle})
	return openBucket(p, side, b, e.path, err)
}

// openBlob opens a bucket of the gocloud.dev drivers async links; its
// snapshot is local.
func openBlob(_ *app, ctx context.Context, _ *instance, p *prepared, side core.Side, _ *slog.Logger) (*opened, error) {
	b, prefix, err := blob.Open(ctx, p.ends[side].raw)
	return openBucket(p, side, b, prefix, err)
}

// openPlugin starts async-backend-SCHEME, the plugin that serves the side; its
// snapshot is local, as a bucket's. cloud: the scheme is a bucket kind
// whose plugin is installed beside async.
func openPlugin(ctx context.Context, p *prepared, side core.Side, scheme string, cloud bool) (*opened, error) {
	e := p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	path, err := plugins.Find(scheme, plugins.Dirs(p.pluginDir, p.env.pluginPath))
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
