package plugins

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
	"github.com/async-sync/async/core/filter"
	"github.com/async-sync/async/plugins/pb"
)

// FuzzMessages feeds arbitrary bytes, as a plugin (or the host) could send
// them, to the protocol's decoder and the conversions to core's types: the
// first byte picks the message. Nothing panics, and what converts
// re-encodes to the same message (conversion is a fixed point after one
// round).
func FuzzMessages(f *testing.F) {
	full := entrytest.Full()
	mt, mode, id := time.Unix(5, 6), full.Mode, 7
	seeds := []proto.Message{
		entryToPB(&full),
		preToPB(core.Precondition{Expect: &full}),
		attrsToPB(core.Attrs{MTime: &mt, ATime: &mt, Mode: &mode, UID: &id, GID: &id}),
		createToPB("a/b", core.CreateOptions{Size: 3, Replace: core.Precondition{Any: true}, Partial: "p"}),
		scanToPB(core.ScanOptions{Prune: core.Prune{Filter: []filter.Rule{{Include: true, Pattern: "*.go"}},
			Subtrees: []string{"a"}, Settled: map[string]time.Time{"d": mt}}, Threads: 2,
			Known: map[string]core.Entry{full.Path: full}}),
		&pb.BackendCaps{Dirs: true, Linker: true, HardLinker: true, Watcher: true, InFlight: 3},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(i)}, b...))
	}
	f.Add([]byte{0, 0x22, 0x02, 0x08, 0xff}) // an mtime with a truncated field
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		kind, b := int(b[0])%len(seeds), b[1:]
		conv := conversions[kind]
		m := proto.Clone(seeds[kind])
		proto.Reset(m)
		if err := proto.Unmarshal(b, m); err != nil {
			return
		}
		once := conv(m)
		wire, err := proto.Marshal(once)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2 := proto.Clone(seeds[kind])
		proto.Reset(m2)
		if err := proto.Unmarshal(wire, m2); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if twice := conv(m2); !proto.Equal(once, twice) {
			t.Fatalf("round trip:\n once %v\ntwice %v", once, twice)
		}
		if kind == 0 {
			e1 := entryFromPB(m.(*pb.Entry))
			e2 := entryFromPB(m2.(*pb.Entry))
			for _, l := range entrytest.Diff(e2, e1, nil) {
				t.Errorf("entry round trip: %s", l)
			}
		}
	})
}

// conversions take a decoded message to core's type and back, one per
// seed kind of FuzzMessages.
var conversions = []func(proto.Message) proto.Message{
	func(m proto.Message) proto.Message { e := entryFromPB(m.(*pb.Entry)); return entryToPB(&e) },
	func(m proto.Message) proto.Message { return preToPB(preFromPB(m.(*pb.Precondition))) },
	func(m proto.Message) proto.Message { return attrsToPB(attrsFromPB(m.(*pb.Attrs))) },
	func(m proto.Message) proto.Message {
		h := m.(*pb.CreateHeader)
		return createToPB(h.Path, createFromPB(h))
	},
	func(m proto.Message) proto.Message { return scanToPB(scanFromPB(m.(*pb.ScanRequest))) },
	func(m proto.Message) proto.Message {
		c := m.(*pb.BackendCaps)
		back := capsToPB(capsFromPB(c))
		setFeatures(back, featuresFromPB(c))
		back.InFlight = c.InFlight
		return back
	},
}
