package modeltest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/snapshot"
)

var (
	sequences = flag.Int("model.sequences", 150, "random sequences to run (make test runs the default; make model-long runs thousands)")
	// agentSequences: the sequences over the agent (TestModelBidiOverAgent).
	agentSequences = flag.Int("model.agent-sequences", 40, "random sequences to run with the remote side served by the SSH agent")
	steps          = flag.Int("model.steps", 12, "syncs per sequence")
	seedFlag       = flag.Uint64("model.seed", 0, "run only this sequence seed")
	dirFlag        = flag.String("model.dir", "", "directory for the trees and snapshots (default: /dev/shm when usable, else the system's temporary directory)")
)

// memDir is where sequences run by default: in memory, where the
// snapshots' and files' syncs cost nothing (on a disk they took 90 % of
// the time), when /dev/shm is a writable directory.
const memDir = "/dev/shm"

// baseDir returns the directory the sequences' trees go in.
func baseDir() string {
	if *dirFlag != "" {
		return *dirFlag
	}
	if d, err := os.MkdirTemp(memDir, "async-model-probe-"); err == nil {
		os.Remove(d)
		return memDir
	}
	return os.TempDir()
}

// world is one sequence: two trees, their snapshots, and a source of
// unique contents.
type world struct {
	t      *testing.T
	rng    *rand.Rand
	root   [2]string
	db     [2]string
	stores [2]core.Store // open for the whole sequence, as in one long-running process
	// remote, when set, serves the remote side: an agent over pipes
	// (the SSH backend's protocol, in process), open for the whole
	// sequence; stores[Remote] is then the agent's snapshot.
	remote    *client.Client
	overAgent bool
	version   int
	policy    core.Policy
	log       []string // operations so far, printed on failure
	// killed holds the contents a user operation overwrote or deleted on
	// some side: sync may then drop their other copies too.
	killed map[string]bool
	// hinted sequences sync as continuous mode does: follow, the
	// continuous controller, is told the paths a watcher would have
	// reported and decides each sync's hints (scans after a sync that
	// left something alone).
	hinted bool
	follow *lifecycle.Controller // nil unless hinted
}

func TestModelBidi(t *testing.T) {
	runSequences(t, "TestModelBidi", *sequences, false)
}

// TestModelBidiOverAgent runs the model with the remote side served by
// the SSH agent (in process, over pipes): its scan and its snapshot's
// records stream through the protocol's windows into the join.
func TestModelBidiOverAgent(t *testing.T) {
	runSequences(t, "TestModelBidiOverAgent", *agentSequences, true)
}

func runSequences(t *testing.T, name string, n int, overAgent bool) {
	seeds := make([]uint64, 0, n)
	if *seedFlag != 0 {
		seeds = append(seeds, *seedFlag)
	} else {
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	dir := baseDir()
	start := time.Now()
	for _, seed := range seeds {
		if !runSequence(t, dir, seed, overAgent) {
			t.Fatalf("sequence failed; rerun with: go test ./internal/modeltest -run %s -model.seed=%d -v", name, seed)
		}
	}
	t.Logf("%d sequences of %d syncs in %s, in %s", len(seeds), *steps, time.Since(start).Round(time.Millisecond), dir)
}

// open makes both roots and opens both snapshots of w in base; the
// function it returns closes the snapshots.
func (w *world) open(base string) func() {
	for s := range 2 {
		w.root[s] = filepath.Join(base, [2]string{"L", "R"}[s])
		w.db[s] = filepath.Join(base, [2]string{"dbL", "dbR"}[s])
		if err := os.Mkdir(w.root[s], 0o755); err != nil {
			w.t.Fatal(err)
		}
		if s == int(core.Remote) && w.overAgent {
			continue
		}
		db, err := snapshot.Open(w.db[s], snapshot.Options{})
		if err != nil {
			w.t.Fatal(err)
		}
		w.stores[s] = db
	}
	if w.overAgent {
		c, err := agentOverPipes(base, w.root[core.Remote])
		if err != nil {
			w.t.Fatal(err)
		}
		w.remote = c
		st, err := c.OpenStore(context.Background(), w.db[core.Remote], false)
		if err != nil {
			c.Close()
			w.t.Fatal(err)
		}
		w.stores[core.Remote] = st
	}
	return func() {
		for _, db := range w.stores {
			if c, ok := db.(io.Closer); ok {
				c.Close()
			}
		}
		if w.remote != nil {
			w.remote.Close()
		}
	}
}

// agentOverPipes starts an agent in process whose docroot is home, serving
// root with the local backend, and returns its client.
func agentOverPipes(home, root string) (*client.Client, error) {
	o := agent.Options{Home: home, StateDir: filepath.Join(home, ".state"),
		Open: func(dir string, fo agent.FSOptions) (core.Backend, error) {
			return local.Open(dir, local.Options{FollowLinks: fo.FollowLinks, Confined: fo.Confined})
		}}
	r, w, end := agent.ServePipes(o)
	return client.New(context.Background(), r, w, closerFunc(end), protocol.Hello{Root: root, Session: "model"}, 0)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// randomPolicy draws w's bidirectional policy from its generator;
// with older, a third of the worlds resolve conflicts by keeping the
// newer file (-o older).
func (w *world) randomPolicy(older bool) {
	w.policy = core.Policy{Direction: core.Bidi, Checksum: core.ChecksumSHA1Sparse,
		PreserveTime: w.rng.IntN(2) == 0, RenameFiles: w.rng.IntN(2) == 0, RenameDirs: w.rng.IntN(2) == 0}
	if older && w.rng.IntN(3) == 0 {
		w.policy.Overwrite = core.OverwriteOlder
	}
	if err := w.policy.Resolve(); err != nil {
		w.t.Fatal(err)
	}
}

// runSequence runs one seeded sequence in a new directory under dir,
// removed at its end, and reports whether it kept every invariant.
func runSequence(t *testing.T, dir string, seed uint64, overAgent bool) bool {
	base, err := os.MkdirTemp(dir, "async-model-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	w := &world{t: t, rng: rand.New(rand.NewPCG(seed, seed*7919)), killed: map[string]bool{}, overAgent: overAgent}
	defer w.open(base)()
	w.randomPolicy(true)
	w.hinted = w.rng.IntN(2) == 0 && os.Getenv("MODEL_NOHINTS") == ""
	if w.hinted {
		w.follow = lifecycle.NewController(lifecycle.ControllerOptions{Direction: w.policy.Direction})
	}
	w.logf("seed %d policy %+v hinted %v", seed, w.policy, w.hinted)
	ok := true
	for step := 0; step < *steps && ok; step++ {
		for s := range 2 {
			for range w.rng.IntN(5) {
				w.mutate(core.Side(s))
			}
		}
		ok = w.syncAndCheck()
	}
	if !ok {
		t.Log(strings.Join(w.log, "\n"))
	}
	return ok
}

func (w *world) logf(format string, args ...any) { w.log = append(w.log, fmt.Sprintf(format, args...)) }

// Paths come from a small name space so that operations collide often.
func (w *world) randPath() string {
	names := []string{"a", "b", "c", "d"}
	depth := 1 + w.rng.IntN(3)
	parts := make([]string, depth)
	for i := range parts {
		parts[i] = names[w.rng.IntN(len(names))]
	}
	return filepath.Join(parts...)
}

func (w *world) content() string {
	w.version++
	return fmt.Sprintf("version %d %s", w.version, strings.Repeat("x", w.rng.IntN(64)))
}

// existing returns a random existing path on side s ("" when empty).
func (w *world) existing(s core.Side, wantDir bool) string {
	var all []string
	filepath.WalkDir(w.root[s], func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == w.root[s] {
			return nil
		}
		if d.Name() == core.PrivateDir {
			return filepath.SkipDir
		}
		if d.IsDir() == wantDir {
			rel, _ := filepath.Rel(w.root[s], p)
			all = append(all, rel)
		}
		return nil
	})
	if len(all) == 0 {
		return ""
	}
	slices.Sort(all)
	return all[w.rng.IntN(len(all))]
}

// mutate applies one random user operation on side s. Operations that do
// not apply (a parent is a file, ...) are skipped.
// mutate applies one random user operation to side s, noting what a
// watcher would report: every path whose entry appeared, vanished or
// changed.
func (w *world) mutate(s core.Side) {
	if !w.hinted { // nobody reads what changed
		w.mutateOnce(s)
		return
	}
	before, beforeModes := w.read(s), w.modes(s)
	w.mutateOnce(s)
	after, afterModes := w.read(s), w.modes(s)
	var touched []string
	for p, a := range after {
		if b, ok := before[p]; !ok || b != a || beforeModes[p] != afterModes[p] {
			touched = append(touched, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			touched = append(touched, p)
		}
	}
	if w.follow != nil {
		w.follow.Changed(s, touched, time.Now())
	}
}

// modes maps side s's paths to their permission bits and change time:
// what inotify's attribute events see (a chmod to the same mode too).
func (w *world) modes(s core.Side) map[string]string {
	out := map[string]string{}
	root := w.root[s]
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			if fi, err := d.Info(); err == nil {
				rel, _ := filepath.Rel(root, p)
				st := fi.Sys().(*syscall.Stat_t)
				out[filepath.ToSlash(rel)] = fmt.Sprint(fi.Mode().Perm(), st.Ctim.Sec, st.Ctim.Nsec)
			}
		}
		return nil
	})
	return out
}

func (w *world) mutateOnce(s core.Side) {
	root := w.root[s]
	abs := func(p string) string { return filepath.Join(root, p) }
	switch op := w.rng.IntN(10); op {
	case 0, 1, 2: // create or overwrite a file
		p := w.randPath()
		if os.MkdirAll(filepath.Dir(abs(p)), 0o755) != nil {
			return
		}
		if fi, err := os.Lstat(abs(p)); err == nil && fi.IsDir() {
			return
		}
		w.kill(abs(p))
		c := w.content()
		if os.WriteFile(abs(p), []byte(c), 0o644) == nil {
			w.logf("%s: write %s %.12q", s, p, c)
		}
	case 3: // delete a file
		if p := w.existing(s, false); p != "" {
			w.kill(abs(p))
			os.Remove(abs(p))
			w.logf("%s: rm %s", s, p)
		}
	case 4: // delete a directory tree
		if p := w.existing(s, true); p != "" {
			w.kill(abs(p))
			os.RemoveAll(abs(p))
			w.logf("%s: rm -r %s", s, p)
		}
	case 5: // mkdir
		p := w.randPath()
		if os.MkdirAll(abs(p), 0o755) == nil {
			w.logf("%s: mkdir -p %s", s, p)
		}
	case 6: // rename a file or directory
		p := w.existing(s, w.rng.IntN(2) == 0)
		q := w.randPath()
		if p == "" || strings.HasPrefix(q+"/", p+"/") {
			return
		}
		if _, err := os.Lstat(abs(q)); err == nil {
			return
		}
		if os.MkdirAll(filepath.Dir(abs(q)), 0o755) != nil {
			return
		}
		if os.Rename(abs(p), abs(q)) == nil {
			w.logf("%s: mv %s %s", s, p, q)
		}
	case 7: // touch: new mtime, same content
		if p := w.existing(s, false); p != "" {
			t := time.Now().Add(time.Duration(w.rng.IntN(1000)) * time.Second)
			os.Chtimes(abs(p), t, t)
			w.logf("%s: touch %s", s, p)
		}
	case 8: // chmod
		if p := w.existing(s, false); p != "" {
			os.Chmod(abs(p), fs.FileMode([]int{0o600, 0o644, 0o755}[w.rng.IntN(3)]))
			w.logf("%s: chmod %s", s, p)
		}
	case 9: // replace a file by a directory or back
		if p := w.existing(s, false); p != "" && w.rng.IntN(2) == 0 {
			w.kill(abs(p))
			os.Remove(abs(p))
			os.MkdirAll(abs(p), 0o755)
			os.WriteFile(filepath.Join(abs(p), "in"), []byte(w.content()), 0o644)
			w.logf("%s: file→dir %s", s, p)
		} else if p := w.existing(s, true); p != "" {
			w.kill(abs(p))
			os.RemoveAll(abs(p))
			os.WriteFile(abs(p), []byte(w.content()), 0o644)
			w.logf("%s: dir→file %s", s, p)
		}
	}
}

// kill records the contents of the file or tree at abs as overwritten or
// deleted by the user.
func (w *world) kill(abs string) {
	filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil {
				w.killed[string(b)] = true
			}
		}
		return nil
	})
}

// node is one entry of a tree as the invariants compare it.
type node struct {
	dir     bool
	content string
	mtime   time.Time
}

func (w *world) read(s core.Side) map[string]node {
	out := map[string]node{}
	root := w.root[s]
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			w.t.Fatalf("walk %s: %v", p, err)
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel == core.PrivateDir {
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), core.ReservedPrefix) {
			w.t.Errorf("temporary file left behind: %s", p)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			w.t.Fatal(err)
		}
		n := node{dir: d.IsDir(), mtime: fi.ModTime()}
		if !n.dir {
			b, err := os.ReadFile(p)
			if err != nil {
				w.t.Fatal(err)
			}
			n.content = string(b)
		}
		out[rel] = n
		return nil
	})
	return out
}

func contents(trees ...map[string]node) map[string]bool {
	out := map[string]bool{}
	for _, tr := range trees {
		for _, n := range tr {
			if !n.dir {
				out[n.content] = true
			}
		}
	}
	return out
}

// sync runs one bidi sync with fresh backends and the sequence's snapshots.
func (w *world) sync(hints [2]*core.Hint) (*core.Plan, *core.Stats) {
	ctx := context.Background()
	var eps [2]*core.Endpoint
	for s := range 2 {
		if s == int(core.Remote) && w.remote != nil {
			eps[s] = &core.Endpoint{Backend: w.remote, Store: w.stores[s], URL: "ssh://model" + w.root[s]}
			continue
		}
		b, err := local.Open(w.root[s], local.Options{})
		if err != nil {
			w.t.Fatal(err)
		}
		defer b.Close()
		eps[s] = &core.Endpoint{Backend: b, Store: w.stores[s], URL: "file://" + w.root[s]}
	}
	stats := &core.Stats{}
	var mu sync.Mutex
	report := func(p, status string) {
		if strings.HasPrefix(status, core.ReportError) {
			mu.Lock()
			w.logf("  %s %s", p, status)
			mu.Unlock()
		}
	}
	plan, err := core.Sync(ctx, eps[0], eps[1], core.Options{Session: "model", Policy: w.policy, Stats: stats, ForceDeletes: true, Report: report, Hints: hints})
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	return plan, stats
}

// syncAndCheck syncs, checks the invariants, then syncs again to check
// idempotence.
func (w *world) syncAndCheck() bool {
	before := contents(w.read(core.Local), w.read(core.Remote))
	var hints, none [2]*core.Hint
	if w.hinted {
		hints = w.follow.Next(time.Now()).Hints
		if hints[core.Local] != nil {
			w.logf("  hints: %v | %v", hints[0].Paths, hints[1].Paths)
		}
	}
	plan, stats := w.sync(hints)
	ok := w.checkRound(before, plan, stats)
	if w.hinted {
		w.follow.Done(stats)
		if hints[core.Local] != nil {
			// After a sync that read hints, the second one reads the
			// records as a round with nothing changed would (scans, when
			// the first left something alone); after one that scanned,
			// it scans.
			none = w.follow.Next(time.Now()).Hints
		}
	}
	again, _ := w.sync(none)
	if !again.Empty() {
		for _, a := range again.Actions {
			w.t.Errorf("second sync plans %s %s %s", a.Op, a.Side, a.Path)
		}
		ok = false
	}
	return ok
}

// same reports whether both trees are identical, logging the differences.
// checkRound logs a sync's plan and checks what every sync must hold: no
// content that existed before it is lost (unless a user operation
// overwrote it), no ERROR, and both sides equal unless a conflict remains.
func (w *world) checkRound(before map[string]bool, plan *core.Plan, stats *core.Stats) bool {
	for _, a := range plan.Actions {
		w.logf("  plan: %s %s %s %s %s", a.Op, a.Side, a.Path, a.To, a.Reason)
	}
	l, r := w.read(core.Local), w.read(core.Remote)
	after := contents(l, r)
	ok := true
	for c := range before {
		if !after[c] && !w.killed[c] {
			w.t.Errorf("content lost: %q", c)
			ok = false
		}
	}
	if stats.Errors.Load() > 0 {
		w.t.Errorf("%d errors", stats.Errors.Load())
		ok = false
	}
	if stats.Conflicts.Load() == 0 && !w.same(l, r) {
		ok = false
	}
	return ok
}

func (w *world) same(l, r map[string]node) bool {
	ok := true
	for p, a := range l {
		b, found := r[p]
		switch {
		case !found:
			w.t.Errorf("only on the local side: %s", p)
		case a.dir != b.dir || a.content != b.content:
			w.t.Errorf("differs: %s: %+v vs %+v", p, a, b)
		case w.policy.PreserveTime && !a.dir && !a.mtime.Equal(b.mtime):
			w.t.Errorf("mtime differs: %s: %v vs %v", p, a.mtime, b.mtime)
		default:
			continue
		}
		ok = false
	}
	for p := range r {
		if _, found := l[p]; !found {
			w.t.Errorf("only on the remote side: %s", p)
			ok = false
		}
	}
	return ok
}
