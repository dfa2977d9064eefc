package snapshot

import (
	"context"
	"testing"
	"time"
)

// BenchmarkOpenClose is the snapshot's share of the fixed cost of a run
// that records its identity: open a one-record snapshot, read its identity
// and records, record the stop time (the first write: Badger is reopened
// for writing), close.
func BenchmarkOpenClose(b *testing.B) {
	ctx := context.Background()
	dir := closedSnapshot(b, "f")
	b.ResetTimer()
	for b.Loop() {
		db := openT(b, dir, Options{})
		m, _, err := db.Meta(ctx)
		if err != nil {
			b.Fatal(err)
		}
		loadAll(b, db)
		if err := db.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		m.Stopped = time.Now()
		if err := db.SetMeta(ctx, m); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenReadClose is the snapshot's share of a run that changes
// nothing (it writes nothing, engine.keepsMeta): open a one-record
// snapshot for writing, read its identity and records, flush, close.
func BenchmarkOpenReadClose(b *testing.B) {
	dir := closedSnapshot(b, "f")
	for b.Loop() {
		openReadClose(b, dir)
	}
}
