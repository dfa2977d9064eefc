package protocol

import (
	"strings"
	"unsafe"

	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
)

// TestWireEntryEveryField: every field of core.Entry crosses the wire, as
// an entry and inside a record.
func TestWireEntryEveryField(t *testing.T) {
	want := entrytest.Full()
	var e Enc
	e.Entry(&want)
	e.Record(&core.Record{Entry: want, Status: core.Status(2), Note: "note"})
	d := Dec{B: e.B}
	got := d.Entry()
	r := d.Record()
	if d.Err != nil || len(d.B) != 0 {
		t.Fatalf("decode: %v, %d bytes left", d.Err, len(d.B))
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

// TestWireEntryOf: EntryOf reads the same entry as Entry whatever path it
// expects, and shares the expected path's string only when it is the
// entry's.
func TestWireEntryOf(t *testing.T) {
	want := entrytest.Full()
	for _, c := range []struct {
		name, expect string
		shared       bool
	}{
		{"its path", want.Path, true},
		{"another path", want.Path + "x", false},
		{"a prefix", want.Path[:1], false},
		{"none", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e Enc
			e.Entry(&want)
			d := Dec{B: e.B}
			expect := strings.Clone(c.expect)
			got := d.EntryOf(expect)
			if d.Err != nil || len(d.B) != 0 {
				t.Fatalf("decode: %v, %d bytes left", d.Err, len(d.B))
			}
			for _, l := range entrytest.Diff(got, want, nil) {
				t.Errorf("entry: %s", l)
			}
			if shared := unsafe.StringData(got.Path) == unsafe.StringData(expect); shared != c.shared {
				t.Errorf("path shared = %v, want %v", shared, c.shared)
			}
		})
	}
}
