package ssh

import (
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
)

// TestWireEntryEveryField: every field of core.Entry crosses the wire, as
// an entry and inside a record.
func TestWireEntryEveryField(t *testing.T) {
	want := entrytest.Full()
	var e enc
	e.entry(&want)
	e.record(&core.Record{Entry: want, Status: core.Status(2), Note: "note"})
	d := dec{b: e.b}
	got := d.entry()
	r := d.record()
	if d.err != nil || len(d.b) != 0 {
		t.Fatalf("decode: %v, %d bytes left", d.err, len(d.b))
	}
	for _, l := range entrytest.Diff(got, want, nil) {
		t.Errorf("entry: %s", l)
	}
	for _, l := range entrytest.Diff(r.Entry, want, nil) {
		t.Errorf("record: %s", l)
	}
	if r.Status != 2 || r.Note != "note" {
		t.Errorf("record status %d note %q", r.Status, r.Note)
	}
}
