// Command async keeps two directory trees in step: push, pull or both ways,
// with the command line of IBM Aspera Sync's async. See README.md and the
// manual, docs/reference.md; `async -h` lists the options.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"

	"github.com/async-sync/async/internal/cli"
)

func main() {
	if filepath.Base(os.Args[0]) == "asyncadmin" {
		os.Exit(admin(os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		os.Exit(admin(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "completion" {
		os.Exit(completion(os.Args[2:], os.Stdout, os.Stderr))
	}
	if versionOnly(os.Args[1:]) {
		// What run would print, without building the option table, the
		// signal handling and the terminal guard a run needs first.
		fmt.Fprintln(os.Stdout, versionLine())
		os.Exit(exitOK)
	}
	stopMem := func() {}
	if prof := os.Getenv("ASYNC_MEMPROFILE"); prof != "" { // for benchmarks
		stopMem = peakHeapProfile(prof)
	}
	stopCPU := func() {}
	if prof := os.Getenv("ASYNC_CPUPROFILE"); prof != "" { // for benchmarks
		stopCPU = cpuProfile(prof)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	schemes, env := newRegistry(), readEnviron(os.Getenv)
	var code int
	if len(os.Args) > 1 && os.Args[1] == "plugins" {
		code = listPlugins(os.Args[2:], env, os.Stdout, os.Stderr)
	} else if len(os.Args) > 1 && os.Args[1] == "watchd" {
		code = watchdCmd(ctx, os.Args[2:], os.Stdout, os.Stderr)
	} else if len(os.Args) > 1 && os.Args[1] == "server" {
		code = server(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
	} else if len(os.Args) > 1 && os.Args[1] == "apply" {
		logs := &openLogs{}
		stopGuard := interruptible(ctx, os.Stderr, logs)
		a := &app{stderr: os.Stderr, out: &printer{stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stderr)}, logs: logs, schemes: schemes, env: env}
		code = a.apply(ctx, os.Args[2:])
		stopGuard()
	} else {
		logs := &openLogs{}
		stopGuard := interruptible(ctx, os.Stderr, logs)
		code = run(ctx, schemes, env, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr), logs)
		stopGuard()
	}
	stop()
	pprof.StopCPUProfile()
	stopMem()
	stopCPU()
	os.Exit(code)
}

// versionOnly reports whether args ask for the version alone (-A or
// --version and nothing else), which needs none of a run's set-up.
func versionOnly(args []string) bool {
	return len(args) == 1 && (args[0] == "-A" || args[0] == "--version")
}

// app is one invocation of async.
type app struct {
	stderr  io.Writer
	out     *printer
	logs    *openLogs // nil: not tracked
	schemes *registry // the endpoint kinds
	env     environ   // what the environment says
}

// run is async's main program; it returns the exit code.
func run(ctx context.Context, schemes *registry, env environ, args []string, stdout, stderr io.Writer, tty bool, logs *openLogs) int {
	a := &app{stderr: stderr, out: &printer{stdout: stdout, stderr: stderr, tty: tty}, logs: logs, schemes: schemes, env: env}
	opts := options()
	specs := make([]cli.Spec, len(opts))
	byLong := make(map[string]*option, len(opts))
	for i := range opts {
		specs[i] = opts[i].Spec
		byLong[opts[i].Long] = &opts[i]
	}
	parsed, err := cli.Parse(specs, watchdArgs(args), "name")
	if err != nil {
		fmt.Fprintf(stderr, "async: %v (async -h for help)\n", err)
		return exitUsage
	}
	type warning struct {
		s   *session // nil: every session
		msg string
	}
	var warnings []warning
	in, sessions, err := config(parsed, byLong, schemes, env, func(s *session, msg string) { warnings = append(warnings, warning{s, msg}) })
	if err != nil {
		fmt.Fprintf(stderr, "async: %v\n", err)
		return exitUsage
	}
	switch {
	case in.help:
		writeUsage(stdout)
		cli.Usage(stdout, specs)
		return exitOK
	case in.version:
		fmt.Fprintln(stdout, versionLine())
		return exitOK
	}
	if leanBuild && slices.ContainsFunc(sessions, schemes.needsFull) {
		return execFull(stderr) // before anything is said or touched
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "async: %s\n", w.msg)
	}
	a.out.configure(in)
	a.out.prefix = len(sessions) > 1
	// Everything is checked before any session starts: bad input touches nothing.
	var preps []*prepared
	for _, s := range sessions {
		p, err := prepare(schemes, in, s)
		if err != nil {
			fmt.Fprintf(stderr, "async: %v\n", err)
			return exitCode(err)
		}
		for _, w := range warnings {
			if w.s == nil || w.s == s {
				p.warnings = append(p.warnings, w.msg) // shown already; the log gets them too
			}
		}
		preps = append(preps, p)
	}
	if len(preps) == 1 {
		// In this goroutine, whose stack init has grown already: a new
		// one's would grow again, a page at a time.
		return a.runSession(ctx, in, preps[0])
	}
	codes := make([]int, len(preps))
	var wg sync.WaitGroup
	for i, p := range preps {
		wg.Go(func() { codes[i] = a.runSession(ctx, in, p) })
	}
	wg.Wait()
	return worst(codes)
}

// worst combines session exit codes: 2, then 1, then 3, then 0.
func worst(codes []int) int {
	rank := map[int]int{exitUsage: 4, exitFailed: 3, exitPartial: 2, exitOK: 1}
	best := exitOK
	for _, c := range codes {
		if rank[c] > rank[best] {
			best = c
		}
	}
	return best
}

// subcommand is one of async's commands besides a sync.
type subcommand struct {
	name, args, help string
}

// subcommands lists async's commands besides a sync, for -h, the man page
// and shell completion.
func subcommands() []subcommand {
	return []subcommand{
		{"admin", "-d DIR [-b DBDIR] [-N NAME] ACTION", "show or clean a session's snapshot (async admin -h; also run as asyncadmin)"},
		{"apply", "PLAN.json [-q] [-D] [-L DIR] [-b DIR] [-B DIR]", "carry out a plan saved with --dry-run --plan-format=json"},
		{"plugins", "[--plugin-dir DIR]", "list the backend plugins found"},
		{"server", "--stdio [--config FILE]", "the remote agent, started over SSH by an async client"},
		{"watchd", "--tree DIR [--tree DIR ...] | --status [--json]", "the change journal service that --watchd asks (async watchd -h)"},
		{"completion", "bash|zsh", "print a shell completion script"},
	}
}

// writeUsage writes the usage lines of -h: a sync, then the subcommands.
func writeUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: async [instance options] -N NAME -d LOCAL -r REMOTE [session options] [-N NAME2 ...]")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "       async %s %s\n", c.name, c.args)
	}
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-12s%s\n", c.name, c.help)
	}
	fmt.Fprintln(w, "\nThe manual: docs/reference.md in async's source, or man async once installed (make install).")
}
