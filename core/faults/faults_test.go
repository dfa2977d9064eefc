package faults_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/core/faults"
	"github.com/async-sync/async/core/memfs"
)

var ctx = context.Background()

// Without rules the wrapper is the backend it wraps.
func TestConformanceThroughWrapper(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b, _ := faults.Wrap(memfs.New(memfs.Options{}))
		return b
	})
}

// onlyBackend hides every optional interface of its backend.
type onlyBackend struct{ core.Backend }

// networked adds one optional interface.
type networked struct{ core.Backend }

func (networked) InFlight() int { return 7 }

func TestOptionalInterfacesPassedThrough(t *testing.T) {
	mem := memfs.New(memfs.Options{})
	b, _ := faults.Wrap(mem)
	if _, ok := b.(core.Linker); !ok {
		t.Error("memfs wrapped lost Linker")
	}
	if _, ok := b.(core.Hasher); !ok {
		t.Error("memfs wrapped lost Hasher")
	}
	if _, ok := b.(core.HardLinker); !ok {
		t.Error("memfs wrapped lost HardLinker")
	}
	if _, ok := b.(core.Xattrer); ok {
		t.Error("memfs wrapped gained Xattrer")
	}
	if _, ok := b.(core.Networked); ok {
		t.Error("memfs wrapped gained Networked")
	}
	b, _ = faults.Wrap(onlyBackend{mem})
	for name, ok := range map[string]bool{
		"Linker": is[core.Linker](b), "Hasher": is[core.Hasher](b), "HardLinker": is[core.HardLinker](b),
		"Xattrer": is[core.Xattrer](b), "Copier": is[core.Copier](b), "Watcher": is[core.Watcher](b), "Networked": is[core.Networked](b),
	} {
		if ok {
			t.Errorf("a plain backend wrapped gained %s", name)
		}
	}
	b, _ = faults.Wrap(networked{onlyBackend{mem}})
	if n, ok := b.(core.Networked); !ok || n.InFlight() != 7 {
		t.Errorf("Networked not passed through: %v", ok)
	}
	if is[core.Linker](b) {
		t.Error("gained Linker")
	}
}

func is[T any](b core.Backend) bool { _, ok := b.(T); return ok }

func put(t *testing.T, b core.Backend, p, content string) error {
	t.Helper()
	w, err := b.Create(ctx, p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write([]byte(content)); err != nil {
		return err
	}
	_, err = w.Commit(ctx)
	return err
}

func TestFailNthCall(t *testing.T) {
	mine := errors.New("disk on fire")
	b, in := faults.Wrap(memfs.New(memfs.Options{}),
		faults.Rule{Method: faults.Mkdir, N: 2, Err: mine},
		faults.Rule{Method: faults.Commit, N: 1, Err: core.ErrPrecondition})
	if _, err := b.Mkdir(ctx, "a", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Mkdir(ctx, "b", 0o755); !errors.Is(err, mine) || !errors.Is(err, faults.ErrInjected) {
		t.Errorf("second mkdir: %v, want the injected error", err)
	}
	if _, err := b.Stat(ctx, "b"); err == nil {
		t.Error("a failed mkdir made the directory")
	}
	if _, err := b.Mkdir(ctx, "c", 0o755); err != nil {
		t.Errorf("third mkdir: %v", err)
	}
	if err := put(t, b, "a/f", "x"); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("first commit: %v, want ErrPrecondition", err)
	}
	if err := put(t, b, "a/f", "x"); err != nil {
		t.Errorf("second commit: %v", err)
	}
	if got := in.Calls(faults.Mkdir); got != 3 {
		t.Errorf("Mkdir calls = %d, want 3", got)
	}
	if got := in.Counts(); got[faults.Create] != 2 || got[faults.Write] != 2 || got[faults.Commit] != 2 {
		t.Errorf("counts = %v", got)
	}
	in.Set()
	if _, err := b.Mkdir(ctx, "d", 0o755); err != nil || in.Calls(faults.Mkdir) != 1 {
		t.Errorf("after Set: %v, %d calls", err, in.Calls(faults.Mkdir))
	}
}

func TestDrop(t *testing.T) {
	b, in := faults.Wrap(memfs.New(memfs.Options{}), faults.Rule{Method: faults.Stat, N: 2, Drop: true})
	if _, err := b.Stat(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, ""); !errors.Is(err, faults.ErrDropped) {
		t.Errorf("dropping call: %v", err)
	}
	if _, err := b.Mkdir(ctx, "x", 0o755); !errors.Is(err, faults.ErrDropped) {
		t.Errorf("call after the drop: %v", err)
	}
	if err := b.Scan(ctx, core.ScanOptions{}, func(core.Entry) error { return nil }); !errors.Is(err, faults.ErrDropped) {
		t.Errorf("scan after the drop: %v", err)
	}
	if !in.Dropped() {
		t.Error("Dropped() = false")
	}
}

func TestShortReads(t *testing.T) {
	mem := memfs.New(memfs.Options{})
	b, _ := faults.Wrap(mem, faults.Rule{Method: faults.Open, N: 1, Short: true}, faults.Rule{Method: faults.Read, Short: true})
	if err := put(t, b, "f", "0123456789"); err != nil {
		t.Fatal(err)
	}
	read := func() (string, int) {
		rc, _, err := b.Open(ctx, "f", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		buf := make([]byte, 8)
		var out []byte
		reads := 0
		for range 100 {
			n, err := rc.Read(buf)
			out = append(out, buf[:n]...)
			reads++
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		return string(out), reads
	}
	if got, _ := read(); got != "01234" {
		t.Errorf("short open read %q, want the first half", got)
	}
	if got, reads := read(); got != "0123456789" || reads < 4 {
		t.Errorf("short reads gave %q in %d reads", got, reads)
	}
}

func TestDelay(t *testing.T) {
	b, _ := faults.Wrap(memfs.New(memfs.Options{}), faults.Rule{Method: faults.Stat, N: 1, Delay: 50 * time.Millisecond})
	start := time.Now()
	if _, err := b.Stat(ctx, ""); err != nil {
		t.Fatalf("a delayed call failed: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("delay of %v, want 50ms", d)
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	b, _ = faults.Wrap(memfs.New(memfs.Options{}), faults.Rule{Method: faults.Stat, Delay: time.Hour})
	if _, err := b.Stat(c, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("a delay under a cancelled context: %v", err)
	}
}

func TestRuleOnPath(t *testing.T) {
	b, in := faults.Wrap(memfs.New(memfs.Options{}), faults.Rule{Method: faults.Mkdir, Path: "b", N: 2})
	for _, p := range []string{"a", "b", "a", "c"} {
		if _, err := b.Mkdir(ctx, p, 0o755); err != nil {
			t.Fatalf("mkdir %s: %v", p, err)
		}
	}
	if _, err := b.Mkdir(ctx, "b", 0o755); !errors.Is(err, faults.ErrInjected) {
		t.Errorf("second mkdir of b: %v, want the injected error", err)
	}
	if got := in.Calls(faults.Mkdir); got != 5 {
		t.Errorf("calls = %d, want 5", got)
	}
}

// everything is memfs with every optional interface it lacks, stubbed.
type everything struct{ *memfs.FS }

func (everything) Xattrs(context.Context, string) (map[string][]byte, error)  { return nil, nil }
func (everything) SetXattrs(context.Context, string, map[string][]byte) error { return nil }
func (everything) Copy(context.Context, string, string, core.Precondition) (core.Entry, error) {
	return core.Entry{}, nil
}
func (everything) Watch(context.Context, func([]string)) error { return nil }
func (everything) InFlight() int                               { return 3 }

// TestEverySetPassedThrough: whatever set of optional interfaces the
// inner backend has, the wrapper has exactly that set.
func TestEverySetPassedThrough(t *testing.T) {
	all := everything{memfs.New(memfs.Options{})}
	if f := core.FeaturesOf(all); f != core.AllFeatures {
		t.Fatalf("the stub has %v", f)
	}
	for f := core.Features(0); f <= core.AllFeatures; f++ {
		b, _ := faults.Wrap(core.Mask(all, f))
		if got := core.FeaturesOf(b); got != f {
			t.Errorf("inner with %v wrapped has %v", f, got)
		}
	}
}
