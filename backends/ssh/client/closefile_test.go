package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/async-sync/async/backends/ssh/protocol"
)

// opCounter passes the client's frames on to the agent and counts them
// by operation.
type opCounter struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
	ops map[byte]int
}

func (o *opCounter) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.buf = append(o.buf, p...)
	for len(o.buf) >= 5 {
		n := int(binary.BigEndian.Uint32(o.buf))
		if len(o.buf) < 4+n {
			break
		}
		o.ops[o.buf[4]&0x7f]++ // the high bit: compressed
		o.buf = o.buf[4+n:]
	}
	o.mu.Unlock()
	return o.w.Write(p)
}

func (o *opCounter) count(op byte) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ops[op]
}

// TestOpenClosesWhatTheAgentHolds: a file whose first chunk, with the
// OPEN's answer, ends it is closed on the agent already, so its Close
// sends no CLOSEFILE; a file the agent keeps open for further READs gets
// one. Each reads back whole.
func TestOpenClosesWhatTheAgentHolds(t *testing.T) {
	home := t.TempDir()
	root := filepath.Join(home, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cr, cw, end := pipeAgent(agentOptions(home))
	counter := &opCounter{w: cw, ops: map[byte]int{}}
	c, err := New(context.Background(), cr, counter, end, protocol.Hello{Root: root, Session: "t"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		size  int
		close int // CLOSEFILE frames its Close sends: 1 when the agent keeps the file open
	}{
		{"empty", 0, 0},
		{"small", 4000, 0},
		{"a chunk less one byte", protocol.ChunkSize - 1, 0},
		{"exactly a chunk", protocol.ChunkSize, 0},
		{"a chunk and a byte", protocol.ChunkSize + 1, 1},
		{"three chunks", 3 * protocol.ChunkSize, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			if err := os.WriteFile(filepath.Join(root, tc.name), want, 0o644); err != nil {
				t.Fatal(err)
			}
			before := counter.count(protocol.OpCloseFile)
			rc, _, err := c.Open(ctx, tc.name, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d: %v", len(got), len(want), err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			// A Stat after the close: once it is answered, every frame
			// sent before it went through the counter.
			if _, err := c.Stat(ctx, tc.name); err != nil {
				t.Fatal(err)
			}
			if n := counter.count(protocol.OpCloseFile) - before; n != tc.close {
				t.Errorf("%d CLOSEFILE frames, want %d", n, tc.close)
			}
		})
	}
}
