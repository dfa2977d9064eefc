package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/internal/testnet"
	"github.com/async-sync/async/internal/watchd"
)

// TestWatchdQueueOverflow: the service is stopped (SIGSTOP) while more
// changes are made than the kernel queues; once it runs again the kernel
// says it dropped events, and the next sync scans in full saying so,
// converges, and --status shows the overflow. For each watcher.
func TestWatchdQueueOverflow(t *testing.T) {
	for _, w := range []struct{ watcher, queue, kernel string }{
		{watchd.WatcherInotify, "/proc/sys/fs/inotify/max_queued_events", "IN_Q_OVERFLOW"},
		{watchd.WatcherFanotify, "/proc/sys/fs/fanotify/max_queued_events", "FAN_Q_OVERFLOW"},
	} {
		t.Run(w.watcher, func(t *testing.T) {
			limit := 16384
			if b, err := os.ReadFile(w.queue); err == nil {
				fmt.Sscan(string(b), &limit)
			} else if w.watcher == watchd.WatcherFanotify {
				t.Skipf("no fanotify here: %v", err)
			}
			if limit > 100_000 {
				t.Skipf("%s is %d: too many files to make", w.queue, limit)
			}
			src, dst := memDirs(t)
			writeTree(t, src, tree{"a": "a"})
			j := newJournalEnv(t, "--tree", src, "--watcher", w.watcher)
			j.start()
			a, err := watchd.Ask(context.Background(), j.socket(), watchd.Request{Op: "status"}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Status.Trees[0].Watcher; got != w.watcher {
				t.Skipf("the tree is watched with %q, not %s", got, w.watcher)
			}
			scanRun(t, j.sync(src, dst), "no cursor yet", src, dst)
			j.settle(src)
			j.journalRun(j.sync(src, dst), src, dst, false)

			if err := j.svc.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			testnet.WaitStopped(t, j.svc.Process.Pid) // a thread still running would read the queue
			stopped := true
			defer func() {
				if stopped {
					j.svc.Process.Signal(syscall.SIGCONT)
				}
			}()
			// In a watched directory: one that appears is listed whole
			// once watched, which would stand for its events.
			for i := range limit + 200 {
				if err := os.WriteFile(filepath.Join(src, fmt.Sprint("m", i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			j.svc.Process.Signal(syscall.SIGCONT)
			stopped = false
			j.settle(src) // returns on the hole
			r := j.sync(src, dst)
			scanRun(t, r, "overflowed", src, dst)
			if !strings.Contains(fullScan(r), w.kernel) {
				t.Errorf("the reason does not name %s: %q", w.kernel, fullScan(r))
			}
			st := runStatus(t, j)
			if !strings.Contains(st, w.watcher) || strings.Contains(st, "never") {
				t.Errorf("--status shows no overflow:\n%s", st)
			}
			// Past the hole, the journal serves again.
			j.settle(src)
			j.sync(src, dst)
			writeTree(t, src, tree{"b": "b"})
			j.settle(src)
			j.journalRun(j.sync(src, dst), src, dst, false)
		})
	}
}

// runStatus is `async watchd --status` of the test's service.
func runStatus(t *testing.T, j *journalEnv) string {
	t.Helper()
	r := sshRun(t, j.state, nil, "watchd", "--status")
	mustCode(t, r, 0)
	return r.stdout
}
