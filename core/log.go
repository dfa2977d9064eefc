package core

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// LevelTrace is the log level below slog.LevelDebug for the finest records
// (-DD): every directory scanned, every hash, every request to a remote
// side.
const LevelTrace = slog.LevelDebug - 4

// ReplaceLevel names LevelTrace "TRACE" in a slog handler's output; use it
// as HandlerOptions.ReplaceAttr.
func ReplaceLevel(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l <= LevelTrace {
			return slog.String(slog.LevelKey, "TRACE")
		}
	}
	return a
}

// logLevels are what a run's logger records, found once so that the
// records of -D and -DD cost nothing when they are off.
type logLevels struct {
	debug, trace bool
}

func levelsOf(l *slog.Logger) logLevels {
	ctx := context.Background()
	return logLevels{debug: l.Enabled(ctx, slog.LevelDebug), trace: l.Enabled(ctx, LevelTrace)}
}

// describe sums an entry up for a debug record: what a precondition
// expects ("none" for nothing).
func describe(e *Entry) string {
	if e == nil {
		return "none"
	}
	s := e.Type.String()
	if e.Type == TypeFile {
		s += " size=" + strconv.FormatInt(e.Size, 10)
	}
	if !e.MTime.IsZero() {
		s += " mtime=" + e.MTime.UTC().Format(time.RFC3339Nano)
	}
	if e.Hash != "" {
		s += " hash=" + e.Hash
	}
	if e.Type == TypeSymlink {
		s += " target=" + e.Target
	}
	return s
}

// logPlan writes the plan's decisions to the debug log: per action what it
// does and why (each side's change since the snapshot, from prep when the
// plan was made in this run), then the totals; the trace log also gets the
// snapshot updates that need no action.
func (e *engine) logPlan(ctx context.Context, prep *Prepared, plan *Plan) {
	if !e.lv.debug {
		return
	}
	var states []PathState
	if prep != nil {
		states = prep.States()
	}
	dopts := e.o.Policy.diffOptions()
	for i := range plan.Actions {
		a := &plan.Actions[i]
		attrs := []any{"op", a.Op.String(), "side", a.Side.String(), "path", DisplayPath(a.Path)}
		if a.To != "" {
			attrs = append(attrs, "to", DisplayPath(a.To))
		}
		if a.Op == OpCopy {
			attrs = append(attrs, "bytes", a.Size())
		}
		if j, ok := slices.BinarySearchFunc(states, a.Path, func(ps PathState, p string) int { return ComparePaths(ps.Path, p) }); ok {
			ps := &states[j]
			attrs = append(attrs, "local", Diff(ps.Base[Local], ps.Cur[Local], dopts).String(),
				"remote", Diff(ps.Base[Remote], ps.Cur[Remote], dopts).String())
		}
		if a.Reason != "" {
			attrs = append(attrs, "reason", a.Reason)
		}
		e.log.Debug("plan", attrs...)
	}
	t := plan.Totals()
	e.log.Debug("plan totals", "copy", t.Copy, "copy_bytes", t.CopyBytes, "mkdir", t.Mkdir, "setattr", t.SetAttr,
		"rename", t.Rename, "keep", t.Keep, "delete", t.Delete, "conflict", t.Conflict, "link", t.Link,
		"unchanged", t.Unchanged, "equal", t.Equal)
	if !e.lv.trace {
		return
	}
	for i := range plan.Records {
		r := &plan.Records[i]
		e.log.Log(ctx, LevelTrace, "plan record", "path", DisplayPath(r.Path), "report", r.Report,
			"local", r.Ops[Local].String(), "remote", r.Ops[Remote].String())
	}
}

// String sums a record change up for the trace log.
func (o RecordOp) String() string {
	switch {
	case o.Drop:
		return "drop"
	case o.Put != nil:
		return "put " + o.Put.Status.String()
	}
	return "none"
}

// logStart writes an action's preconditions to the debug log before it
// runs.
func (x *executor) logStart(a *Action) {
	if !x.lv.debug {
		return
	}
	attrs := []any{"op", a.Op.String(), "side", a.Side.String(), "path", DisplayPath(a.Path)}
	if a.To != "" {
		attrs = append(attrs, "to", DisplayPath(a.To))
	}
	if a.Source != nil {
		attrs = append(attrs, "expect_source", describe(a.Source))
	}
	attrs = append(attrs, "expect_dest", describe(a.Dest))
	x.log.Debug("action start", attrs...)
}

// logEnd writes how an action ended to the debug log: its result, the
// bytes it wrote and how long it took.
func (x *executor) logEnd(a *Action, start time.Time, status string, err error) {
	if !x.lv.debug {
		return
	}
	took := time.Since(start)
	attrs := []any{"op", a.Op.String(), "side", a.Side.String(), "path", DisplayPath(a.Path), "took", took}
	switch {
	case err != nil:
		attrs = append(attrs, "result", "error", "err", err.Error())
	case status == "":
		attrs = append(attrs, "result", "done")
	default:
		attrs = append(attrs, "result", status)
	}
	if n := a.Size(); err == nil && n > 0 {
		attrs = append(attrs, "bytes", n)
		if s := took.Seconds(); s > 0 {
			attrs = append(attrs, "bytes_per_s", int64(float64(n)/s))
		}
	}
	x.log.Debug("action end", attrs...)
}

// logStage writes how long a stage of the run took to the debug log.
func (e *engine) logStage(stage string, start time.Time, attrs ...any) {
	if e.lv.debug {
		e.log.Debug("stage", append([]any{"stage", stage, "took", time.Since(start)}, attrs...)...)
	}
}
