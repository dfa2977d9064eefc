package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
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

// TestStreamWithoutCreditEndsWithTheConnection: a stream that used its
// window and gets no credit (a client that stopped reading) stops at the
// window, and ends when the connection does: the agent exits.
func TestStreamWithoutCreditEndsWithTheConnection(t *testing.T) {
	w := newWorld(t)
	many := filepath.Join(w.doc, "data", "many")
	os.Mkdir(many, 0o755)
	long := strings.Repeat("n", 200)
	for i := range 8000 { // about 30 frames of entries
		if err := os.WriteFile(filepath.Join(many, fmt.Sprintf("%s%05d", long, i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := startRaw(t, w.opts) // its cleanup closes the connection and waits for the agent
	if err := r.hello(protocol.Hello{Root: "/", Session: "win"}); err != nil {
		t.Fatal(err)
	}
	var e protocol.Enc
	e.ScanOptions(core.ScanOptions{Ordered: true})
	id := r.send(protocol.OpScan, e.B)
	frames := func() int {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.got[id])
	}
	deadline := time.Now().Add(20 * time.Second)
	for frames() < protocol.StreamWindow && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // time to send more, if it would
	if got := frames(); got != protocol.StreamWindow {
		t.Fatalf("%d frames without credit, want the window's %d", got, protocol.StreamWindow)
	}
	var c protocol.Enc
	c.Uint(id)
	c.Uint(2)
	r.send(protocol.OpCredit, c.B)
	deadline = time.Now().Add(20 * time.Second)
	for frames() < protocol.StreamWindow+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := frames(); got != protocol.StreamWindow+2 {
		t.Fatalf("%d frames after a credit of 2, want %d", got, protocol.StreamWindow+2)
	}
}
