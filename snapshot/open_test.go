package snapshot

import (
	"context"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// BenchmarkOpenClose is the snapshot's share of the fixed cost of a run
// that records its identity: open a one-record snapshot, read its identity
// and records, record the stop time (the first write: Badger is reopened
// for writing), close.
func BenchmarkOpenClose(b *testing.B) {
	ctx := context.Background()
	dir := oneRecordSnapshot(b)
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
	ctx := context.Background()
	dir := oneRecordSnapshot(b)
	for b.Loop() {
		db := openT(b, dir, Options{})
		if _, _, err := db.Meta(ctx); err != nil {
			b.Fatal(err)
		}
		loadAll(b, db)
		if err := db.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// oneRecordSnapshot makes a closed snapshot of one record and an identity
// and returns its directory.
func oneRecordSnapshot(b *testing.B) string {
	ctx := context.Background()
	dir := b.TempDir()
	db := openT(b, dir, Options{})
	if err := db.Put(ctx, core.Record{Entry: core.Entry{Path: "f", Size: 3}}); err != nil {
		b.Fatal(err)
	}
	if err := db.SetMeta(ctx, core.Meta{Session: "bench"}); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}
