package core_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

// pathStore is an in-memory snapshot that counts whole loads and sparse
// reads.
type pathStore struct {
	*memfs.Store
	loads, sparse atomic.Int32
}

func (s *pathStore) Load(ctx context.Context, fn func(core.Record) error) error {
	s.loads.Add(1)
	return s.Store.Load(ctx, fn)
}

func (s *pathStore) LoadPaths(ctx context.Context, paths, dirs []string, fn func(core.Record) error) error {
	s.sparse.Add(1)
	for _, r := range s.Records() {
		below := slices.ContainsFunc(dirs, func(d string) bool { return d == "" && r.Path != "" || strings.HasPrefix(r.Path, d+"/") })
		if slices.Contains(paths, r.Path) || below {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// hintWorld is two in-memory sides whose runs are told what changed.
type hintWorld struct {
	t      *testing.T
	fs     [2]*memfs.FS
	stores [2]*pathStore
	policy core.Policy
}

func newHintWorld(t *testing.T, dir core.Direction) *hintWorld {
	w := &hintWorld{t: t}
	for s := range 2 {
		w.fs[s] = memfs.New(memfs.Options{})
		w.stores[s] = &pathStore{Store: memfs.NewStore()}
	}
	w.policy = core.Policy{Direction: dir, Checksum: core.ChecksumSHA1Sparse, PreserveTime: true,
		RenameFiles: true, RenameDirs: true, ConflictSuffix: ".conflict"}
	if err := w.policy.Resolve(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *hintWorld) put(s core.Side, p, content string) {
	w.t.Helper()
	w.mkdirs(s, core.Parent(p))
	wr, err := w.fs[s].Create(bg, p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		w.t.Fatal(err)
	}
	wr.Write([]byte(content))
	if _, err := wr.Commit(bg); err != nil {
		w.t.Fatal(err)
	}
}

func (w *hintWorld) mkdirs(s core.Side, d string) {
	if d == "" {
		return
	}
	w.mkdirs(s, core.Parent(d))
	if en, err := w.fs[s].Stat(bg, d); err == nil && en.Type == core.TypeDir {
		return
	}
	if _, err := w.fs[s].Mkdir(bg, d, 0o755); err != nil {
		w.t.Fatal(err)
	}
}

// removeAll removes p and what is below it.
func (w *hintWorld) removeAll(s core.Side, p string) {
	w.t.Helper()
	tree := w.fs[s].Tree()
	paths := slices.Collect(maps.Keys(tree))
	slices.SortFunc(paths, core.ComparePaths)
	slices.Reverse(paths)
	for _, q := range paths {
		if q == p || strings.HasPrefix(q, p+"/") {
			if err := w.fs[s].Remove(bg, q, core.Precondition{Any: true}); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

// sync runs one sync; hints nil on a side scans it. The journal token
// recorded is "tok" (a run that settles everything records it).
func (w *hintWorld) sync(hints [2][]string, force bool) (*core.Plan, error) {
	var eps [2]*core.Endpoint
	var h [2]*core.Hint
	for s := range 2 {
		eps[s] = &core.Endpoint{Backend: w.fs[s], Store: w.stores[s], URL: [2]string{"mem://local", "mem://remote"}[s]}
		if hints[s] != nil {
			h[s] = &core.Hint{Paths: hints[s]}
		}
	}
	stats := &core.Stats{}
	plan, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "hints", Policy: w.policy, Stats: stats,
		Hints: h, Journal: [2]string{"tok", "tok"}, ForceDeletes: force})
	if err == nil && stats.Errors.Load()+stats.Conflicts.Load() > 0 {
		err = fmt.Errorf("%d errors, %d conflicts", stats.Errors.Load(), stats.Conflicts.Load())
	}
	return plan, err
}

func (w *hintWorld) loads() (whole, sparse int32) {
	for s := range 2 {
		whole += w.stores[s].loads.Swap(0)
		sparse += w.stores[s].sparse.Swap(0)
	}
	return whole, sparse
}

// TestSparseGather: a run told what changed reads only those records
// (no whole load) when it can, loads whole when it cannot, and either
// way leaves nothing that a full scan would still find to do.
func TestSparseGather(t *testing.T) {
	type change struct {
		side  core.Side
		do    func(w *hintWorld)
		hints []string
	}
	tests := []struct {
		name   string
		dir    core.Direction
		change []change
		sparse bool   // read sparsely (no whole load)
		halt   bool   // the run halts (an emptied side)
		want   string // an action the hinted run plans
	}{
		{"a modified file", core.Push, []change{{core.Local, func(w *hintWorld) { w.put(core.Local, "d/f1", "new") }, []string{"d/f1"}}}, true, false, "copy remote /d/f1"},
		{"a new file", core.Push, []change{{core.Local, func(w *hintWorld) { w.put(core.Local, "d/e/new", "n") }, []string{"d/e/new"}}}, true, false, "copy remote /d/e/new"},
		{"a deleted file", core.Push, []change{{core.Local, func(w *hintWorld) { w.removeAll(core.Local, "d/f2") }, []string{"d/f2"}}}, true, false, "delete remote /d/f2"},
		{"rm -r of a small directory reads its recorded subtree", core.Push, []change{{core.Local, func(w *hintWorld) { w.removeAll(core.Local, "d/e") }, []string{"d/e"}}}, true, false, "delete remote /d/e/g1"},
		{"a directory that became a file", core.Push, []change{{core.Local, func(w *hintWorld) {
			w.removeAll(core.Local, "d/e")
			w.put(core.Local, "d/e", "file now")
		}, []string{"d/e"}}}, true, false, "copy remote /d/e"},
		{"a renamed file", core.Push, []change{{core.Local, func(w *hintWorld) {
			w.do(w.fs[core.Local].Rename(bg, "d/f3", "d/f3.moved", core.Precondition{Any: true}))
		}, []string{"d/f3", "d/f3.moved"}}}, true, false, "rename remote /d/f3 -> /d/f3.moved"},
		{"bidi: both sides hinted", core.Bidi, []change{
			{core.Local, func(w *hintWorld) { w.put(core.Local, "d/f1", "left") }, []string{"d/f1"}},
			{core.Remote, func(w *hintWorld) { w.put(core.Remote, "big/b01", "right") }, []string{"big/b01"}},
		}, true, false, "copy local /big/b01"},
		{"a new directory loads whole", core.Push, []change{{core.Local, func(w *hintWorld) { w.put(core.Local, "nd/x", "x") }, []string{"nd", "nd/x"}}}, false, false, "mkdir remote /nd"},
		{"bidi with one side unhinted loads whole", core.Bidi, []change{{core.Local, func(w *hintWorld) { w.put(core.Local, "d/f1", "left") }, nil}}, false, false, "copy remote /d/f1"},
		{"losing most of the tree is weighed against the whole snapshot", core.Push, []change{{core.Local, func(w *hintWorld) {
			w.removeAll(core.Local, "big")
			w.removeAll(core.Local, "d")
		}, []string{"big", "d"}}}, false, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newHintWorld(t, tc.dir)
			w.put(core.Local, "top", "t")
			for i := range 3 {
				w.put(core.Local, fmt.Sprintf("d/f%d", i+1), "f")
				w.put(core.Local, fmt.Sprintf("d/e/g%d", i+1), "g")
			}
			for i := range 30 {
				w.put(core.Local, fmt.Sprintf("big/b%02d", i), "b")
			}
			for range 2 { // the first run records the token
				if _, err := w.sync([2][]string{}, false); err != nil {
					t.Fatal(err)
				}
			}
			w.loads()
			var hints [2][]string
			for _, c := range tc.change {
				c.do(w)
				hints[c.side] = c.hints
			}
			plan, err := w.sync(hints, false)
			whole, sparse := w.loads()
			if tc.halt {
				var h *core.HaltError
				if !errors.As(err, &h) {
					t.Fatalf("run: %v, want a halt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.sparse && (whole != 0 || sparse == 0) {
				t.Errorf("%d whole loads, %d sparse reads: want sparse reads only", whole, sparse)
			}
			if !tc.sparse && whole == 0 {
				t.Errorf("no whole load: the run cannot have been sparse")
			}
			if got := tRenderPlan(plan); !slices.Contains(got, tc.want) {
				t.Errorf("plan %q lacks %q", got, tc.want)
			}
			again, err := w.sync([2][]string{}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := tRenderPlan(again); len(got) != 0 {
				t.Errorf("a full scan after the hinted run still plans %q", got)
			}
			if l, r := w.fs[core.Local].Tree(), w.fs[core.Remote].Tree(); tc.dir == core.Push && !maps.Equal(l, r) {
				t.Errorf("trees differ after the push:\nlocal  %v\nremote %v", l, r)
			}
		})
	}
}

// A run whose last run recorded no journal token (it did not settle
// everything: conflict or error records may remain) loads whole.
func TestSparseGatherNeedsASettledLastRun(t *testing.T) {
	w := newHintWorld(t, core.Push)
	w.put(core.Local, "d/f", "f")
	var eps [2]*core.Endpoint
	for s := range 2 {
		eps[s] = &core.Endpoint{Backend: w.fs[s], Store: w.stores[s], URL: [2]string{"mem://local", "mem://remote"}[s]}
	}
	for range 2 {
		if _, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "hints", Policy: w.policy}); err != nil {
			t.Fatal(err)
		}
	}
	w.loads()
	w.put(core.Local, "d/f", "g")
	if _, err := w.sync([2][]string{{"d/f"}, nil}, false); err != nil {
		t.Fatal(err)
	}
	if whole, _ := w.loads(); whole == 0 {
		t.Fatal("no whole load after a run without a token")
	}
}

func (w *hintWorld) do(_ core.Entry, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// tRenderPlan renders a plan's actions as "op side /path[ -> /to]".
func tRenderPlan(p *core.Plan) []string {
	var out []string
	for _, a := range p.Actions {
		s := fmt.Sprintf("%s %s %s", a.Op, a.Side, core.DisplayPath(a.Path))
		if a.To != "" {
			s += " -> " + core.DisplayPath(a.To)
		}
		out = append(out, s)
	}
	return out
}
