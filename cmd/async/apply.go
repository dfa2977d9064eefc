package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/cli"
)

// applyOptions are what `async apply` takes besides the plan file.
func applyOptions() []cli.Spec {
	g := "async apply PLAN.json options"
	return []cli.Spec{
		{Short: 'q', Long: "quiet", Group: g, Help: "no per-entry lines; errors and conflicts still go to stderr"},
		{Short: 'D', Long: "debug", Group: g, Help: "more log detail"},
		{Short: 'L', Long: "alt-logdir", Arg: cli.ArgRequired, ValueName: "DIR[:MB]", Group: g, Help: "local log directory"},
		{Short: 'b', Long: "local-db-dir", Arg: cli.ArgRequired, ValueName: "DIR", Group: g, Help: "local snapshot directory, if the plan's session uses -b"},
		{Short: 'B', Long: "remote-db-dir", Arg: cli.ArgRequired, ValueName: "DIR", Group: g, Help: "remote snapshot directory, if the plan's session uses -B"},
		{Short: 'h', Long: "help", Group: g, Help: "this help"},
	}
}

// apply is `async apply PLAN.json`: it carries out a plan saved with
// --dry-run --plan-format=json, with the plan's endpoints and options.
func (a *app) apply(ctx context.Context, args []string) int {
	specs := applyOptions()
	p, err := cli.Parse(specs, args, "")
	if err != nil {
		fmt.Fprintf(a.stderr, "async apply: %v\n", err)
		return exitUsage
	}
	in := newInstance()
	in.env = a.env
	s := newSession(new(bool))
	for _, op := range p.Instance {
		switch op.Spec.Long {
		case "help":
			cli.Usage(a.out.stdout, specs)
			return exitOK
		case "local-db-dir":
			s.localDB = op.Value
		case "remote-db-dir":
			s.remoteDB = op.Value
		default:
			if err := setInstanceOption(in, op); err != nil {
				fmt.Fprintf(a.stderr, "async apply: %v\n", err)
				return exitUsage
			}
		}
	}
	if len(p.Positional) != 1 {
		fmt.Fprintln(a.stderr, "async apply: give exactly one plan file (async apply PLAN.json)")
		return exitUsage
	}
	a.out.configure(in)
	prep, err := loadPlan(a.schemes, in, s, p.Positional[0])
	if err != nil {
		if errors.Is(err, errNeedsDrivers) {
			return execFull(a.stderr)
		}
		fmt.Fprintf(a.stderr, "async apply: %v\n", err)
		return exitCode(err)
	}
	return a.runSession(ctx, in, prep)
}

// errNeedsDrivers is loadPlan's answer in a lean build when the plan's
// session needs async-full.
var errNeedsDrivers = errors.New("the session needs the bucket drivers or the plugin host")

// loadPlan reads a plan file and prepares its session as the command line
// that made it would have.
func loadPlan(schemes *registry, in *instance, s *session, file string) (*prepared, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("%v", err)
	}
	defer f.Close()
	h, plan, err := core.ReadPlanJSON(f)
	if err != nil {
		return nil, usagef("%s: %v", file, err)
	}
	s.name, s.local, s.remote = h.Session, h.Local, h.Remote
	if !validSessionName(s.name) {
		return nil, usagef("%s: invalid session name %q", file, s.name)
	}
	s.Policy.Direction = h.Direction
	if err := setPlanOptions(s, h.Options); err != nil {
		return nil, usagef("%s: %v", file, err)
	}
	if leanBuild && schemes.needsFull(s) {
		return nil, errNeedsDrivers
	}
	if err := s.Validate(nil, schemes); err != nil {
		return nil, err
	}
	prep, err := prepare(schemes, in, s)
	if err != nil {
		return nil, err
	}
	for side := range 2 {
		if prep.missing[side] {
			return nil, usagef("%s: the %s root %s does not exist", file, core.Side(side), prep.ends[side].path)
		}
	}
	prep.plan = plan
	return prep, nil
}
