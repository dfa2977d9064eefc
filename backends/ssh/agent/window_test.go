package agent

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStreamWindow: a stream sends as many frames as it has credit for,
// waits for more, and leaves the wait when its request ends; no grant
// lifts a window beyond maxCredit.
func TestStreamWindow(t *testing.T) {
	ctx := context.Background()
	w := newWindow(2)
	for range 2 {
		if err := w.take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- w.take(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("a third frame passed a window of 2: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.grant(1)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { got <- w.take(cctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("a waiter whose request ended: %v", err)
	}
	w.grant(^uint64(0))
	w.grant(^uint64(0))
	if w.avail != maxCredit {
		t.Errorf("credit %d after two huge grants, want %d", w.avail, maxCredit)
	}
}
