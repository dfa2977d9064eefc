package snapshot

import (
	"encoding/hex"
	"io/fs"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// TestRecordGolden pins the bytes of a stored record: snapshots written by
// earlier versions must keep loading.
func TestRecordGolden(t *testing.T) {
	r := core.Record{Entry: core.Entry{
		Path: "dir/file", Type: core.TypeFile, Size: 300,
		MTime: time.Unix(1700000000, 123456789), Mode: 0o640 | fs.ModeSetgid, UID: 1000, GID: core.NoID,
		Target: "t", Hash: "sha1:ab", Token: "tok", FileID: "1:2",
	}, Status: core.Status(3), Note: "n"}
	b := encodeRecord(nil, &r)
	const want = "01" + "03" + "01" + "d804" + "80c49fd50c" + "959aef3a" + "a0838002" + "d00f" + "01" +
		"0174" + "07736861313a6162" + "03746f6b" + "03313a32" + "016e"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("record bytes\n got %s\nwant %s", got, want)
	}
	var got core.Record
	if err := decodeKeyRecord(recordKey(r.Path), b, &got); err != nil {
		t.Fatal(err)
	}
	got.MTime = got.MTime.Local()
	r.MTime = r.MTime.Local()
	if got != r {
		t.Errorf("decoded %+v, want %+v", got, r)
	}
}
