// Command localsync is async's local→local benchmark (make bench): it
// generates a tree of small files, then times an initial copy and a
// no-change resync by async and by rsync -a on the same tree in the same
// run, and prints files/s and the ratios.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/async-sync/async/bench/internal/benchtree"
)

func main() {
	bin := flag.String("async", "bin/async", "async binary")
	files := flag.Int("files", 50000, "number of files")
	perDir := flag.Int("per-dir", 100, "files per directory")
	size := flag.Int("size", 4096, "largest file size in bytes (sizes are uniform from 1)")
	rounds := flag.Int("rounds", 4, "repetitions (the tools alternate going first); the best time counts")
	keep := flag.Bool("keep", false, "keep the generated trees")
	dir := flag.String("dir", "", "where to generate the trees (default: the system's temporary directory; /dev/shm takes the disk out of the measure)")
	flag.Parse()
	if err := run(*bin, *dir, *files, *perDir, *size, *rounds, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin, dir string, files, perDir, size, rounds int, keep bool) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("rsync is needed as the peer: %w", err)
	}
	base, err := os.MkdirTemp(dir, "async-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(base)
	}
	src := filepath.Join(base, "src")
	var total int64
	if total, err = benchtree.Small(src, files, perDir, size); err != nil {
		return err
	}
	fmt.Printf("tree: %d files in %d directories, %.1f MiB, at %s\n", files, (files+perDir-1)/perDir, float64(total)/(1<<20), src)

	var best [4]time.Duration // async initial, rsync initial, async resync, rsync resync
	for r := 0; r < rounds; r++ {
		round := filepath.Join(base, fmt.Sprint("r", r))
		ad, rd := filepath.Join(round, "async"), filepath.Join(round, "rsync")
		if err := os.MkdirAll(round, 0o755); err != nil {
			return err
		}
		state := filepath.Join(round, "state")
		asyncArgs := []string{"-q", "-N", "bench", "-d", src, "-r", ad, "-b", filepath.Join(round, "db"), "-L", filepath.Join(state, "log"), "--create-dir", "-t"}
		steps := []struct {
			name string
			cmd  []string
		}{
			{"async initial", append([]string{abs}, asyncArgs...)},
			{"rsync initial", []string{"rsync", "-a", src + "/", rd + "/"}},
			{"async resync", append([]string{abs}, asyncArgs...)},
			{"rsync resync", []string{"rsync", "-a", src + "/", rd + "/"}},
		}
		order := []int{0, 1, 2, 3}
		if r%2 == 1 {
			order = []int{1, 0, 3, 2} // alternate who goes first after the cleanup
		}
		for _, i := range order {
			st := steps[i]
			syscall.Sync() // nobody pays for the writeback of the step before
			d, err := benchtree.Time(st.cmd)
			if err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
			if r == 0 || d < best[i] {
				best[i] = d
			}
		}
		if err := os.RemoveAll(round); err != nil {
			return err
		}
	}
	rate := func(d time.Duration) float64 { return float64(files) / d.Seconds() }
	fmt.Printf("initial copy:     async %8.3fs (%8.0f files/s)   rsync -a %8.3fs (%8.0f files/s)   async is %.2fx rsync\n",
		best[0].Seconds(), rate(best[0]), best[1].Seconds(), rate(best[1]), best[1].Seconds()/best[0].Seconds())
	fmt.Printf("no-change resync: async %8.3fs (%8.0f files/s)   rsync -a %8.3fs (%8.0f files/s)   async is %.2fx rsync\n",
		best[2].Seconds(), rate(best[2]), best[3].Seconds(), rate(best[3]), best[3].Seconds()/best[2].Seconds())
	return nil
}
