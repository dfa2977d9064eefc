package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

func TestIsSource(t *testing.T) {
	tests := []struct {
		d    core.Direction
		s    core.Side
		want bool
	}{
		{core.Push, core.Local, true}, {core.Push, core.Remote, false},
		{core.Pull, core.Local, false}, {core.Pull, core.Remote, true},
		{core.Bidi, core.Local, true}, {core.Bidi, core.Remote, true},
	}
	for _, tc := range tests {
		if got := IsSource(tc.d, tc.s); got != tc.want {
			t.Errorf("IsSource(%v, %v) = %v", tc.d, tc.s, got)
		}
	}
}

func TestCleanRound(t *testing.T) {
	tests := []struct {
		name string
		set  func(*core.Stats)
		want bool
	}{
		{"nothing", func(*core.Stats) {}, true},
		{"files and bytes", func(s *core.Stats) { s.Files.Add(3); s.Bytes.Add(10); s.Deleted.Add(1) }, true},
		{"conflict", func(s *core.Stats) { s.Conflicts.Add(1) }, false},
		{"error", func(s *core.Stats) { s.Errors.Add(1) }, false},
		{"skipped", func(s *core.Stats) { s.Skipped.Add(1) }, false},
		{"renamed", func(s *core.Stats) { s.Renamed.Add(1) }, false},
	}
	for _, tc := range tests {
		st := &core.Stats{}
		tc.set(st)
		if got := CleanRound(st); got != tc.want {
			t.Errorf("%s: CleanRound = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !CleanRound(nil) {
		t.Error("no round: not clean")
	}
}

// hintString describes a round's hints: "scan", or the paths.
func hintString(h *core.Hint) string {
	if h == nil {
		return "scan"
	}
	return "paths[" + strings.Join(h.Paths, " ") + "]"
}

func TestControllerSettles(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewController(ControllerOptions{Direction: core.Bidi, Cooloff: 10 * time.Second})
	c.Changed(core.Local, []string{"b", "a"}, t0)
	c.Changed(core.Local, []string{"b"}, t0.Add(5*time.Second))
	if r := c.Next(t0.Add(9 * time.Second)); r.Run || c.Pending() != 2 {
		t.Fatalf("before the cooloff: run %v, %d pending; want no round, 2 pending", r.Run, c.Pending())
	}
	r := c.Next(t0.Add(12 * time.Second)) // a settled, b not yet
	if !r.Run || hintString(r.Hints[core.Local]) != "paths[a]" || hintString(r.Hints[core.Remote]) != "paths[]" {
		t.Fatalf("a settled: run %v, hints %s | %s", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	c.Done(&core.Stats{})
	c.Changed(core.Remote, []string{"z", "y"}, t0.Add(13*time.Second))
	r = c.Next(t0.Add(30 * time.Second))
	if !r.Run || hintString(r.Hints[core.Local]) != "paths[b]" || hintString(r.Hints[core.Remote]) != "paths[y z]" {
		t.Fatalf("all settled: run %v, hints %s | %s", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	if c.Pending() != 0 {
		t.Errorf("%d pending after all settled", c.Pending())
	}
}

func TestControllerOneWay(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewController(ControllerOptions{Direction: core.Push})
	c.Changed(core.Local, []string{"a"}, t0)
	r := c.Next(t0)
	// The destination of a push is no source: it is scanned every round.
	if !r.Run || hintString(r.Hints[core.Local]) != "paths[a]" || r.Hints[core.Remote] != nil {
		t.Fatalf("push: run %v, hints %s | %s", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	c = NewController(ControllerOptions{Direction: core.Pull})
	c.Changed(core.Remote, []string{"b"}, t0)
	r = c.Next(t0)
	if !r.Run || r.Hints[core.Local] != nil || hintString(r.Hints[core.Remote]) != "paths[b]" {
		t.Fatalf("pull: run %v, hints %s | %s", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
}

func TestControllerFullScanWaitsForPaths(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewController(ControllerOptions{Direction: core.Bidi, Cooloff: 10 * time.Second})
	c.Changed(core.Local, []string{"a"}, t0)
	c.Changed(core.Local, []string{""}, t0.Add(time.Second)) // the watcher lost track
	if r := c.Next(t0.Add(5 * time.Second)); r.Run {
		t.Fatal("a full scan ran before the pending paths settled")
	}
	r := c.Next(t0.Add(11 * time.Second))
	if !r.Run || r.Hints[core.Local] != nil || hintString(r.Hints[core.Remote]) != "paths[]" {
		t.Fatalf("run %v, hints %s | %s; want the local side scanned", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	if r := c.Next(t0.Add(12 * time.Second)); r.Run {
		t.Error("the full scan was asked for twice")
	}
}

func TestControllerRescan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewController(ControllerOptions{Direction: core.Bidi, Rescan: [2]time.Duration{0, time.Minute}})
	c.Scanned(t0)
	if r := c.Next(t0.Add(59 * time.Second)); r.Run {
		t.Fatal("rescan before its interval")
	}
	r := c.Next(t0.Add(61 * time.Second))
	if !r.Run || hintString(r.Hints[core.Local]) != "paths[]" || r.Hints[core.Remote] != nil {
		t.Fatalf("run %v, hints %s | %s; want the remote side rescanned", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	if r := c.Next(t0.Add(62 * time.Second)); r.Run {
		t.Error("the interval did not restart at the rescan")
	}
	if r := c.Next(t0.Add(122 * time.Second)); !r.Run || r.Hints[core.Remote] != nil {
		t.Error("no second rescan")
	}
}

func TestControllerGivesUp(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewController(ControllerOptions{Direction: core.Bidi, Cooloff: 10 * time.Second, CooloffMax: time.Minute})
	for i := range 7 { // every 9s: never settles
		c.Changed(core.Remote, []string{"busy"}, t0.Add(time.Duration(i)*9*time.Second))
	}
	r := c.Next(t0.Add(60 * time.Second))
	if r.Run || !slices.Equal(r.GaveUp[core.Remote], []string{"busy"}) || len(r.GaveUp[core.Local]) != 0 {
		t.Fatalf("run %v, gave up %v; want busy given up, no round", r.Run, r.GaveUp)
	}
	if c.Pending() != 0 {
		t.Errorf("%d pending after giving up", c.Pending())
	}
}

func TestControllerScansAfterUncleanRound(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewController(ControllerOptions{Direction: core.Bidi})
	unclean := &core.Stats{}
	unclean.Conflicts.Add(1)
	c.Done(unclean)
	c.Changed(core.Local, []string{"a"}, t0)
	r := c.Next(t0)
	if !r.Run || r.Hints != [2]*core.Hint{} {
		t.Fatalf("after an unclean round: run %v, hints %s | %s; want both sides scanned", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	if r := c.Next(t0); r.Run || r.Hints != [2]*core.Hint{} {
		t.Fatalf("nothing changed: run %v, hints %s | %s; want no round, and scans were one due", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
	c.Done(&core.Stats{})
	c.Changed(core.Local, []string{"a"}, t0)
	if r := c.Next(t0); !r.Run || hintString(r.Hints[core.Local]) != "paths[a]" {
		t.Fatalf("after a clean round: run %v, hints %s | %s", r.Run, hintString(r.Hints[0]), hintString(r.Hints[1]))
	}
}

// watching is an in-memory side that reports changes when the test says.
type watching struct {
	*memfs.FS
	fn   chan func([]string) // the watcher's callback, once Watch runs
	fail chan error          // an error to stop watching with
}

func newWatching() *watching {
	return &watching{FS: memfs.New(memfs.Options{}), fn: make(chan func([]string), 1), fail: make(chan error, 1)}
}

// Watch hands its callback to the test and waits.
func (w *watching) Watch(ctx context.Context, fn func([]string)) error {
	w.fn <- fn
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-w.fail:
		return err
	}
}

// round is one round Follow ran.
type round struct {
	hints [2]*core.Hint
	stats *core.Stats
	err   error
}

// followWorld is two in-memory sides, their snapshots and a Follow
// running between them, each round passed to the test.
type followWorld struct {
	t      *testing.T
	b      [2]core.Backend
	fs     [2]*memfs.FS
	stores [2]*memfs.Store
	rounds chan round
	done   chan error
	cancel context.CancelFunc
}

func startFollow(t *testing.T, b [2]core.Backend, fss [2]*memfs.FS, o FollowOptions, before func(w *followWorld)) *followWorld {
	t.Helper()
	w := &followWorld{t: t, b: b, fs: fss, rounds: make(chan round), done: make(chan error, 1)}
	w.stores = [2]*memfs.Store{memfs.NewStore(), memfs.NewStore()}
	pol := core.Policy{Direction: core.Bidi, Checksum: core.ChecksumSHA1Sparse, PreserveTime: true, ConflictSuffix: ".conflict"}
	if err := pol.Resolve(); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	o.Direction, o.Backends = core.Bidi, b
	o.Tick = time.Millisecond
	if o.Round == nil {
		o.Round = func(ctx context.Context, hints [2]*core.Hint) (*core.Stats, error) {
			var eps [2]*core.Endpoint
			for s := range 2 {
				eps[s] = &core.Endpoint{Backend: b[s], Store: w.stores[s], URL: [2]string{"mem://l", "mem://r"}[s]}
			}
			st := &core.Stats{}
			_, err := core.Sync(ctx, eps[0], eps[1], core.Options{Session: "follow", Policy: pol, Stats: st, Hints: hints})
			select {
			case w.rounds <- round{hints, st, err}:
			case <-ctx.Done():
			}
			return st, err
		}
	}
	go func() { w.done <- Follow(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Error("Follow did not return after its context ended")
		}
	})
	return w
}

// next waits for the next round.
func (w *followWorld) next() round {
	w.t.Helper()
	select {
	case r := <-w.rounds:
		if r.err != nil {
			w.t.Fatalf("round: %v", r.err)
		}
		return r
	case err := <-w.done:
		w.t.Fatalf("Follow returned %v", err)
	case <-time.After(10 * time.Second):
		w.t.Fatal("no round within 10s")
	}
	return round{}
}

// noRound checks that no round runs for a while.
func (w *followWorld) noRound(d time.Duration) {
	w.t.Helper()
	select {
	case r := <-w.rounds:
		w.t.Fatalf("a round ran with hints %s | %s", hintString(r.hints[0]), hintString(r.hints[1]))
	case <-time.After(d):
	}
}

func (w *followWorld) put(s core.Side, p, content string) {
	w.t.Helper()
	wr, err := w.fs[s].Create(context.Background(), p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		w.t.Fatal(err)
	}
	wr.Write([]byte(content))
	if _, err := wr.Commit(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// recorded reports whether the side's snapshot has a record of p.
func (w *followWorld) recorded(s core.Side, p string) bool {
	return slices.ContainsFunc(w.stores[s].Records(), func(r core.Record) bool { return r.Path == p })
}

func TestFollowHintsSettledChanges(t *testing.T) {
	l, r := newWatching(), newWatching()
	w := startFollow(t, [2]core.Backend{l, r}, [2]*memfs.FS{l.FS, r.FS}, FollowOptions{}, func(w *followWorld) {
		w.put(core.Local, "first", "1")
	})
	changedL, changedR := <-l.fn, <-r.fn // both watch before the first round
	first := w.next()
	if first.hints != [2]*core.Hint{} {
		t.Fatalf("first round: hints %s | %s; want both sides scanned", hintString(first.hints[0]), hintString(first.hints[1]))
	}
	if r.Tree()["first"] != "file:1" || !w.recorded(core.Remote, "first") {
		t.Fatalf("the first round did not sync: remote %v", r.Tree())
	}
	w.noRound(20 * time.Millisecond) // nothing changed: no round
	w.put(core.Local, "a", "A")
	changedL([]string{"a"})
	got := w.next()
	if hintString(got.hints[core.Local]) != "paths[a]" || hintString(got.hints[core.Remote]) != "paths[]" {
		t.Fatalf("change round: hints %s | %s", hintString(got.hints[0]), hintString(got.hints[1]))
	}
	// A clean round saves what it synced: the records stand for the
	// trees, so the next round may read hints again.
	if r.Tree()["a"] != "file:A" || !w.recorded(core.Local, "a") || !w.recorded(core.Remote, "a") {
		t.Fatalf("a was not synced and recorded: remote %v", r.Tree())
	}
	w.put(core.Remote, "b", "B")
	changedR([]string{"b"})
	got = w.next()
	if hintString(got.hints[core.Local]) != "paths[]" || hintString(got.hints[core.Remote]) != "paths[b]" {
		t.Fatalf("second change round: hints %s | %s", hintString(got.hints[0]), hintString(got.hints[1]))
	}
	if l.Tree()["b"] != "file:B" {
		t.Fatalf("b was not synced: local %v", l.Tree())
	}
}

func TestFollowScansAfterUncleanRound(t *testing.T) {
	l, r := newWatching(), newWatching()
	w := startFollow(t, [2]core.Backend{l, r}, [2]*memfs.FS{l.FS, r.FS}, FollowOptions{}, func(w *followWorld) {
		w.put(core.Local, "c", "local version")
		w.put(core.Remote, "c", "remote version")
	})
	changedL := <-l.fn
	<-r.fn
	first := w.next()
	if first.stats.Conflicts.Load() == 0 {
		t.Fatalf("the first round saw no conflict: local %v remote %v", l.Tree(), r.Tree())
	}
	// The conflict stays: every round scans until it is gone.
	for i := range 2 {
		w.put(core.Local, "x", "x")
		changedL([]string{"x"})
		got := w.next()
		if got.hints != [2]*core.Hint{} {
			t.Fatalf("round %d after a conflict: hints %s | %s; want both sides scanned", i+2, hintString(got.hints[0]), hintString(got.hints[1]))
		}
		if got.stats.Conflicts.Load() == 0 {
			t.Fatalf("round %d: the conflict is gone (local %v, remote %v)", i+2, l.Tree(), r.Tree())
		}
	}
	// Settled: both sides agree; the next round scans once more (the last
	// one was unclean), then rounds read hints again.
	w.put(core.Remote, "c", "local version")
	changedL([]string{"c"})
	if got := w.next(); got.hints != [2]*core.Hint{} || !CleanRound(got.stats) {
		t.Fatalf("resolving round: hints %s | %s, clean %v", hintString(got.hints[0]), hintString(got.hints[1]), CleanRound(got.stats))
	}
	w.put(core.Local, "y", "y")
	changedL([]string{"y"})
	if got := w.next(); hintString(got.hints[core.Local]) != "paths[y]" {
		t.Fatalf("after a clean round: hints %s | %s", hintString(got.hints[0]), hintString(got.hints[1]))
	}
}

func TestFollowRescansASideThatCannotWatch(t *testing.T) {
	l, r := newWatching(), memfs.New(memfs.Options{})
	w := startFollow(t, [2]core.Backend{l, r}, [2]*memfs.FS{l.FS, r}, FollowOptions{Rescan: [2]time.Duration{0, 30 * time.Millisecond}}, nil)
	<-l.fn
	w.next()
	w.put(core.Remote, "new", "n") // no watcher tells
	got := w.next()
	if hintString(got.hints[core.Local]) != "paths[]" || got.hints[core.Remote] != nil {
		t.Fatalf("rescan round: hints %s | %s; want the remote side scanned", hintString(got.hints[0]), hintString(got.hints[1]))
	}
	if l.Tree()["new"] != "file:n" {
		t.Fatalf("the rescan did not sync: local %v", l.Tree())
	}
}

func TestFollowEnds(t *testing.T) {
	errRound := errors.New("round failed")
	errWatch := errors.New("watch failed")
	opts := func() (FollowOptions, *watching, *watching) {
		l, r := newWatching(), newWatching()
		return FollowOptions{Direction: core.Bidi, Backends: [2]core.Backend{l, r}, Tick: time.Millisecond,
			Round: func(context.Context, [2]*core.Hint) (*core.Stats, error) { return &core.Stats{}, nil }}, l, r
	}
	o, _, _ := opts()
	o.Round = func(context.Context, [2]*core.Hint) (*core.Stats, error) { return nil, errRound }
	if err := Follow(context.Background(), o); !errors.Is(err, errRound) {
		t.Errorf("a failed first round: Follow returned %v", err)
	}
	o, l, _ := opts()
	l.fail <- errWatch
	if err := Follow(context.Background(), o); !errors.Is(err, errWatch) {
		t.Errorf("a failed watcher: Follow returned %v", err)
	}
	o, _, _ = opts()
	ctx, cancel := context.WithCancel(context.Background())
	var idle int
	o.Idle = func(last time.Time, pending int) {
		if last.IsZero() || pending != 0 {
			t.Errorf("idle: last sync %v, %d pending", last, pending)
		}
		if idle++; idle == 3 {
			cancel()
		}
	}
	if err := Follow(ctx, o); err != nil || idle < 3 {
		t.Errorf("a cancelled session: Follow returned %v after %d idle ticks", err, idle)
	}
}
