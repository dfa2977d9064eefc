package core_test

import (
	"fmt"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/memfs"
)

// BenchmarkFirstCopy pushes 20,000 small files in 200 directories to an
// empty side, in memory (memfs and its store), and reports the
// allocations of the run: what a first copy costs beside its system calls
// and its snapshots' writes.
func BenchmarkFirstCopy(b *testing.B) {
	const files, perDir = 20000, 100
	src := memfs.New(memfs.Options{})
	content := make([]byte, 512)
	for d := range files / perDir {
		dir := fmt.Sprintf("d%03d", d)
		if _, err := src.Mkdir(bg, dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range perDir {
			p := fmt.Sprintf("%s/f%06d", dir, d*perDir+f)
			w, err := src.Create(bg, p, core.CreateOptions{Size: int64(len(content)), Replace: core.MustNotExist})
			if err != nil {
				b.Fatal(err)
			}
			w.Write(content)
			if _, err := w.Commit(bg); err != nil {
				b.Fatal(err)
			}
		}
	}
	pol := core.Policy{Direction: core.Push, Checksum: core.ChecksumSHA1, PreserveTime: true}
	if err := pol.Resolve(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		local := &core.Endpoint{Backend: src, Store: memfs.NewStore(), URL: "mem://local"}
		remote := &core.Endpoint{Backend: memfs.New(memfs.Options{}), Store: memfs.NewStore(), URL: "mem://remote"}
		stats := &core.Stats{}
		if _, err := core.Sync(bg, local, remote, core.Options{Session: "bench", Policy: pol, Stats: stats}); err != nil {
			b.Fatal(err)
		}
		if n := stats.Files.Load(); n != files {
			b.Fatalf("%d files copied, want %d", n, files)
		}
	}
}
