package client

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDataPathWindow: the small files' window admits requests while
// their bytes fit, always admits one, and a waiter leaves when its
// context or the data path ends.
func TestDataPathWindow(t *testing.T) {
	ctx := context.Background()
	life, end := context.WithCancel(ctx)
	defer end()
	w := &window{resize: func() int64 { return 10 }}
	for range 3 {
		if err := w.acquire(ctx, life, 3); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- w.acquire(ctx, life, 3) }()
	select {
	case err := <-got:
		t.Fatalf("a fourth request of 3 bytes passed a window of 10: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.release(3)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if w.peak != 9 {
		t.Errorf("peak %d, want 9", w.peak)
	}
	for range 3 {
		w.release(3)
	}
	// One request larger than the window passes alone.
	if err := w.acquire(ctx, life, 100); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { got <- w.acquire(cctx, life, 1) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	go func() { got <- w.acquire(ctx, life, 1) }()
	time.Sleep(20 * time.Millisecond)
	end()
	if err := <-got; !errors.Is(err, errDataClosed) {
		t.Errorf("waiter of a dead data path: %v", err)
	}
}

// TestDataPathReadAhead: the read-ahead a long path earns is shared by
// the files being read at once, never below dataReadAhead.
func TestDataPathReadAhead(t *testing.T) {
	cd := &clientData{}
	cd.aheadAt.Store(time.Now().Add(time.Hour).UnixNano()) // no recompute: no streams here
	for _, tc := range []struct {
		ahead, readers int32
		want           int
	}{{16, 1, 16}, {48, 0, 48}, {48, 1, 48}, {48, 2, 24}, {48, 4, 16}, {64, 2, 32}} {
		cd.ahead.Store(tc.ahead)
		cd.readers.Store(tc.readers)
		if got := cd.readAhead(); got != tc.want {
			t.Errorf("ahead %d, %d readers: %d, want %d", tc.ahead, tc.readers, got, tc.want)
		}
	}
}
