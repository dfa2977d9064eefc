// Command scalesync is async's scale benchmark (make bench): for trees of
// many small files (100,000 and 1,000,000 by default) it times, in one run,
// async and rsync -a local→local on the initial copy, a no-change resync and
// a resync after 1 % of the files changed, with the wall time, the CPU time
// and the peak RSS of each (the child's rusage), and async's start-up: the
// median wall time of `async -A` and of a no-op sync of a one-file tree.
//
// The trees go to /dev/shm when it has room for them (the source and the
// two copies), else to the system's temporary directory; generating them is
// not timed. The tools alternate going first from phase to phase. Compare
// the ratios: the absolute times depend on the machine and its load.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/async-sync/async/bench/internal/benchtree"
)

func main() {
	bin := flag.String("async", "bin/async", "async binary")
	files := flag.String("files", "100000,1000000", "tree sizes in files, comma-separated")
	perDir := flag.Int("per-dir", 100, "files per directory")
	size := flag.Int("size", 1024, "largest file size in bytes (sizes are uniform from 1)")
	dir := flag.String("dir", "", "where to generate the trees (default: /dev/shm when it has room, else the system's temporary directory)")
	startN := flag.Int("startup-runs", 21, "runs of each start-up measure (the median counts)")
	startOnly := flag.Bool("startup-only", false, "measure the start-up only (make bench-startup)")
	keep := flag.Bool("keep", false, "keep the generated trees")
	flag.Parse()
	var sizes []int
	for _, f := range strings.Split(*files, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: option -files: %q is not a positive number\n", f)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	if *startOnly {
		sizes = nil
	}
	abs, err := filepath.Abs(*bin)
	if err == nil {
		err = run(abs, *dir, sizes, *perDir, *size, *startN, *keep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one measured command.
type result struct {
	wall, cpu time.Duration
	rssKB     int64 // peak resident set size
}

// measure runs argv and returns its wall time, CPU time and peak RSS.
func measure(argv []string) (result, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no rusage on this system")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{wall: wall, cpu: cpu, rssKB: ru.Maxrss}, nil
}

// pickDir returns where trees of files files fit: dir when given, else
// /dev/shm when it has room for three copies, else the temporary directory.
func pickDir(dir string, files, size int) string {
	if dir != "" {
		return dir
	}
	// A small file takes at least a page in tmpfs; three trees are made.
	need := uint64(files) * uint64(4096+((size/2+4095)/4096)*4096) * 3
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && st.Bavail*uint64(st.Bsize) > need+need/4 {
		return "/dev/shm"
	}
	return os.TempDir()
}

func run(bin, dir string, sizes []int, perDir, size, startN int, keep bool) error {
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("rsync is needed as the peer: %w", err)
	}
	if err := startup(bin, pickDir(dir, 1, size), startN); err != nil {
		return err
	}
	for _, n := range sizes {
		if err := scale(bin, pickDir(dir, n, size), n, perDir, size, keep); err != nil {
			return fmt.Errorf("%d files: %w", n, err)
		}
	}
	return nil
}

// median runs argv n times and returns the median wall time.
func median(argv []string, n int) (time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		r, err := measure(argv)
		if err != nil {
			return 0, err
		}
		ds = append(ds, r.wall)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// startup prints the median wall time of async -A and of no-op syncs of a
// one-file tree by async and rsync -a.
func startup(bin, dir string, n int) error {
	base, err := os.MkdirTemp(dir, "async-scale-start-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	src := filepath.Join(base, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "one"), []byte("one\n"), 0o644); err != nil {
		return err
	}
	sync := asyncArgs(bin, base, src, filepath.Join(base, "async"))
	rs := []string{"rsync", "-a", src + "/", filepath.Join(base, "rsync") + "/"}
	for _, argv := range [][]string{sync, rs} { // the first copies
		if _, err := measure(argv); err != nil {
			return err
		}
	}
	version, err := median([]string{bin, "-A"}, n)
	if err != nil {
		return err
	}
	noop, err := median(sync, n)
	if err != nil {
		return err
	}
	rnoop, err := median(rs, n)
	if err != nil {
		return err
	}
	fmt.Printf("start-up (median of %d, in %s): async -A %.1f ms; no-op sync of a 1-file tree: async %.1f ms, rsync -a %.1f ms\n",
		n, dir, ms(version), ms(noop), ms(rnoop))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// asyncArgs is a local→local sync of src to dst, its state under base.
func asyncArgs(bin, base, src, dst string) []string {
	return []string{bin, "-q", "-N", "scale", "-d", src, "-r", dst, "-b", filepath.Join(base, "db"),
		"-L", filepath.Join(base, "log"), "--create-dir", "-t"}
}

// scale generates a tree of n files and prints the three phases.
func scale(bin, dir string, n, perDir, size int, keep bool) error {
	base, err := os.MkdirTemp(dir, "async-scale-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(base)
	}
	src := filepath.Join(base, "src")
	total, err := benchtree.Small(src, n, perDir, size)
	if err != nil {
		return err
	}
	fmt.Printf("\ntree: %d files in %d directories, %.1f MiB, in %s\n", n, (n+perDir-1)/perDir, float64(total)/(1<<20), dir)
	fmt.Printf("%-18s %10s %10s %8s   %10s %10s   %12s %12s %10s\n",
		"phase", "async s", "rsync s", "rsync/a", "async cpu", "rsync cpu", "async RSS", "rsync RSS", "async B/f")
	as := asyncArgs(bin, base, src, filepath.Join(base, "async"))
	rs := []string{"rsync", "-a", src + "/", filepath.Join(base, "rsync") + "/"}
	phases := []struct {
		name   string
		before func() error
	}{
		{"initial copy", nil},
		{"no-change resync", nil},
		{"1% modified", func() error { return modify(src, n, perDir) }},
	}
	for i, ph := range phases {
		if ph.before != nil {
			if err := ph.before(); err != nil {
				return err
			}
		}
		var res [2]result // async, rsync
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0} // alternate who goes first
		}
		for _, k := range order {
			syscall.Sync() // nobody pays for the writeback of the step before
			argv := [2][]string{as, rs}[k]
			if res[k], err = measure(argv); err != nil {
				return fmt.Errorf("%s: %w", ph.name, err)
			}
		}
		a, r := res[0], res[1]
		fmt.Printf("%-18s %10.3f %10.3f %7.2fx   %10.3f %10.3f   %9.1f MB %9.1f MB %10.0f\n",
			ph.name, a.wall.Seconds(), r.wall.Seconds(), r.wall.Seconds()/a.wall.Seconds(),
			a.cpu.Seconds(), r.cpu.Seconds(), float64(a.rssKB)/1024, float64(r.rssKB)/1024,
			float64(a.rssKB)*1024/float64(n))
	}
	return nil
}

// modify rewrites every hundredth file of the tree benchtree.Small made,
// one byte longer, so that its size and content change.
func modify(root string, n, perDir int) error {
	for i := 0; i < n; i += 100 {
		p := filepath.Join(root, fmt.Sprintf("d%03d", i/perDir/10), fmt.Sprintf("s%04d", i/perDir), fmt.Sprintf("f%06d.dat", i))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = f.Write([]byte{'+'})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
