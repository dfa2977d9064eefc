//go:build lean

package main

// A lean build (make build, make install: -tags lean) leaves out the
// bucket drivers (the AWS SDK, gocloud.dev), the plugin host (go-plugin,
// gRPC, protobuf) and the data path's experimental UDP and QUIC
// transports: initialising their packages alone costs every start some
// 30 ms, which a local or SSH run would pay for nothing. A run that needs
// one of them becomes async-full, the full build installed beside async,
// before it has touched anything: the same process (exec), arguments and
// environment. docs/architecture.md says more.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/async-sync/async/core"
)

// leanBuild reports whether this build leaves buckets and plugins to
// async-full.
const leanBuild = true

// fullName is the full build's program, beside the lean one.
const fullName = "async-full"

// execFull replaces this process with async-full, beside this program,
// run with this process's arguments and environment. It returns only
// when that fails, with the exit code of the failure.
func execFull(stderr io.Writer) int {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "async: buckets and plugins need %s beside async: %v\n", fullName, err)
		return exitFailed
	}
	full := filepath.Join(filepath.Dir(exe), fullName)
	err = syscall.Exec(full, os.Args, os.Environ())
	fmt.Fprintf(stderr, "async: buckets and plugin endpoints need %s, the full build of async (make install puts it beside async): %v\n", full, err)
	return exitFailed
}

// errLean is what the openers of the kinds async-full serves return in a
// lean build; run and apply hand such sessions over before they open
// anything, so it is never seen.
var errLean = &fatal{exitFailed, errors.New("this build of async leaves buckets and plugins to " + fullName)}

func openS3(*app, context.Context, *instance, *prepared, core.Side, *slog.Logger) (*opened, error) {
	return nil, errLean
}

func openBlob(*app, context.Context, *instance, *prepared, core.Side, *slog.Logger) (*opened, error) {
	return nil, errLean
}

func openPlugin(context.Context, *prepared, core.Side, string, bool) (*opened, error) {
	return nil, errLean
}

// listPlugins is `async plugins`: async-full starts the plugins to ask them.
func listPlugins(_ []string, _ environ, _, stderr io.Writer) int { return execFull(stderr) }
