package modeltest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/watchd"
)

var journalSequences = flag.Int("model.journal", 12, "random sequences of journal-driven syncs to run")

// jworld is a sequence whose syncs read what changed from a change
// journal service watching both trees, as `async --watchd` does.
type jworld struct {
	*world
	base, state string
	socket      string
	stop        func() // stops the service; nil while it is stopped
	journaled   int    // sides whose changes came from the journal
	watcher     string // the service's watcher: odd sequences inotify, even ones fanotify where it can be had
}

// TestModelJournal runs random operations on both sides (renames, rm -r,
// file↔dir swaps, some while the service is stopped), then a sync driven
// by the journal, then a full-scan sync that must find nothing to do: the
// journal-driven sync gave exactly the result of a full scan.
func TestModelJournal(t *testing.T) {
	total := 0
	for i := range *journalSequences {
		seed := uint64(i + 1)
		if *seedFlag != 0 {
			if i > 0 {
				break
			}
			seed = *seedFlag
		}
		n, ok := runJournalSequence(t, seed)
		if !ok {
			t.Fatalf("sequence failed; rerun with: go test ./internal/modeltest -run TestModelJournal -model.seed=%d -v", seed)
		}
		total += n
	}
	if total == 0 {
		t.Fatal("no sync used the journal: the test proves nothing")
	}
	t.Logf("%d side-syncs read the journal", total)
}

func runJournalSequence(t *testing.T, seed uint64) (int, bool) {
	base := t.TempDir()
	w := &jworld{world: &world{t: t, rng: rand.New(rand.NewPCG(seed, seed*104729)), killed: map[string]bool{}},
		base: base, state: t.TempDir(), watcher: [2]string{watchd.WatcherAuto, watchd.WatcherInotify}[seed%2]}
	w.socket = filepath.Join(w.state, watchd.SocketName)
	defer w.open(base)()
	os.Mkdir(filepath.Join(base, "marks"), 0o755)
	w.randomPolicy(false)
	w.logf("seed %d policy %+v (journal, watcher %s)", seed, w.policy, w.watcher)
	w.startService()
	defer func() {
		if w.stop != nil {
			w.stop()
		}
	}()
	ok := true
	for step := 0; step < *steps && ok; step++ {
		down := w.rng.IntN(5) == 0
		if down {
			w.stop()
			w.stop = nil
			w.logf("service stopped")
		}
		for s := range 2 {
			for range w.rng.IntN(5) {
				w.mutate(core.Side(s))
			}
		}
		if down {
			w.startService()
			w.logf("service started")
		}
		w.settle()
		ok = w.journalSyncAndCheck()
	}
	if !ok {
		t.Log(strings.Join(w.log, "\n"))
	}
	return w.journaled, ok
}

func (w *jworld) startService() {
	t := w.t
	ready := make(chan struct{})
	svc, err := watchd.New(watchd.Options{Trees: []string{w.base}, StateDir: w.state, Tick: 50 * time.Millisecond, Watcher: w.watcher,
		Ready: func() { close(ready) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("watchd: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watchd not ready")
	}
	w.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watchd: %v", err)
		}
	}
}

// settle waits (bounded) until the service journaled every change so far:
// the events of one tree come in order, so a marker written last tells.
func (w *jworld) settle() {
	t := w.t
	marks := filepath.Join(w.base, "marks")
	_, tok, why := watchd.Since(context.Background(), w.socket, marks, "", "m")
	if !strings.HasPrefix(why, "no cursor") {
		t.Fatalf("settle: %s", why)
	}
	name := fmt.Sprint("m", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(marks, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		paths, _, why := watchd.Since(context.Background(), w.socket, marks, tok, "m")
		if why != "" || slices.Contains(paths, name) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("settle: the marker was not journaled")
}

// jsync runs one bidi sync; with journal set, each side whose journal can
// stand for a scan is looked at only where it changed. The cursors are
// recorded as async does.
func (w *jworld) jsync(journal bool) (*core.Plan, *core.Stats) {
	ctx := context.Background()
	var eps [2]*core.Endpoint
	var hints [2]*core.Hint
	var tokens [2]string
	for s := range 2 {
		b, err := local.Open(w.root[s], local.Options{})
		if err != nil {
			w.t.Fatal(err)
		}
		defer b.Close()
		eps[s] = &core.Endpoint{Backend: b, Store: w.stores[s], URL: "file://" + w.root[s]}
		m, ok, err := w.stores[s].Meta(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		prior := ""
		if ok && !m.Stopped.IsZero() {
			prior = m.Journal
		}
		paths, next, why := watchd.Since(ctx, w.socket, w.root[s], prior, "fp")
		tokens[s] = next
		if journal && why == "" {
			paths = slices.DeleteFunc(paths, func(p string) bool {
				return p == core.PrivateDir || strings.HasPrefix(p, core.PrivateDir+"/")
			})
			hints[s] = &core.Hint{Paths: paths}
			w.journaled++
			w.logf("  %s journal: %v", core.Side(s), paths)
		} else if journal {
			w.logf("  %s scanned: %s", core.Side(s), why)
		}
	}
	stats := &core.Stats{}
	plan, err := core.Sync(ctx, eps[0], eps[1], core.Options{Session: "model", Policy: w.policy, Stats: stats,
		ForceDeletes: true, Hints: hints, Journal: tokens})
	if err != nil {
		w.t.Fatalf("sync: %v", err)
	}
	return plan, stats
}

func (w *jworld) journalSyncAndCheck() bool {
	before := contents(w.read(core.Local), w.read(core.Remote))
	plan, stats := w.jsync(true)
	ok := w.checkRound(before, plan, stats)
	// A full scan now must find nothing the journal-driven sync missed.
	again, _ := w.jsync(false)
	if !again.Empty() {
		for _, a := range again.Actions {
			w.t.Errorf("the full-scan sync after the journal-driven one plans %s %s %s", a.Op, a.Side, a.Path)
		}
		ok = false
	}
	w.settle()
	return ok
}
