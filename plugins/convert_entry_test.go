package plugins

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/async-sync/async/core/entrytest"
	"github.com/async-sync/async/plugins/pb"
)

// TestEntryEveryField: every field of core.Entry survives the conversion
// to the protocol message, its bytes on the wire, and the conversion back.
func TestEntryEveryField(t *testing.T) {
	want := entrytest.Full()
	b, err := proto.Marshal(entryToPB(&want))
	if err != nil {
		t.Fatal(err)
	}
	var m pb.Entry
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range entrytest.Diff(entryFromPB(&m), want, nil) {
		t.Error(l)
	}
}
