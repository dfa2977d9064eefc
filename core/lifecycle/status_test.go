package lifecycle

import (
	"bytes"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/snapshot"
)

func TestTickEvery(t *testing.T) {
	t.Parallel()
	var ticks, lasts atomic.Int64
	stop := tickEvery(time.Millisecond, func() { ticks.Add(1) }, func() { lasts.Add(1) })
	deadline := time.Now().Add(10 * time.Second)
	for ticks.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d ticks in 10 s", ticks.Load())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	if n := lasts.Load(); n != 1 {
		t.Fatalf("last ran %d times by the time stop returned, want 1", n)
	}
	n := ticks.Load()
	time.Sleep(20 * time.Millisecond)
	if ticks.Load() != n || lasts.Load() != 1 {
		t.Errorf("ticks after stop: %d then %d, last %d times", n, ticks.Load(), lasts.Load())
	}
}

func TestKeepProgressLogsAtStartAndStop(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	st := &core.Stats{}
	stop := KeepProgress(log, st)
	st.Files.Add(3)
	stop()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "msg=PROG") || !strings.Contains(lines[0], " xfr=0 ") ||
		!strings.Contains(lines[len(lines)-1], " xfr=3 ") {
		t.Errorf("PROG records: want one at the start (xfr=0) and one at the end (xfr=3), got:\n%s", buf.String())
	}
}

func TestKeepStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := &core.Stats{}
	st.Files.Add(2)
	st.Unchanged.Add(5)
	st.PlannedFiles.Add(3)
	st.Conflicts.Add(1)
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf bytes.Buffer
	stop, refresh := KeepStatus(StatusOptions{Dir: dir, Stats: func() *core.Stats { return st },
		LastSync: func() time.Time { return last }, Log: slog.New(slog.NewTextHandler(&buf, nil)), Progress: true})
	s, err := snapshot.ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"Synchronized Paths": 7, "Pending Paths": 1, "Conflict Paths": 1, "Error Paths": 0}
	if s.State != "running" || s.PID != os.Getpid() || !s.LastSync.Equal(last) || !maps.Equal(s.Counters, want) {
		t.Errorf("while running: %+v", s)
	}
	st.Files.Add(1)
	last = last.Add(time.Hour)
	refresh()
	if s, err = snapshot.ReadStatus(dir); err != nil || !s.LastSync.Equal(last) || s.Counters["Pending Paths"] != 0 {
		t.Errorf("refreshed: %+v, %v", s, err)
	}
	stop()
	if s, err = snapshot.ReadStatus(dir); err != nil || s.State != "stopped" || !s.LastSync.Equal(s.Updated) {
		t.Errorf("stopped: %+v, %v", s, err)
	}
	if n := strings.Count(buf.String(), "msg=PROG"); n < 3 {
		t.Errorf("%d PROG records for 3 writes:\n%s", n, buf.String())
	}
}
