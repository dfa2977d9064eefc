package agent

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// TestAdversarialDataRequests: the data path's requests refuse what is
// out of bounds or out of order, and a second data path.
func TestAdversarialDataRequests(t *testing.T) {
	base := t.TempDir()
	r := startRaw(t, Options{Home: base, StateDir: filepath.Join(base, "state"), DataHost: "127.0.0.1"})
	if err := r.hello(protocol.Hello{Root: base}); err != nil {
		t.Fatal(err)
	}
	open := func(streams, port uint64, cc string) protocol.Frame {
		var e protocol.Enc
		e.Uint(streams)
		e.Uint(port)
		e.Str(cc)
		f, ok := r.call(protocol.OpDataOpen, e.B)
		if !ok {
			t.Fatal("the agent hung up")
		}
		return f
	}
	for _, c := range []struct {
		streams, port uint64
		cc, want      string
	}{
		{0, 0, "", "data streams"},
		{33, 0, "", "data streams"},
		{1, 70000, "", "data port"},
		{1, 0, strings.Repeat("x", 17), "congestion control"},
	} {
		if f := open(c.streams, c.port, c.cc); f.Op != protocol.OpError || !strings.Contains(protocol.DecodeError(f.Payload).Error(), c.want) {
			t.Errorf("DATAOPEN %d streams, port %d: %v, want an error about %s", c.streams, c.port, f.Op, c.want)
		}
	}
	if f := open(1, 0, ""); f.Op != protocol.OpOK {
		t.Fatalf("DATAOPEN: %v", protocol.DecodeError(f.Payload))
	}
	if f := open(1, 0, ""); f.Op != protocol.OpError {
		t.Error("a second data path was offered")
	}
	var e protocol.Enc
	e.Uint(7)
	e.Int(10)
	if f, _ := r.call(protocol.OpDataCommit, e.B); f.Op != protocol.OpError {
		t.Error("a commit of an unknown file was accepted")
	}
	e = protocol.Enc{}
	e.Uint(8)
	e.Str("f")
	e.CreateOptions(core.CreateOptions{Size: 10, Replace: core.MustNotExist, Partial: "k1"})
	if f, _ := r.call(protocol.OpDataCreate, e.B); f.Op != protocol.OpError {
		t.Error("a resumable file on the data path was accepted")
	}
	e = protocol.Enc{}
	e.Uint(9)
	e.Str("../out")
	e.CreateOptions(core.CreateOptions{Size: 10, Replace: core.MustNotExist})
	if f, _ := r.call(protocol.OpDataCreate, e.B); f.Op != protocol.OpError {
		t.Error("a data-path file outside the root was created")
	}
	e = protocol.Enc{}
	e.Uint(10)
	e.Str("g")
	e.CreateOptions(core.CreateOptions{Size: 10, Replace: core.MustNotExist})
	if f, _ := r.call(protocol.OpDataCreate, e.B); f.Op != protocol.OpOK {
		t.Fatalf("DATACREATE: %v", protocol.DecodeError(f.Payload))
	}
	e = protocol.Enc{}
	e.Uint(10)
	e.Int(-1)
	if f, _ := r.call(protocol.OpDataCommit, e.B); f.Op != protocol.OpError {
		t.Error("a commit of -1 bytes was accepted")
	}
}
