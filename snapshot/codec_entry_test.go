package snapshot

import (
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
)

// recordOmits are the fields of core.Entry a snapshot record does not
// keep, and why.
var recordOmits = map[string]string{
	"ATime": "the access time is neither compared nor recorded (core.Entry.ATime)",
}

// TestRecordEveryField: every field of core.Entry a snapshot keeps comes
// back from the stored record, the path from its key.
func TestRecordEveryField(t *testing.T) {
	want := core.Record{Entry: entrytest.Full(), Status: core.Status(2), Note: "note"}
	b := encodeRecord(nil, &want)
	var got core.Record
	if err := decodeKeyRecord(recordKey(want.Path), b, &got); err != nil {
		t.Fatal(err)
	}
	for _, l := range entrytest.Diff(got.Entry, want.Entry, recordOmits) {
		t.Error(l)
	}
	if got.Status != want.Status || got.Note != want.Note {
		t.Errorf("status %d note %q, want %d %q", got.Status, got.Note, want.Status, want.Note)
	}
}
