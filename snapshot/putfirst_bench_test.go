package snapshot

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// BenchmarkPutFirstCopy measures what a first copy costs its snapshot: n
// records put in path order (as the copies finish), each with a content
// hash, into a new snapshot, and Close; it reports the process's CPU time
// beside the wall time (the memtables' flushes and the compactions run in
// Badger's goroutines).
func BenchmarkPutFirstCopy(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			recs := make([]core.Record, n)
			for i := range recs {
				recs[i] = core.Record{Entry: core.Entry{
					Path:  fmt.Sprintf("d%03d/s%04d/f%07d.dat", i/1000, i/100, i),
					Type:  core.TypeFile,
					Size:  int64(i%1024) + 1,
					MTime: time.Unix(1700000000+int64(i), int64(i)*7),
					Mode:  0o644, UID: 1000, GID: 1000,
					Hash:   fmt.Sprintf("sha1:%040x", i),
					Token:  fmt.Sprintf("%d.%09d", 1700000000+i, i),
					FileID: fmt.Sprintf("2049:%d", 100000+i),
				}}
			}
			var cpu time.Duration
			for k := 0; b.Loop(); k++ {
				dir := filepath.Join(b.TempDir(), fmt.Sprint(k))
				c := processCPU()
				db := openT(b, dir, Options{})
				for i := range recs {
					if err := db.Put(ctx, recs[i]); err != nil {
						b.Fatal(err)
					}
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - c
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
