package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/core"
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
	stop := keepProgress(log, st)
	st.Files.Add(3)
	stop()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "msg=PROG") || !strings.Contains(lines[0], " xfr=0 ") ||
		!strings.Contains(lines[len(lines)-1], " xfr=3 ") {
		t.Errorf("PROG records: want one at the start (xfr=0) and one at the end (xfr=3), got:\n%s", buf.String())
	}
}
