package snapshot

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// BenchmarkOpenCloseLarge measures what a run that finds nothing to do pays for
// its snapshot: Open, Meta and Close of a snapshot of n records.
func BenchmarkOpenCloseLarge(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000_000} {
		dir, err := os.MkdirTemp(os.Getenv("BENCH_DIR"), "openclose-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		fillSnapshot(b, dir, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				db, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := db.Meta(ctx); err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
