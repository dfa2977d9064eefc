package client

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
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
			cr, cw, end := pipeAgent(agentOptions(home))
			rec := &detachRecorder{end: end}
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

// TestOpenCarriesTheStoredIdentity: the first Meta after an open is the
// identity the open's answer carried (no STOREMETA asked); after SetMeta,
// Meta asks the agent again and sees the new one.
func TestOpenCarriesTheStoredIdentity(t *testing.T) {
	t.Parallel()
	c, _ := rootedPipeClient(t)
	var buf bytes.Buffer
	c.SetLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: core.LevelTrace})))
	ctx := context.Background()
	metaAsked := func() int { return strings.Count(buf.String(), "op=store-meta ") }
	want := core.Meta{Session: "s", Local: "file:///a", Remote: "ssh://h/b", Direction: "push"}
	st, err := c.OpenStore(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeta(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for round, step := range []struct {
		name  string
		asked int // STOREMETA requests after the step
	}{
		{"first Meta after the open", 0},
		{"second Meta", 1},
	} {
		if round == 0 {
			if st, err = c.OpenStore(ctx, "", false); err != nil {
				t.Fatal(err)
			}
		}
		m, found, err := st.Meta(ctx)
		if err != nil || !found || !reflect.DeepEqual(m, want) {
			t.Fatalf("%s: %+v, %v, %v; want %+v", step.name, m, found, err, want)
		}
		if got := metaAsked(); got != step.asked {
			t.Errorf("%s: %d STOREMETA asked, want %d", step.name, got, step.asked)
		}
	}
	want.Direction = "pull"
	if err := st.SetMeta(ctx, want); err != nil {
		t.Fatal(err)
	}
	if m, _, err := st.Meta(ctx); err != nil || !reflect.DeepEqual(m, want) {
		t.Fatalf("Meta after SetMeta: %+v, %v; want %+v", m, err, want)
	}
	if got := metaAsked(); got != 2 {
		t.Errorf("%d STOREMETA asked, want 2", got)
	}
	st.Close()
}
