package snapshot

import (
	"bytes"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
)

// FuzzRecord feeds arbitrary bytes (a record as read back from disk) and
// an arbitrary key to the record decoders: they fail cleanly, never panic,
// and what decodes re-encodes to a record that decodes to the same thing.
func FuzzRecord(f *testing.F) {
	full := core.Record{Entry: entrytest.Full(), Status: core.Status(2), Note: "n"}
	f.Add(string(recordKey(full.Path)), encodeRecord(nil, &full))
	f.Add("r", encodeRecord(nil, &core.Record{}))
	f.Add("ra\x00b", []byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add("r", []byte{recordVersion, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add("", []byte{2})
	f.Fuzz(func(t *testing.T, key string, b []byte) {
		if _, err := decodeStatus(b); err != nil {
			if decodeRecord(b, &core.Record{}) == nil {
				t.Fatalf("the status fails (%v), the record decodes", err)
			}
		}
		if key == "" || key[0] != prefixRecord {
			key = string(prefixRecord) + key
		}
		var r core.Record
		if err := decodeKeyRecord([]byte(key), b, &r); err != nil {
			return
		}
		if r.Path != keyPath([]byte(key)) {
			t.Fatalf("path %q from key %q", r.Path, key)
		}
		again := encodeRecord(nil, &r)
		var r2 core.Record
		if err := decodeKeyRecord([]byte(key), again, &r2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d := entrytest.Diff(r2.Entry, r.Entry, recordOmits); len(d) > 0 && !onlyOmitted(d) {
			t.Fatalf("round trip: %v", d)
		}
		if r2.Status != r.Status || r2.Note != r.Note {
			t.Fatalf("round trip: status %d note %q, want %d %q", r2.Status, r2.Note, r.Status, r.Note)
		}
		if !bytes.Equal(encodeRecord(nil, &r2), again) {
			t.Fatal("encoding is not stable")
		}
	})
}

// onlyOmitted reports whether every line of a Diff is about an omitted
// field that came back (a record never has an access time: zero equals
// zero).
func onlyOmitted(lines []string) bool {
	for _, l := range lines {
		if !bytes.Contains([]byte(l), []byte("is listed as omitted")) {
			return false
		}
	}
	return true
}
