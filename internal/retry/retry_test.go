package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/core/faults"
	"github.com/async-sync/async/core/memfs"
	"github.com/async-sync/async/internal/retry"
)

var ctx = context.Background()

// fast retries at once, so that tests do not wait.
var fast = retry.Policy{Base: time.Microsecond, Max: time.Microsecond}

func TestConformanceThroughRetry(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		return retry.Wrap(memfs.New(memfs.Options{}), fast)
	})
}

// onlyBackend hides every optional interface of its backend.
type onlyBackend struct{ core.Backend }

// networked adds one optional interface.
type networked struct{ core.Backend }

func (networked) InFlight() int { return 7 }

// TestPassThrough: the wrapper has exactly the optional interfaces of
// what it wraps, however many it has.
func TestPassThrough(t *testing.T) {
	loc, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer loc.Close()
	for name, inner := range map[string]core.Backend{
		"memfs":     memfs.New(memfs.Options{}),
		"local":     loc,
		"plain":     onlyBackend{memfs.New(memfs.Options{})},
		"networked": networked{onlyBackend{memfs.New(memfs.Options{})}},
	} {
		t.Run(name, func(t *testing.T) {
			outer := retry.Wrap(inner, fast)
			backendtest.PassThrough(t, inner, outer, nil)
			_, in := inner.(core.Networked)
			n, out := outer.(core.Networked)
			if in != out || out && n.InFlight() != 7 {
				t.Errorf("Networked: inner %v, wrapper %v", in, out)
			}
		})
	}
	if b := memfs.New(memfs.Options{}); retry.Wrap(b, retry.Policy{Attempts: 1}) != core.Backend(b) {
		t.Error("one attempt: the backend is not returned as is")
	}
}

// windowed is a networked backend with a small files' class.
type windowed struct{ networked }

func (windowed) SmallFiles() core.ThreadClass { return core.ThreadClass{N: 512, MaxSize: 64 << 10} }

// TestSmallFilesPassThrough: the engine finds the wrapped backend's
// small files' class through the wrapper and the masks on either side
// of it, as the SSH client's is found.
func TestSmallFilesPassThrough(t *testing.T) {
	want := core.ThreadClass{N: 512, MaxSize: 64 << 10}
	inner := core.Mask(windowed{networked{memfs.New(memfs.Options{})}}, core.FeatureNetworked) // memfs's interfaces masked away
	sf, ok := core.Unmask(retry.Wrap(inner, fast)).(core.SmallFiles)
	if !ok || sf.SmallFiles() != want {
		t.Fatalf("small files' class through the wrapper: %v %+v, want %+v", ok, sf, want)
	}
	plain, ok := core.Unmask(retry.Wrap(memfs.New(memfs.Options{}), fast)).(core.SmallFiles)
	if ok && plain.SmallFiles() != (core.ThreadClass{}) {
		t.Errorf("a backend without one got %+v", plain.SmallFiles())
	}
}

// world is two in-memory sides, the remote one reached through faults and
// the retry wrapper, and a debug log.
type world struct {
	t      *testing.T
	fs     [2]*memfs.FS
	stores [2]*memfs.Store
	inj    *faults.Injector
	remote core.Backend
	log    bytes.Buffer
	mu     sync.Mutex
	lines  []string // per-entry reports of the last run
}

func newWorld(t *testing.T, p retry.Policy, rules ...faults.Rule) *world {
	w := &world{t: t}
	for s := range 2 {
		w.fs[s] = memfs.New(memfs.Options{})
		w.stores[s] = memfs.NewStore()
	}
	var fb core.Backend
	fb, w.inj = faults.Wrap(w.fs[core.Remote], rules...)
	p.Log = slog.New(slog.NewTextHandler(&w.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.remote = retry.Wrap(fb, p)
	return w
}

func (w *world) put(p, content string) {
	w.t.Helper()
	wr, err := w.fs[core.Local].Create(ctx, p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		w.t.Fatal(err)
	}
	wr.Write([]byte(content))
	if _, err := wr.Commit(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// push runs one push, one action at a time.
func (w *world) push() *core.Stats { return w.pushWith(nil) }

// pushWith runs one push with the engine's RetryAction.
func (w *world) pushWith(retryAction func(error, int) (time.Duration, bool)) *core.Stats {
	w.t.Helper()
	eps := [2]*core.Endpoint{
		{Backend: w.fs[core.Local], Store: w.stores[core.Local], URL: "mem://local"},
		{Backend: w.remote, Store: w.stores[core.Remote], URL: "mem://remote"},
	}
	pol := core.Policy{Direction: core.Push, PreserveTime: true}
	if err := pol.Resolve(); err != nil {
		w.t.Fatal(err)
	}
	st := &core.Stats{}
	w.lines = nil
	_, err := core.Sync(ctx, eps[0], eps[1], core.Options{Session: "retry", Policy: pol, Stats: st, ForceDeletes: true,
		TransferThreads: []core.ThreadClass{{N: 1}}, RetryAction: retryAction,
		Log: slog.New(slog.NewTextHandler(&w.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Report: func(p, status string) {
			w.mu.Lock()
			w.lines = append(w.lines, p+"  "+status)
			w.mu.Unlock()
		}})
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	slices.Sort(w.lines)
	return st
}

func (w *world) remoteHas(p, content string) bool {
	rc, _, err := w.fs[core.Remote].Open(ctx, p, 0)
	if err != nil {
		return false
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b) == content
}

// transient is how a backend reports a failure that may pass.
var transient = fmt.Errorf("503 slow down: %w", core.ErrTransient)

// TestTransientFailureRetried: a transient failure of a call is made good
// by a second attempt, logged at debug level; the run succeeds.
func TestTransientFailureRetried(t *testing.T) {
	for _, m := range []faults.Method{faults.Create, faults.Stat, faults.Mkdir, faults.Remove} {
		t.Run(string(m), func(t *testing.T) {
			w := newWorld(t, fast)
			w.put("a", "alpha")
			w.fs[core.Local].Mkdir(ctx, "d", 0o755)
			w.put("d/b", "beta")
			w.put("gone", "delta")
			w.push()
			if err := w.fs[core.Local].Remove(ctx, "gone", core.Precondition{Any: true}); err != nil {
				t.Fatal(err)
			}
			w.put("a", "alpha, changed")
			w.fs[core.Local].Mkdir(ctx, "e", 0o755)
			w.put("e/c", "gamma")
			w.inj.Set(faults.Rule{Method: m, N: 1, Err: transient})
			st := w.push()
			if st.Errors.Load() != 0 || !w.remoteHas("a", "alpha, changed") || !w.remoteHas("d/b", "beta") || !w.remoteHas("e/c", "gamma") || w.remoteHas("gone", "delta") {
				t.Fatalf("errors %d, reports %q", st.Errors.Load(), w.lines)
			}
			if w.inj.Calls(m) < 2 {
				t.Fatalf("%d %s calls: the fault was not hit", w.inj.Calls(m), m)
			}
			if !strings.Contains(w.log.String(), "retry: transient failure, trying again") || !strings.Contains(w.log.String(), "op="+string(m)) {
				t.Errorf("no retry of %s logged:\n%s", m, w.log.String())
			}
		})
	}
}

// TestTransientFailureFresh: the first copy of a file fails once at its
// Create; the retry makes it, and only one more call was made.
func TestTransientFailureFresh(t *testing.T) {
	w := newWorld(t, fast, faults.Rule{Method: faults.Create, N: 1, Err: transient})
	w.put("a", "alpha")
	w.put("b", "beta")
	st := w.push()
	if st.Errors.Load() != 0 || !w.remoteHas("a", "alpha") || !w.remoteHas("b", "beta") {
		t.Fatalf("errors %d, reports %q", st.Errors.Load(), w.lines)
	}
	if n := w.inj.Calls(faults.Create); n != 3 {
		t.Errorf("%d Create calls, want 3 (two files, one retry)", n)
	}
	if want := []string{"/a  SYNCHRONIZED", "/b  SYNCHRONIZED"}; !slices.Equal(w.lines, want) {
		t.Errorf("reports %q, want %q", w.lines, want)
	}
	if n := strings.Count(w.log.String(), "retry: transient failure"); n != 1 {
		t.Errorf("%d retries logged, want 1:\n%s", n, w.log.String())
	}
}

// TestPermanentFailureNotRetried: an error of any other kind is returned
// at once, and reported as without the wrapper.
func TestPermanentFailureNotRetried(t *testing.T) {
	for _, err := range []error{fs.ErrPermission, faults.ErrInjected, fmt.Errorf("disk: %w", core.ErrNoSpace), context.DeadlineExceeded} {
		t.Run(err.Error(), func(t *testing.T) {
			w := newWorld(t, fast, faults.Rule{Method: faults.Create, N: 1, Err: err})
			w.put("a", "alpha")
			st := w.push()
			if st.Errors.Load() != 1 || len(w.lines) != 1 || !strings.HasPrefix(w.lines[0], "/a  ERROR: Create call 1: injected fault") {
				t.Errorf("errors %d, reports %q", st.Errors.Load(), w.lines)
			}
			if n := w.inj.Calls(faults.Create); n != 1 {
				t.Errorf("%d Create calls, want 1", n)
			}
			if strings.Contains(w.log.String(), "retry:") {
				t.Errorf("retried:\n%s", w.log.String())
			}
		})
	}
}

// TestPreconditionFailureNotRetried: a failed precondition is never made
// again, even wrapped with a transient error, and is reported as without
// the wrapper.
func TestPreconditionFailureNotRetried(t *testing.T) {
	var reports [2][]string
	for i, wrapped := range []bool{false, true} {
		p := fast
		if !wrapped {
			p.Attempts = 1
		}
		w := newWorld(t, p)
		w.put("a", "alpha")
		w.push()
		w.put("a", "alpha, changed")
		w.inj.Set(faults.Rule{Method: faults.Create, N: 1, Err: errors.Join(core.ErrPrecondition, core.ErrTransient)})
		st := w.push()
		if n := w.inj.Calls(faults.Create); st.Errors.Load() != 1 || n != 1 {
			t.Errorf("wrapped %v: %d errors, %d Create calls; want 1, 1", wrapped, st.Errors.Load(), n)
		}
		reports[i] = w.lines
	}
	if !slices.Equal(reports[0], reports[1]) || len(reports[1]) != 1 || !strings.Contains(reports[1][0], "ERROR: ") {
		t.Errorf("reports without the wrapper %q, with it %q", reports[0], reports[1])
	}
}

// lostAnswer renames, then says the call failed transiently, once: the
// answer was lost on the way back.
type lostAnswer struct {
	*memfs.FS
	lost bool
}

func (l *lostAnswer) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	e, err := l.FS.Rename(ctx, from, to, pre)
	if err == nil && !l.lost {
		l.lost = true
		return core.Entry{}, transient
	}
	return e, err
}

// TestLostAnswerIsSafe: a call that did its work but whose answer was lost
// is made again; its precondition no longer holds, so it changes nothing
// and fails without being retried further.
func TestLostAnswerIsSafe(t *testing.T) {
	mem := memfs.New(memfs.Options{})
	w, err := mem.Create(ctx, "a", core.CreateOptions{Size: 1, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := retry.Wrap(&lostAnswer{FS: mem}, fast)
	_, err = b.Rename(ctx, "a", "b", core.Expect(&e))
	if err == nil || errors.Is(err, core.ErrTransient) {
		t.Fatalf("rename = %v, want the second attempt's failure", err)
	}
	if _, err := mem.Stat(ctx, "b"); err != nil {
		t.Errorf("the first attempt's rename is gone: %v", err)
	}
}

// TestAttemptsBounded: a call that keeps failing transiently is made
// Attempts times, and its last error is returned as is.
func TestAttemptsBounded(t *testing.T) {
	for _, attempts := range []int{0, 2, 5} {
		mem := memfs.New(memfs.Options{})
		fb, inj := faults.Wrap(mem, faults.Rule{Method: faults.Stat, Err: transient})
		_, err := retry.Wrap(fb, retry.Policy{Attempts: attempts, Base: time.Microsecond}).Stat(ctx, "")
		want := max(attempts, retry.DefaultAttempts*boolInt(attempts == 0))
		if n := inj.Calls(faults.Stat); n != want || !errors.Is(err, core.ErrTransient) || err.Error() != fmt.Sprintf("Stat call %d: injected fault: %v", want, transient) {
			t.Errorf("attempts %d: %d calls, err %v", attempts, n, err)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestContextCutsWait: a canceled context ends the wait before the next
// attempt at once.
func TestContextCutsWait(t *testing.T) {
	fb, inj := faults.Wrap(memfs.New(memfs.Options{}), faults.Rule{Method: faults.Stat, Err: transient})
	b := retry.Wrap(fb, retry.Policy{Attempts: 5, Base: time.Hour})
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Stat(c, "")
	if took := time.Since(start); took > 10*time.Second || !errors.Is(err, core.ErrTransient) || inj.Calls(faults.Stat) != 1 {
		t.Errorf("took %v, %d calls, err %v", took, inj.Calls(faults.Stat), err)
	}
}

// scanFails delivers the entries it is given, then fails transiently.
type scanFails struct {
	core.Backend
	deliver int
	calls   int
}

func (s *scanFails) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	s.calls++
	for i := range s.deliver {
		if err := fn(core.Entry{Path: fmt.Sprint(i), Type: core.TypeFile}); err != nil {
			return err
		}
	}
	return transient
}

// TestScanNotReplayed: a scan is retried only when it failed before it
// delivered anything.
func TestScanNotReplayed(t *testing.T) {
	for deliver, want := range map[int]int{0: 3, 2: 1} {
		s := &scanFails{Backend: memfs.New(memfs.Options{}), deliver: deliver}
		n := 0
		err := retry.Wrap(s, fast).Scan(ctx, core.ScanOptions{}, func(core.Entry) error { n++; return nil })
		if s.calls != want || n != deliver || !errors.Is(err, core.ErrTransient) {
			t.Errorf("delivering %d: %d scans, %d entries, err %v; want %d scans", deliver, s.calls, n, err, want)
		}
	}
}

// TestActionRetried: a failure the wrapper cannot see, because the
// backend reports it late (from a writer's Write), is retried by the
// engine carrying out the whole action again; without RetryAction it is
// an ERROR.
func TestActionRetried(t *testing.T) {
	for _, on := range []bool{false, true} {
		w := newWorld(t, fast, faults.Rule{Method: faults.Write, N: 1, Err: transient})
		w.put("a", "alpha")
		var ra func(error, int) (time.Duration, bool)
		if on {
			ra = fast.RetryAction()
		}
		st := w.pushWith(ra)
		logged := strings.Contains(w.log.String(), "action failed, trying it again")
		switch {
		case on && (st.Errors.Load() != 0 || !w.remoteHas("a", "alpha") || !logged || st.Files.Load() != 1 || st.Bytes.Load() != 5):
			t.Errorf("with RetryAction: errors %d, files %d, bytes %d, logged %v, reports %q", st.Errors.Load(), st.Files.Load(), st.Bytes.Load(), logged, w.lines)
		case !on && (st.Errors.Load() != 1 || logged):
			t.Errorf("without RetryAction: errors %d, logged %v, reports %q", st.Errors.Load(), logged, w.lines)
		}
	}
}

// TestActionRetryNotMultiplied: a call the wrapper already made as often
// as it may is not made again by retrying its action; nor is an action
// that failed for another reason.
func TestActionRetryNotMultiplied(t *testing.T) {
	w := newWorld(t, fast, faults.Rule{Method: faults.Create, Err: transient})
	w.put("a", "alpha")
	st := w.pushWith(fast.RetryAction())
	if n := w.inj.Calls(faults.Create); n != retry.DefaultAttempts || st.Errors.Load() != 1 {
		t.Errorf("%d Create calls, %d errors; want %d, 1", n, st.Errors.Load(), retry.DefaultAttempts)
	}
	if len(w.lines) != 1 || w.lines[0] != "/a  ERROR: "+fmt.Sprintf("Create call %d: injected fault: %v", retry.DefaultAttempts, transient) {
		t.Errorf("reports %q", w.lines)
	}
	ra := fast.RetryAction()
	for _, c := range []struct {
		err     error
		attempt int
		again   bool
	}{
		{transient, 1, true},
		{transient, 2, true},
		{transient, 3, false}, // the attempts are spent
		{fmt.Errorf("put: %w", core.ErrPrecondition), 1, false},
		{errors.Join(core.ErrPrecondition, core.ErrTransient), 1, false},
		{fs.ErrPermission, 1, false},
		{context.Canceled, 1, false},
	} {
		if _, again := ra(c.err, c.attempt); again != c.again {
			t.Errorf("RetryAction(%v, %d) = %v, want %v", c.err, c.attempt, again, c.again)
		}
	}
}
