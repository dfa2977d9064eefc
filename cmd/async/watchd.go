package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/async-sync/async/internal/cli"
	"github.com/async-sync/async/internal/watchd"
)

// watchdDir is where the change journal service keeps its journal and
// socket, in async's state directory: watchdSocket's default.
func watchdDir() string { return filepath.Join(stateDir(), "watchd") }

// watchdOptions are the options of `async watchd`.
func watchdOptions() []cli.Spec {
	g := "async watchd options"
	return []cli.Spec{
		{Long: "tree", Arg: cli.ArgRequired, ValueName: "DIR", Group: g, Help: "a tree to watch (repeatable)"},
		{Long: "config", Arg: cli.ArgRequired, ValueName: "FILE", Group: g, Help: "a file of 'tree DIR', 'socket PATH', 'max-entries N' and 'watcher KIND' lines"},
		{Long: "socket", Arg: cli.ArgRequired, ValueName: "PATH", Group: g, Help: "the unix socket served (STATE/watchd/watchd.sock)"},
		{Long: "max-entries", Arg: cli.ArgRequired, ValueName: "N", Group: g, Help: "journal entries kept per tree before the oldest are dropped (1048576)"},
		{Long: "shared", Group: g, Help: "serve every local user (run as root): the socket is mode 0666 and a user is answered only about directories it may read"},
		{Long: "watcher", Arg: cli.ArgRequired, ValueName: "KIND", Group: g, Help: "auto (fanotify where the kernel and privileges allow, else inotify), fanotify or inotify"},
		{Long: "status", Group: g, Help: "show the running service's trees, cursor, events/s and last overflow"},
		{Long: "json", Group: g, Help: "--status as one JSON document"},
		{Short: 'D', Long: "debug", Group: g, Help: "more log detail"},
		{Short: 'A', Long: "version", Group: g, Help: "print the version"},
		{Short: 'h', Long: "help", Group: g, Help: "this help"},
	}
}

// watchdCmd is `async watchd`: the change journal service, in the
// foreground, or its status.
func watchdCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	specs := watchdOptions()
	p, err := cli.Parse(specs, args, "")
	if err != nil {
		fmt.Fprintf(stderr, "async watchd: %v\n", err)
		return exitUsage
	}
	if len(p.Positional) > 0 {
		fmt.Fprintf(stderr, "async watchd: unexpected argument %q\n", p.Positional[0])
		return exitUsage
	}
	o := watchd.Options{StateDir: watchdDir()}
	var status, asJSON, debug bool
	bad := func(opt, format string, a ...any) int {
		fmt.Fprintf(stderr, "async watchd: option %s: %s\n", opt, fmt.Sprintf(format, a...))
		return exitUsage
	}
	for _, op := range p.Instance {
		switch op.Spec.Long {
		case "tree":
			d, err := absDir(op.Value)
			if err != nil {
				return bad(op.As, "%v", err)
			}
			o.Trees = append(o.Trees, d)
		case "config":
			if err := readWatchdConfig(op.Value, &o); err != nil {
				return bad(op.As, "%v", err)
			}
		case "socket":
			s, err := expandHome(op.Value)
			if err != nil {
				return bad(op.As, "%v", err)
			}
			o.Socket, _ = filepath.Abs(s)
		case "max-entries":
			n, err := strconv.Atoi(op.Value)
			if err != nil || n < 1 {
				return bad(op.As, "%q is not a positive number", op.Value)
			}
			o.MaxEntries = n
		case "shared":
			o.Shared = true
		case "watcher":
			if err := setWatcher(&o, op.Value); err != nil {
				return bad(op.As, "%v", err)
			}
		case "status":
			status = true
		case "json":
			asJSON = true
		case "debug":
			debug = true
		case "help":
			fmt.Fprintln(stdout, "usage: async watchd --tree DIR [--tree DIR ...] [--config FILE] [--socket PATH] [--max-entries N] [--watcher KIND] [--shared]")
			fmt.Fprintln(stdout, "       async watchd --status [--json] [--socket PATH]")
			cli.Usage(stdout, specs)
			return exitOK
		case "version":
			fmt.Fprintln(stdout, versionLine())
			return exitOK
		}
	}
	if status {
		return watchdStatus(ctx, o, asJSON, stdout, stderr)
	}
	if asJSON {
		fmt.Fprintln(stderr, "async watchd: option --json: only with --status")
		return exitUsage
	}
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if len(o.Trees) == 0 {
		fmt.Fprintln(stderr, "async watchd: no tree to watch: give --tree DIR or --config FILE")
		return exitUsage
	}
	svc, err := watchd.New(o)
	if err != nil {
		fmt.Fprintf(stderr, "async watchd: %v\n", err)
		return exitFailed
	}
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "async watchd: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// absDir resolves a tree to watch: an existing directory, absolute.
func absDir(d string) (string, error) {
	d, err := expandHome(d)
	if err != nil {
		return "", err
	}
	d, err = filepath.Abs(d)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(d); err != nil {
		return "", fmt.Errorf("%s: %w", d, err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s: not a directory", d)
	}
	return d, nil
}

// readWatchdConfig reads a watchd config file: "tree DIR", "socket PATH",
// "max-entries N" and "watcher KIND" lines; blank lines and # comments
// are skipped.
func readWatchdConfig(name string, o *watchd.Options) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "tree":
			d, err := absDir(val)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", name, n, err)
			}
			o.Trees = append(o.Trees, d)
		case "socket":
			s, err := expandHome(val)
			if err != nil || !filepath.IsAbs(s) {
				return fmt.Errorf("%s:%d: socket %q: want an absolute path", name, n, val)
			}
			o.Socket = s
		case "max-entries":
			v, err := strconv.Atoi(val)
			if err != nil || v < 1 {
				return fmt.Errorf("%s:%d: max-entries %q is not a positive number", name, n, val)
			}
			o.MaxEntries = v
		case "watcher":
			if err := setWatcher(o, val); err != nil {
				return fmt.Errorf("%s:%d: %w", name, n, err)
			}
		default:
			return fmt.Errorf("%s:%d: unknown setting %q (want tree, socket, max-entries or watcher)", name, n, key)
		}
	}
	return sc.Err()
}

// setWatcher checks and sets the watcher of --watcher or a config file.
func setWatcher(o *watchd.Options, v string) error {
	switch v {
	case watchd.WatcherAuto, watchd.WatcherFanotify, watchd.WatcherInotify:
		o.Watcher = v
		return nil
	}
	return fmt.Errorf("%q: want auto, fanotify or inotify", v)
}

// watchdStatus prints the running service's status.
func watchdStatus(ctx context.Context, o watchd.Options, asJSON bool, stdout, stderr io.Writer) int {
	sock := cmp.Or(o.Socket, filepath.Join(o.StateDir, watchd.SocketName))
	a, err := watchd.Ask(ctx, sock, watchd.Request{Op: "status"}, 10*time.Second)
	if err != nil || a.Status == nil {
		fmt.Fprintf(stderr, "async watchd: not running (%v)\n", err)
		return exitFailed
	}
	st := a.Status
	if asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		e.Encode(st)
		return exitOK
	}
	fmt.Fprintf(stdout, "pid %d, epoch %s, up since %s, cursor %d, %d journal entries\n",
		st.PID, st.Epoch, st.Started.Local().Format(time.DateTime), st.Cursor, st.Entries)
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TREE\tWATCHER\tWATCHES\tEVENTS\tEVENTS/S\tFROM\tLAST OVERFLOW\tSTATE")
	for _, t := range st.Trees {
		over := "never"
		if !t.LastOverflow.IsZero() {
			over = t.LastOverflow.Local().Format(time.DateTime)
		}
		state := "watching (journal from: " + t.Why + ")"
		if t.Broken != "" {
			state = "NOT WATCHED: " + t.Broken
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%d\t%s\t%s\n", t.Root, t.Watcher, t.Watches, t.Events, t.Rate, t.Start, over, state)
	}
	tw.Flush()
	return exitOK
}
