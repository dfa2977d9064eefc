package main_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"example.com/async-backend-bbolt/bboltfs"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins"
)

// The boundary benchmarks measure what the plugin process boundary costs:
// the same bbolt backend, once through plugins.Open and once in process
// (both without fsync, which would hide the difference).

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// pluginBinary builds this plugin once.
func pluginBinary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "async-backend-bbolt-bench-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, plugins.Prefix+"bbolt")
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binary
}

// eachSide runs fn against the backend through the plugin and in process.
func eachSide(b *testing.B, fn func(b *testing.B, be core.Backend)) {
	b.Run("plugin", func(b *testing.B) {
		be, err := plugins.Open(context.Background(), pluginBinary(b), "bbolt://"+filepath.Join(b.TempDir(), "t.db")+"?nosync=1", plugins.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		fn(b, be)
	})
	b.Run("inprocess", func(b *testing.B) {
		be, err := bboltfs.OpenFile(filepath.Join(b.TempDir(), "t.db"), bboltfs.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		fn(b, be)
	})
}

func put(b *testing.B, be core.Backend, p string, content []byte) {
	w, err := be.Create(context.Background(), p, core.CreateOptions{Size: int64(len(content)), Replace: core.Precondition{Any: true}})
	if err != nil {
		b.Fatal(err)
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 128<<10) // the pipeline's copy buffer
		if _, err := w.Write(rest[:n]); err != nil {
			b.Fatal(err)
		}
		rest = rest[n:]
	}
	if _, err := w.Commit(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func get(b *testing.B, be core.Backend, p string) {
	rc, _, err := be.Open(context.Background(), p, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		b.Fatal(err)
	}
	rc.Close()
}

func filesPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkBoundarySmallFiles writes and reads 4 KiB files, one at a time
// and from 8 goroutines per CPU (as the pipeline's transfer workers do).
func BenchmarkBoundarySmallFiles(b *testing.B) {
	content := make([]byte, 4<<10)
	var n atomic.Int64
	b.Run("write", func(b *testing.B) {
		eachSide(b, func(b *testing.B, be core.Backend) {
			for i := 0; b.Loop(); i++ {
				put(b, be, fmt.Sprintf("f%07d", i), content)
			}
			filesPerSecond(b)
		})
	})
	b.Run("write-parallel", func(b *testing.B) {
		eachSide(b, func(b *testing.B, be core.Backend) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					put(b, be, fmt.Sprintf("p%09d", n.Add(1)), content)
				}
			})
			filesPerSecond(b)
		})
	})
	b.Run("read", func(b *testing.B) {
		eachSide(b, func(b *testing.B, be core.Backend) {
			for i := range 1000 {
				put(b, be, fmt.Sprintf("f%04d", i), content)
			}
			for i := 0; b.Loop(); i++ {
				get(b, be, fmt.Sprintf("f%04d", i%1000))
			}
			filesPerSecond(b)
		})
	})
	b.Run("read-parallel", func(b *testing.B) {
		eachSide(b, func(b *testing.B, be core.Backend) {
			for i := range 1000 {
				put(b, be, fmt.Sprintf("f%04d", i), content)
			}
			b.ResetTimer()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, be, fmt.Sprintf("f%04d", n.Add(1)%1000))
				}
			})
			filesPerSecond(b)
		})
	})
}

// BenchmarkBoundaryLargeFile writes and reads a 64 MiB file (MB/s).
func BenchmarkBoundaryLargeFile(b *testing.B) {
	content := make([]byte, 64<<20)
	for i := range content {
		content[i] = byte(i * 7)
	}
	b.Run("write", func(b *testing.B) {
		eachSide(b, func(b *testing.B, be core.Backend) {
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				put(b, be, "big", content)
			}
		})
	})
	b.Run("read", func(b *testing.B) {
		eachSide(b, func(b *testing.B, be core.Backend) {
			put(b, be, "big", content)
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				get(b, be, "big")
			}
		})
	})
}

// BenchmarkBoundaryStat is one round trip (the root's Stat).
func BenchmarkBoundaryStat(b *testing.B) {
	eachSide(b, func(b *testing.B, be core.Backend) {
		for b.Loop() {
			if _, err := be.Stat(context.Background(), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBoundaryStatParallel is round trips from 8 goroutines per CPU.
func BenchmarkBoundaryStatParallel(b *testing.B) {
	eachSide(b, func(b *testing.B, be core.Backend) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := be.Stat(context.Background(), ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkBoundaryScan lists a tree of 10,000 entries (entries/s).
func BenchmarkBoundaryScan(b *testing.B) {
	eachSide(b, func(b *testing.B, be core.Backend) {
		for d := range 100 {
			dir := fmt.Sprintf("d%03d", d)
			if _, err := be.Mkdir(context.Background(), dir, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range 99 {
				put(b, be, fmt.Sprintf("%s/f%02d", dir, f), []byte("x"))
			}
		}
		for b.Loop() {
			if err := be.Scan(context.Background(), core.ScanOptions{}, func(core.Entry) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "entries/s")
	})
}
