package ssh

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/async-sync/async/core"
)

// TestAdversarialDataRequests: the data path's requests refuse what is
// out of bounds or out of order, and a second data path.
func TestAdversarialDataRequests(t *testing.T) {
	base := t.TempDir()
	r := startRaw(t, AgentOptions{Home: base, StateDir: filepath.Join(base, "state"), DataHost: "127.0.0.1"})
	if err := r.hello(hello{root: base}); err != nil {
		t.Fatal(err)
	}
	open := func(streams, port uint64, cc string) frame {
		var e enc
		e.u(streams)
		e.u(port)
		e.s(cc)
		f, ok := r.call(opDataOpen, e.b)
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
		if f := open(c.streams, c.port, c.cc); f.op != opError || !strings.Contains(decodeError(f.payload).Error(), c.want) {
			t.Errorf("DATAOPEN %d streams, port %d: %v, want an error about %s", c.streams, c.port, f.op, c.want)
		}
	}
	if f := open(1, 0, ""); f.op != opOK {
		t.Fatalf("DATAOPEN: %v", decodeError(f.payload))
	}
	if f := open(1, 0, ""); f.op != opError {
		t.Error("a second data path was offered")
	}
	var e enc
	e.u(7)
	e.i(10)
	if f, _ := r.call(opDataCommit, e.b); f.op != opError {
		t.Error("a commit of an unknown file was accepted")
	}
	e = enc{}
	e.u(8)
	e.s("f")
	e.createOpts(core.CreateOptions{Size: 10, Replace: core.MustNotExist, Partial: "k1"})
	if f, _ := r.call(opDataCreate, e.b); f.op != opError {
		t.Error("a resumable file on the data path was accepted")
	}
	e = enc{}
	e.u(9)
	e.s("../out")
	e.createOpts(core.CreateOptions{Size: 10, Replace: core.MustNotExist})
	if f, _ := r.call(opDataCreate, e.b); f.op != opError {
		t.Error("a data-path file outside the root was created")
	}
	e = enc{}
	e.u(10)
	e.s("g")
	e.createOpts(core.CreateOptions{Size: 10, Replace: core.MustNotExist})
	if f, _ := r.call(opDataCreate, e.b); f.op != opOK {
		t.Fatalf("DATACREATE: %v", decodeError(f.payload))
	}
	e = enc{}
	e.u(10)
	e.i(-1)
	if f, _ := r.call(opDataCommit, e.b); f.op != opError {
		t.Error("a commit of -1 bytes was accepted")
	}
}
