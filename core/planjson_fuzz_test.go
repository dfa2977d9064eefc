package core_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
)

// FuzzPlanJSON feeds arbitrary documents (a saved plan is read back from
// disk, possibly edited by hand) to ReadPlanJSON: it fails cleanly or
// returns a plan that writes out and reads back, and writing that again
// gives the same document (what a plan does not carry, such as a
// directory's size, is dropped on the first write).
func FuzzPlanJSON(f *testing.F) {
	full := entrytest.Full()
	dir := core.Entry{Path: "d", Type: core.TypeDir, Mode: 0o755, UID: core.NoID, GID: core.NoID}
	var buf bytes.Buffer
	if err := core.WritePlanJSON(&buf, core.PlanHeader{Session: "s", Direction: core.Push, Local: "/a", Remote: "b:/c",
		Options: map[string]any{"mirror": true, "n": 3}}, &core.Plan{Actions: []core.Action{
		{Op: core.OpCopy, Side: core.Remote, Path: full.Path, Source: &full, Dest: &full},
		{Op: core.OpMkdir, Side: core.Local, Path: "d", Source: &dir},
		{Op: core.OpRename, Side: core.Remote, Path: "x\xff", To: "y", Dest: &full},
		{Op: core.OpKeep, Side: core.Remote, Path: "d/f", To: "K/d/f", Dest: &full, Reason: core.KeepReplaced},
		{Op: core.OpDelete, Side: core.Local, Path: "d", Dest: &dir},
	}}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add(`{"version":1,"direction":"push","actions":[{"op":"copy","side":"local","path":"/a","expect_source":{"type":"file","mtime":"9999-12-31T23:59:59-01:00"},"expect_dest":null}]}`)
	f.Add(`{"version":1,"direction":"pull","actions":[{"op":"setattr","side":"remote","path_b64":"L/8=","expect_source":{"type":"dir","size":5,"mode":"07777"},"expect_dest":{"type":"symlink","uid":-1}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		h, p, err := core.ReadPlanJSON(strings.NewReader(doc))
		if err != nil {
			return
		}
		var w1 bytes.Buffer
		if err := core.WritePlanJSON(&w1, h, p); err != nil {
			t.Fatalf("write a plan read: %v", err)
		}
		h2, p2, err := core.ReadPlanJSON(bytes.NewReader(w1.Bytes()))
		if err != nil {
			t.Fatalf("read back a plan written: %v\n%s", err, w1.Bytes())
		}
		if len(p2.Actions) != len(p.Actions) || h2.Direction != h.Direction || h2.Session != h.Session {
			t.Fatalf("read back %d actions (%v), want %d (%v)", len(p2.Actions), h2.Direction, len(p.Actions), h.Direction)
		}
		var w2 bytes.Buffer
		if err := core.WritePlanJSON(&w2, h2, p2); err != nil {
			t.Fatalf("write again: %v", err)
		}
		if !bytes.Equal(w1.Bytes(), w2.Bytes()) {
			t.Fatalf("not a fixed point:\n%s\n%s", w1.Bytes(), w2.Bytes())
		}
	})
}
