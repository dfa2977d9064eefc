package core_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/faults"
	"github.com/async-sync/async/core/memfs"
)

// faultWorld is two in-memory sides and their snapshots.
type faultWorld struct {
	t      *testing.T
	fs     [2]*memfs.FS
	stores [2]*memfs.Store
	policy core.Policy
	errs   []string // errors reported by the last run
	// parallel runs the transfers with the default number of workers
	// (else one: the Nth call is then the same call at every run).
	parallel bool
}

var bg = context.Background()

func newFaultWorld(t *testing.T, dir core.Direction) *faultWorld {
	w := &faultWorld{t: t}
	for s := range 2 {
		w.fs[s] = memfs.New(memfs.Options{})
		w.stores[s] = memfs.NewStore()
	}
	w.policy = core.Policy{Direction: dir, Checksum: core.ChecksumSHA1Sparse, PreserveTime: true,
		SetMode: true, RenameFiles: true, RenameDirs: true, ConflictSuffix: ".conflict"}
	if err := w.policy.Resolve(); err != nil {
		t.Fatal(err)
	}
	return w
}

// sync runs one sync with the given backends (nil: the plain trees).
func (w *faultWorld) sync(backends [2]core.Backend) (*core.Plan, *core.Stats, error) {
	var eps [2]*core.Endpoint
	for s := range 2 {
		b := backends[s]
		if b == nil {
			b = w.fs[s]
		}
		eps[s] = &core.Endpoint{Backend: b, Store: w.stores[s], URL: [2]string{"mem://local", "mem://remote"}[s]}
	}
	stats := &core.Stats{}
	var mu sync.Mutex
	w.errs = nil
	report := func(p, status string) {
		if strings.HasPrefix(status, core.ReportError) {
			mu.Lock()
			w.errs = append(w.errs, p+" "+status)
			mu.Unlock()
		}
	}
	threads := []core.ThreadClass{{N: 1}}
	if w.parallel {
		threads = nil
	}
	plan, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "faults", Policy: w.policy, Stats: stats,
		ForceDeletes: true, Report: report, TransferThreads: threads})
	return plan, stats, err
}

func (w *faultWorld) mustSync() *core.Plan {
	w.t.Helper()
	plan, stats, err := w.sync([2]core.Backend{})
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	if n := stats.Errors.Load() + stats.Conflicts.Load(); n > 0 {
		w.t.Fatalf("sync: %d errors or conflicts: %v", n, w.errs)
	}
	return plan
}

func (w *faultWorld) put(s core.Side, p, content string) {
	w.t.Helper()
	b := w.fs[s]
	w.mkdirAll(s, core.Parent(p))
	wr, err := b.Create(bg, p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		w.t.Fatal(err)
	}
	wr.Write([]byte(content))
	if _, err := wr.Commit(bg); err != nil {
		w.t.Fatal(err)
	}
}

func (w *faultWorld) mkdirAll(s core.Side, d string) {
	if d == "" {
		return
	}
	w.mkdirAll(s, core.Parent(d))
	if _, err := w.fs[s].Mkdir(bg, d, 0o755); err != nil {
		w.t.Fatal(err)
	}
}

func (w *faultWorld) do(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// describe is a tree as the test compares it: path → type, mode,
// mtime of files, content or target.
func describe(t *testing.T, b core.Backend) map[string]string {
	t.Helper()
	out := map[string]string{}
	var mu sync.Mutex
	err := b.Scan(bg, core.ScanOptions{}, func(e core.Entry) error {
		d := fmt.Sprintf("%s %v", e.Type, e.Mode)
		switch e.Type {
		case core.TypeFile:
			rc, _, err := b.Open(bg, e.Path, 0)
			if err != nil {
				return err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			d += fmt.Sprintf(" %s %q", e.MTime.UTC().Format(time.RFC3339Nano), data)
		case core.TypeSymlink:
			d += " -> " + e.Target
		}
		mu.Lock()
		out[e.Path] = d
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out
}

// The scenario: a tree synchronized once, then changed on one side
// (push) or both (bidi) with new, rewritten, renamed, deleted and
// re-moded files, directories and links.
func (w *faultWorld) setup() {
	w.put(core.Local, "a.txt", "alpha")
	w.put(core.Local, "d/b.txt", "bravo")
	w.put(core.Local, "d/e/c.txt", "charlie")
	w.put(core.Local, "old.txt", "oscar")
	w.put(core.Local, "gone.txt", "golf")
	w.put(core.Local, "gonedir/x.txt", "xray")
	w.put(core.Local, "mv/m.txt", "mike")
	_, err := w.fs[core.Local].Symlink(bg, "link", "a.txt", core.MustNotExist)
	w.do(err)
	w.mustSync()
	if l, r := describe(w.t, w.fs[0]), describe(w.t, w.fs[1]); !maps.Equal(l, r) {
		w.t.Fatalf("the first sync left different trees:\n%v\n%v", l, r)
	}
	L, R := core.Local, core.Remote
	if w.policy.Direction != core.Bidi {
		R = L
	}
	w.put(L, "a.txt", "alpha, second version")
	_, err = w.fs[L].Rename(bg, "old.txt", "new.txt", core.Precondition{Any: true})
	w.do(err)
	w.do(w.fs[L].Remove(bg, "gone.txt", core.Precondition{Any: true}))
	w.put(L, "n/f.txt", "foxtrot")
	mode := fs.FileMode(0o600)
	_, err = w.fs[L].SetAttr(bg, "d/b.txt", core.Attrs{Mode: &mode})
	w.do(err)
	w.put(R, "d/e/c.txt", "charlie, second version")
	w.put(R, "r/r.txt", "romeo")
	w.do(w.fs[R].Remove(bg, "gonedir/x.txt", core.Precondition{Any: true}))
	w.do(w.fs[R].Remove(bg, "gonedir", core.Precondition{Any: true}))
	_, err = w.fs[R].Rename(bg, "mv", "mv2", core.Precondition{Any: true})
	w.do(err)
	_, err = w.fs[R].Symlink(bg, "link2", "d/b.txt", core.MustNotExist)
	w.do(err)
}

// wantPaths are the paths both trees hold in the end.
var wantPaths = []string{"a.txt", "d", "d/b.txt", "d/e", "d/e/c.txt", "link", "link2", "mv2", "mv2/m.txt",
	"n", "n/f.txt", "new.txt", "r", "r/r.txt"}

// converged checks that both trees are the expected one and the
// snapshots agree with them, and that one more sync plans nothing.
func (w *faultWorld) converged(want map[string]string) {
	w.t.Helper()
	l, r := describe(w.t, w.fs[0]), describe(w.t, w.fs[1])
	if !maps.Equal(l, want) || !maps.Equal(r, want) {
		w.t.Errorf("trees differ from the expected one:\nlocal  %v\nremote %v\nwant   %v", l, r, want)
	}
	for s := range 2 {
		recs := map[string]core.Record{}
		for _, rec := range w.stores[s].Records() {
			recs[rec.Path] = rec
		}
		err := w.fs[s].Scan(bg, core.ScanOptions{}, func(e core.Entry) error {
			rec, ok := recs[e.Path]
			delete(recs, e.Path)
			switch {
			case !ok:
				w.t.Errorf("%s snapshot: no record of %s", core.Side(s), e.Path)
			case rec.Status != core.StatusSynced:
				w.t.Errorf("%s snapshot: %s is %s (%s)", core.Side(s), e.Path, rec.Status, rec.Note)
			case e.Type == core.TypeDir && (rec.Type != e.Type || rec.Mode != e.Mode):
				// A directory's change token moves with its contents.
				w.t.Errorf("%s snapshot: %s recorded as %+v, is %+v", core.Side(s), e.Path, rec.Entry, e)
			case e.Type != core.TypeDir && !core.SameMeta(&rec.Entry, &e, false):
				w.t.Errorf("%s snapshot: %s recorded as %+v, is %+v", core.Side(s), e.Path, rec.Entry, e)
			}
			return nil
		})
		w.do(err)
		for p := range recs {
			w.t.Errorf("%s snapshot: record of %s, which is not in the tree", core.Side(s), p)
		}
	}
	plan := w.mustSync()
	for _, a := range plan.Actions {
		w.t.Errorf("one more sync plans %s %s %s %s", a.Op, a.Side, a.Path, a.To)
	}
}

// faultCase is one fault to inject in the sync after setup.
type faultCase struct {
	side core.Side
	rule faults.Rule
	// clean: the fault must not keep the run itself from converging.
	clean bool
}

func (c faultCase) String() string {
	r := c.rule
	s := fmt.Sprintf("%s/%s#%d", c.side, r.Method, r.N)
	switch {
	case r.Drop:
		s += "/drop"
	case r.Short:
		s += "/short"
	case r.Delay > 0:
		s += "/delay"
	case r.Err != nil:
		s += "/" + strings.ReplaceAll(r.Err.Error(), " ", "-")
	}
	return s
}

// runFaultCase sets a world up, runs the sync with the fault, then
// without, and checks convergence.
func runFaultCase(t *testing.T, dir core.Direction, parallel bool, want map[string]string, c faultCase) {
	w := newFaultWorld(t, dir)
	w.parallel = parallel
	w.setup()
	var bs [2]core.Backend
	bs[c.side], _ = faults.Wrap(w.fs[c.side], c.rule)
	plan, stats, err := w.sync(bs)
	logPlan(t, "faulted run", plan, err, w.errs)
	for s := range 2 {
		for _, r := range w.stores[s].Records() {
			t.Logf("  %s record %s %s %s %s", core.Side(s), r.Path, r.Type, r.Status, r.Note)
		}
	}
	if c.clean {
		if err != nil || stats.Errors.Load() > 0 {
			t.Errorf("a harmless fault failed the run: %v, %v", err, w.errs)
		}
		if l := describe(t, w.fs[0]); !maps.Equal(l, want) {
			t.Errorf("a harmless fault left local %v, want %v", l, want)
		}
	}
	plan = w.mustSync()
	logPlan(t, "rerun", plan, nil, nil)
	w.converged(want)
}

// logPlan logs what a run planned and what failed, for failures.
func logPlan(t *testing.T, what string, plan *core.Plan, err error, errs []string) {
	t.Logf("%s: err %v", what, err)
	if plan != nil {
		for _, a := range plan.Actions {
			t.Logf("  %s %s %s %s (%s)", a.Op, a.Side, a.Path, a.To, a.Reason)
		}
		for _, u := range plan.Records {
			t.Logf("  record update %s %+v %+v", u.Path, u.Ops[0], u.Ops[1])
		}
	}
	for _, e := range errs {
		t.Logf("  %s", e)
	}
}

// kinds are the errors injected, in turn.
var kinds = []error{faults.ErrInjected, fs.ErrNotExist, core.ErrPrecondition, fs.ErrPermission}

func testFaultsEverywhere(t *testing.T, dir core.Direction, parallel bool) {
	// A clean run: what to expect, and how many calls of each method
	// the faulted sync makes on each side.
	w := newFaultWorld(t, dir)
	w.parallel = parallel
	w.setup()
	var bs [2]core.Backend
	var ins [2]*faults.Injector
	for s := range 2 {
		bs[s], ins[s] = faults.Wrap(w.fs[s])
	}
	if _, stats, err := w.sync(bs); err != nil || stats.Errors.Load() > 0 {
		t.Fatalf("clean run: %v, %v", err, w.errs)
	}
	want := describe(t, w.fs[0])
	if got := slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantPaths) {
		t.Fatalf("a clean run gives %v, want %v", got, wantPaths)
	}
	if dir == core.Bidi {
		if r := describe(t, w.fs[1]); !maps.Equal(r, want) {
			t.Fatalf("a clean run leaves different trees:\n%v\n%v", want, r)
		}
	}
	var cases []faultCase
	total := 0
	for s := range 2 {
		counts := ins[s].Counts()
		t.Logf("%s calls: %v", core.Side(s), counts)
		for _, m := range faults.Methods {
			for n := 1; n <= counts[m]; n++ {
				total++
				side := core.Side(s)
				kind := kinds[total%len(kinds)]
				if (m == faults.Remove || m == faults.Stat) && kind == fs.ErrNotExist {
					// From these it is a statement of fact (the entry is
					// gone, the goal of a removal holds), not a failure:
					// a backend saying so of an entry that is there lies.
					kind = faults.ErrInjected
				}
				cases = append(cases,
					faultCase{side: side, rule: faults.Rule{Method: m, N: n, Err: kind}},
					faultCase{side: side, rule: faults.Rule{Method: m, N: n, Drop: true}},
					faultCase{side: side, rule: faults.Rule{Method: m, N: n, Delay: time.Microsecond}, clean: true})
				switch m {
				case faults.Open:
					cases = append(cases, faultCase{side: side, rule: faults.Rule{Method: m, N: n, Short: true}})
				case faults.Read:
					cases = append(cases, faultCase{side: side, rule: faults.Rule{Method: m, N: n, Short: true}, clean: true})
				}
			}
		}
	}
	if total < 20 {
		t.Fatalf("only %d calls counted: the wrapper does not see the run", total)
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) { runFaultCase(t, dir, parallel, want, c) })
	}
}

// TestFaultsPushConverges fails (or drops the connection at, or delays,
// or shortens) every backend call of a small push, one per run, and
// checks that a rerun converges with the snapshots in agreement.
func TestFaultsPushConverges(t *testing.T) { testFaultsEverywhere(t, core.Push, false) }

// TestFaultsBidiConverges is TestFaultsPushConverges for a bidi sync with
// changes on both sides.
func TestFaultsBidiConverges(t *testing.T) { testFaultsEverywhere(t, core.Bidi, false) }

// TestFaultsParallelConverges is both with the default number of transfer
// workers: which call the Nth is varies from run to run, convergence
// must not.
func TestFaultsParallelConverges(t *testing.T) {
	for _, dir := range []core.Direction{core.Push, core.Bidi} {
		t.Run(dir.String(), func(t *testing.T) { testFaultsEverywhere(t, dir, true) })
	}
}

// TestFailedDirRenameKeepsRecords: a push that moves a directory, whose
// move fails, leaves the records of the directory as they were, so that
// the rerun moves or recreates it and deletes the old one. (The failed
// move used to record the old path as having no entry: the rerun left
// the old directory behind on the destination, unrecorded, forever; in
// bidi it would come back to the side that moved it.)
func TestFailedDirRenameKeepsRecords(t *testing.T) {
	for _, dir := range []core.Direction{core.Push, core.Bidi} {
		t.Run(dir.String(), func(t *testing.T) {
			w := newFaultWorld(t, dir)
			w.setup()
			b, _ := faults.Wrap(w.fs[core.Remote], faults.Rule{Method: faults.Rename, Path: "mv", Err: fs.ErrPermission})
			if dir == core.Bidi { // the bidi scenario moves mv on the remote side
				b, _ = faults.Wrap(w.fs[core.Local], faults.Rule{Method: faults.Rename, Path: "mv", Err: fs.ErrPermission})
			}
			var bs [2]core.Backend
			bs[core.Remote] = b
			if dir == core.Bidi {
				bs = [2]core.Backend{b, nil}
			}
			if _, stats, err := w.sync(bs); err != nil || stats.Errors.Load() != 1 {
				t.Fatalf("faulted run: %v, %d errors (%v), want the failed move", err, stats.Errors.Load(), w.errs)
			}
			for s := range 2 {
				for _, r := range w.stores[s].Records() {
					if r.Path == "mv" && (r.Type != core.TypeDir || r.Status != core.StatusError) {
						t.Errorf("%s record of the directory that failed to move: %s %s", core.Side(s), r.Type, r.Status)
					}
				}
			}
			w.mustSync()
			want := describe(t, w.fs[core.Local])
			if dir == core.Push {
				if _, ok := want["mv"]; ok {
					t.Fatalf("the source has mv")
				}
			}
			w.converged(want)
			if _, ok := want["mv"]; ok {
				t.Errorf("the moved directory came back: %v", want)
			}
		})
	}
}

// TestUnreadableDestinationErrorCleared: in a push whose destination is
// looked at lazily, a directory that cannot be read is recorded as an
// error on both sides; the rerun that reads it again clears both records,
// also when the source side's record of it is refreshed in the same run.
func TestUnreadableDestinationErrorCleared(t *testing.T) {
	w := newFaultWorld(t, core.Push)
	w.setup()
	b, _ := faults.Wrap(w.fs[core.Remote], faults.Rule{Method: faults.Stat, Path: "d/e", Err: fs.ErrPermission})
	if _, stats, err := w.sync([2]core.Backend{nil, b}); err != nil || stats.Errors.Load() != 1 {
		t.Fatalf("faulted run: %v, %d errors (%v), want d/e unreadable", err, stats.Errors.Load(), w.errs)
	}
	for s := range 2 {
		if st := statusOf(w.stores[s], "d/e"); st != core.StatusError.String() {
			t.Fatalf("%s record of d/e after the faulted run: %s, want an error", core.Side(s), st)
		}
	}
	w.mustSync()
	for s := range 2 {
		if st := statusOf(w.stores[s], "d/e"); st != core.StatusSynced.String() {
			t.Errorf("%s record of d/e after the rerun: %s, want synced", core.Side(s), st)
		}
	}
	w.converged(describe(t, w.fs[core.Local]))
}

// statusOf returns the status of p's record, "none" when it has none.
func statusOf(s *memfs.Store, p string) string {
	for _, r := range s.Records() {
		if r.Path == p {
			return r.Status.String()
		}
	}
	return "none"
}
