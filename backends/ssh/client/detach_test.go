package client

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/backends/ssh/protocol"
)

// detachRecorder is an agent session's closer that records how the
// client ended it, and ends it (the agent over pipes sees the end of its
// input either way).
type detachRecorder struct {
	end              func() error
	closed, detached bool
}

func (d *detachRecorder) Close() error  { d.closed = true; return d.end() }
func (d *detachRecorder) Detach() error { d.detached = true; return d.end() }

// TestCloseDetachesOnlyAQuietAgent: Close leaves the agent to exit on its
// own only when its snapshot was closed and answered; an agent that never
// opened one, or still holds it, is waited for.
func TestCloseDetachesOnlyAQuietAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		open, shut bool // open the store; close it before the session
		wantDetach bool
	}{
		{name: "no snapshot opened", wantDetach: false},
		{name: "snapshot still open", open: true, wantDetach: false},
		{name: "snapshot closed", open: true, shut: true, wantDetach: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			root := filepath.Join(home, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			cr, aw := io.Pipe()
			ar, cw := io.Pipe()
			served := make(chan error, 1)
			go func() {
				served <- agent.Serve(context.Background(), ar, aw, agentOptions(home))
				aw.Close()
			}()
			rec := &detachRecorder{end: func() error { cw.Close(); return <-served }}
			c, err := New(context.Background(), cr, cw, rec, protocol.Hello{Root: root, Session: "t"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tt.open {
				st, err := c.OpenStore(context.Background(), "", false)
				if err != nil {
					t.Fatal(err)
				}
				if tt.shut {
					if err := st.Close(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if rec.detached != tt.wantDetach || rec.closed == tt.wantDetach {
				t.Errorf("detached %v, closed %v; want detached %v", rec.detached, rec.closed, tt.wantDetach)
			}
		})
	}
}
