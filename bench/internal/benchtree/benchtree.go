// Package benchtree generates the benchmarks' trees and times the tools
// that copy them.
package benchtree

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Small writes files small files of random sizes from 1 to size bytes,
// perDir to a directory, and returns their total size.
func Small(root string, files, perDir, size int) (int64, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size)
	var total int64
	for i := 0; i < files; i++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i/perDir/10), fmt.Sprintf("s%04d", i/perDir))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return 0, err
			}
		}
		n := 1 + rng.IntN(size)
		fill(rng, buf[:n])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d.dat", i)), buf[:n], 0o644); err != nil {
			return 0, err
		}
		total += int64(n)
	}
	return total, nil
}

// Large writes n files of size bytes of incompressible data.
func Large(root string, n int, size int64) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 4<<20)
	for i := range n {
		f, err := os.Create(filepath.Join(root, fmt.Sprintf("large%02d.bin", i)))
		if err != nil {
			return err
		}
		for left := size; left > 0; {
			k := min(left, int64(len(buf)))
			fill(rng, buf[:k])
			if _, err := f.Write(buf[:k]); err != nil {
				f.Close()
				return err
			}
			left -= k
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func fill(rng *rand.Rand, b []byte) {
	for j := 0; j < len(b); j += 8 {
		v := rng.Uint64()
		for k := 0; k < 8 && j+k < len(b); k++ {
			b[j+k] = byte(v >> (8 * k))
		}
	}
}

// Time runs a command and returns how long it took.
func Time(argv []string, env ...string) (time.Duration, error) {
	r, err := Measure(argv, env...)
	return r.Wall, err
}

// Run is what one command took: its wall time and its peak resident set
// (the child's own, from its rusage; 0 where the system has none).
type Run struct {
	Wall  time.Duration
	RSSKB int64
}

// Measure runs a command and returns what it took.
func Measure(argv []string, env ...string) (Run, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	if out, err := cmd.Output(); err != nil {
		return Run{}, fmt.Errorf("%v: %w\n%s", argv, err, out)
	}
	r := Run{Wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.RSSKB = ru.Maxrss
	}
	return r, nil
}

// Env stands in for a testing.T where benchmark programs start the test
// servers (sshdtest, s3test): Fatal panics, and Close runs the cleanups.
type Env struct{ cleanups []func() }

// Helper does nothing.
func (e *Env) Helper() {}

// Cleanup registers fn to run at Close, last registered first.
func (e *Env) Cleanup(fn func()) { e.cleanups = append(e.cleanups, fn) }

// Fatal stops the benchmark.
func (e *Env) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// Fatalf stops the benchmark.
func (e *Env) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// Close runs the cleanups.
func (e *Env) Close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// Step is one timed command of a comparison. Steps go in pairs: async's,
// then the peer tool's doing the same.
type Step struct {
	Name string
	Cmd  func(round int) []string
}

// Rounds is how a comparison repeats: Setup and Teardown run around each
// round (either may be nil), Env is added to every command's environment.
type Rounds struct {
	N               int
	Env             []string
	Setup, Teardown func(round int) error
	Sync            bool // write back dirty pages before each step
}

// Best runs the steps r.N times, each pair alternating who goes first from
// round to round, and returns each step's best time.
func Best(r Rounds, steps []Step) ([]time.Duration, error) {
	runs, err := BestRuns(r, steps)
	if err != nil {
		return nil, err
	}
	best := make([]time.Duration, len(runs))
	for i, run := range runs {
		best[i] = run.Wall
	}
	return best, nil
}

// BestRuns is Best with each step's best run whole (its peak RSS too).
func BestRuns(r Rounds, steps []Step) ([]Run, error) {
	best := make([]Run, len(steps))
	for round := range r.N {
		if r.Setup != nil {
			if err := r.Setup(round); err != nil {
				return nil, err
			}
		}
		for k := range steps {
			i := k
			if round%2 == 1 { // the peer first
				i = k ^ 1
			}
			if r.Sync {
				syscall.Sync()
			}
			run, err := Measure(steps[i].Cmd(round), r.Env...)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", steps[i].Name, err)
			}
			if round == 0 || run.Wall < best[i].Wall {
				best[i] = run
			}
		}
		if r.Teardown != nil {
			if err := r.Teardown(round); err != nil {
				return nil, err
			}
		}
	}
	return best, nil
}

// Trees makes a fresh directory under dir (removed by env's Close) with the
// two trees the transfer benchmarks push: files small files of up to size
// bytes in base/small, and large files of largeSize bytes in base/large.
// total is the small tree's size.
func Trees(env *Env, dir, prefix string, files, size, large int, largeSize int64) (base, small, big string, total int64, err error) {
	if base, err = os.MkdirTemp(dir, prefix); err != nil {
		return "", "", "", 0, err
	}
	env.Cleanup(func() { os.RemoveAll(base) })
	small, big = filepath.Join(base, "small"), filepath.Join(base, "large")
	if total, err = Small(small, files, 100, size); err != nil {
		return "", "", "", 0, err
	}
	if err = Large(big, large, largeSize); err != nil {
		return "", "", "", 0, err
	}
	return base, small, big, total, nil
}
