package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/cli"
	"github.com/async-sync/async/snapshot"
)

// adminOptions are the options of `async admin` (docs/reference.md §9).
func adminOptions() []cli.Spec {
	g := "async admin options"
	return []cli.Spec{
		{Short: 'd', Long: "local-dir", Arg: cli.ArgRequired, ValueName: "DIR", Group: g, Help: "the session's local directory"},
		{Short: 'b', Long: "local-db-dir", Arg: cli.ArgRequired, ValueName: "DIR", Group: g, Help: "the local snapshot directory, when moved with -b"},
		{Short: 'N', Long: "name", Arg: cli.ArgRequired, ValueName: "NAME", Group: g, Help: "session name (needed when several share the directory)"},
		{Short: 'l', Long: "list", Group: g, Help: "list the sessions stored for the directory"},
		{Short: 'm', Long: "meta", Group: g, Help: "session metadata"},
		{Short: 's', Long: "summary", Group: g, Help: "counts of synchronized, pending, conflict and error paths"},
		{Short: 'f', Long: "file-info", Group: g, Help: "one line per entry: state, id, path"},
		{Short: 'C', Long: "clean", Group: g, Help: "delete conflict and error records"},
		{Short: 'E', Long: "erase", Arg: cli.ArgRequired, ValueName: "ID", Group: g, Help: "delete one record (ids as -f shows them)"},
		{Short: 'M', Long: "erase-match", Arg: cli.ArgRequired, ValueName: "GLOB", Group: g, Help: "delete the records whose path matches"},
		{Short: 'F', Long: "force", Group: g, Help: "erase even though the status file says the session runs"},
		{Short: 'q', Long: "quiet", Group: g, Help: "values only"},
		{Long: "json", Group: g, Help: "one JSON document"},
		{Short: 'A', Long: "version", Group: g, Help: "print the version"},
		{Short: 'h', Long: "help", Group: g, Help: "this help"},
	}
}

// admin is `async admin`: it reads, and for the erase actions edits, a
// session's local snapshot.
func admin(args []string, stdout, stderr io.Writer) int {
	specs := adminOptions()
	p, err := cli.Parse(specs, args, "")
	if err != nil {
		fmt.Fprintf(stderr, "async admin: %v\n", err)
		return exitUsage
	}
	if len(p.Positional) > 0 {
		fmt.Fprintf(stderr, "async admin: unexpected argument %q\n", p.Positional[0])
		return exitUsage
	}
	var a adminRun
	a.out, a.stdout = map[string]any{}, stdout
	actions := 0
	for _, op := range p.Instance {
		switch op.Spec.Long {
		case "local-dir":
			a.dir = op.Value
		case "local-db-dir":
			a.dbDir = op.Value
		case "name":
			if !validSessionName(op.Value) {
				fmt.Fprintf(stderr, "async admin: option %s: invalid session name %q\n", op.As, op.Value)
				return exitUsage
			}
			a.name = op.Value
		case "force":
			a.force = true
		case "quiet":
			a.quiet = true
		case "json":
			a.json = true
		case "help":
			cli.Usage(stdout, specs)
			return exitOK
		case "version":
			fmt.Fprintln(stdout, versionLine())
			return exitOK
		case "erase":
			id, err := strconv.Atoi(op.Value)
			if err != nil || id < 1 {
				fmt.Fprintf(stderr, "async admin: option %s: %q is not a record id\n", op.As, op.Value)
				return exitUsage
			}
			a.eraseID = id
			a.action, actions = op.Spec.Long, actions+1
		case "erase-match":
			if _, err := path.Match(op.Value, ""); err != nil {
				fmt.Fprintf(stderr, "async admin: option %s: bad pattern %q\n", op.As, op.Value)
				return exitUsage
			}
			a.glob = op.Value
			a.action, actions = op.Spec.Long, actions+1
		default:
			a.action, actions = op.Spec.Long, actions+1
		}
	}
	switch {
	case a.dir == "" && a.dbDir == "":
		fmt.Fprintln(stderr, "async admin: missing -d/--local-dir (or -b/--local-db-dir)")
		return exitUsage
	case actions != 1:
		fmt.Fprintln(stderr, "async admin: give exactly one of -l, -m, -s, -f, -C, -E, -M")
		return exitUsage
	}
	if err := a.run(context.Background()); err != nil {
		fmt.Fprintf(stderr, "async admin: %v\n", err)
		return exitCode(err)
	}
	return exitOK
}

type adminRun struct {
	dir, dbDir, name string
	force, quiet     bool
	json             bool
	action           string
	eraseID          int
	glob             string
	stdout           io.Writer
	out              map[string]any
	keys             []string
}

// parent is the directory holding the sessions' snapshots.
func (a *adminRun) parent() (string, error) {
	d := a.dbDir
	if d == "" {
		d = filepath.Join(a.dir, core.PrivateDir)
	}
	d, err := expandHome(d)
	if err != nil {
		return "", err
	}
	return filepath.Abs(d)
}

func (a *adminRun) run(ctx context.Context) error {
	parent, err := a.parent()
	if err != nil {
		return usagef("%v", err)
	}
	names, err := snapshot.List(parent)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return &fatal{exitFailed, err}
	}
	if a.action == "list" {
		a.set("Sessions", names)
		return a.print()
	}
	if a.name == "" {
		switch len(names) {
		case 0:
			return &fatal{exitFailed, fmt.Errorf("no session snapshot in %s", parent)}
		case 1:
			a.name = names[0]
		default:
			return usagef("several sessions in %s (%v): choose one with -N", parent, names)
		}
	}
	dir := filepath.Join(parent, a.name)
	if !snapshot.Exists(dir) {
		return &fatal{exitFailed, fmt.Errorf("no snapshot of session %s in %s", a.name, parent)}
	}
	st, stErr := snapshot.ReadStatus(dir)
	running := stErr == nil && st.State == "running" && pidAlive(st.PID)
	switch a.action {
	case "meta", "summary":
		if running {
			return a.fromStatus(st)
		}
	default:
		if running && !a.force && a.action != "file-info" {
			return &fatal{exitFailed, fmt.Errorf("session %s is running, pid %d", a.name, st.PID)}
		}
	}
	readOnly := a.action == "meta" || a.action == "summary" || a.action == "file-info"
	db, err := snapshot.Open(dir, snapshot.Options{ReadOnly: readOnly})
	if err != nil {
		return lockedOr(a.name, err)
	}
	defer db.Close()
	switch a.action {
	case "meta":
		m, _, err := db.Meta(ctx)
		if err != nil {
			return &fatal{exitFailed, err}
		}
		// A run that changed nothing leaves the snapshot's identity, and
		// so its times, as they were; the status file has its times.
		if stErr == nil && st.Started.After(m.Started) && !st.Updated.Before(st.Started) {
			m.Started, m.Stopped = st.Started, st.Updated
		}
		a.meta(m, "stopped")
	case "summary":
		counts, err := db.Count(ctx)
		if err != nil {
			return &fatal{exitFailed, err}
		}
		a.summary(counts)
	case "file-info":
		return a.fileInfo(ctx, db)
	default:
		return a.erase(ctx, db)
	}
	return a.print()
}

func (a *adminRun) set(k string, v any) {
	a.out[k] = v
	a.keys = append(a.keys, k)
}

func (a *adminRun) meta(m core.Meta, condition string) {
	a.set("Session name", m.Session)
	a.set("Local directory", m.Local)
	a.set("Remote directory", m.Remote)
	a.set("Direction", m.Direction)
	a.set("Condition", condition)
	a.set("Checksum", m.Checksum)
	a.set("Filters", m.Filters)
	a.set("Start time", rfc3339(m.Started))
	a.set("Stop time", rfc3339(m.Stopped))
}

func (a *adminRun) summary(c map[core.Status]int) {
	a.set("Synchronized Paths", c[core.StatusSynced])
	a.set("Pending Paths", 0)
	a.set("Conflict Paths", c[core.StatusConflict])
	a.set("Error Paths", c[core.StatusError])
}

// fromStatus answers -m and -s from the status file of a running session.
func (a *adminRun) fromStatus(st snapshot.Status) error {
	if a.action == "meta" {
		a.set("Session name", a.name)
		a.set("Condition", "running")
		a.set("PID", st.PID)
		a.set("Start time", rfc3339(st.Started))
		a.set("Last sync", rfc3339(st.LastSync))
		return a.print()
	}
	for _, k := range []string{"Synchronized Paths", "Pending Paths", "Conflict Paths", "Error Paths"} {
		a.set(k, st.Counters[k])
	}
	return a.print()
}

func (a *adminRun) fileInfo(ctx context.Context, db *snapshot.DB) error {
	type row struct {
		State string `json:"state"`
		ID    int    `json:"id"`
		Path  string `json:"path"`
	}
	var rows []row
	id := 0
	err := db.Load(ctx, func(r core.Record) error {
		id++
		rows = append(rows, row{r.Status.String(), id, core.DisplayPath(r.Path)})
		return nil
	})
	if err != nil {
		return &fatal{exitFailed, err}
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]any{"session": a.name, "entries": rows})
	}
	if !a.quiet {
		fmt.Fprintln(a.stdout, "# State Id Path")
	}
	for _, r := range rows {
		fmt.Fprintf(a.stdout, "%s %d %s\n", r.State, r.ID, r.Path)
	}
	return nil
}

// erase deletes the records -C, -E or -M select.
func (a *adminRun) erase(ctx context.Context, db *snapshot.DB) error {
	var drop []string
	id := 0
	err := db.Load(ctx, func(r core.Record) error {
		id++
		var hit bool
		switch a.action {
		case "clean":
			hit = r.Status != core.StatusSynced
		case "erase":
			hit = id == a.eraseID
		case "erase-match":
			hit, _ = path.Match(a.glob, "/"+r.Path)
		}
		if hit {
			drop = append(drop, r.Path)
		}
		return nil
	})
	if err != nil {
		return &fatal{exitFailed, err}
	}
	if a.action == "erase" && len(drop) == 0 {
		return &fatal{exitFailed, fmt.Errorf("no record with id %d", a.eraseID)}
	}
	for _, p := range drop {
		if err := db.Delete(ctx, p); err != nil {
			return &fatal{exitFailed, err}
		}
	}
	if err := db.Flush(ctx); err != nil {
		return &fatal{exitFailed, err}
	}
	a.set("Erased", len(drop))
	return a.print()
}

func (a *adminRun) print() error {
	if a.json {
		return json.NewEncoder(a.stdout).Encode(a.out)
	}
	for _, k := range a.keys {
		v := a.out[k]
		if l, ok := v.([]string); ok {
			if len(l) == 0 {
				v = ""
			} else {
				b, _ := json.Marshal(l)
				v = string(b)
			}
			if k == "Sessions" {
				for _, n := range l {
					if a.quiet {
						fmt.Fprintln(a.stdout, n)
					} else {
						fmt.Fprintf(a.stdout, "Session: %s\n", n)
					}
				}
				continue
			}
		}
		if a.quiet {
			fmt.Fprintln(a.stdout, v)
		} else {
			fmt.Fprintf(a.stdout, "%s: %v\n", k, v)
		}
	}
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// pidAlive reports whether a process with that pid exists.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
