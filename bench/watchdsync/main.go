// Command watchdsync benchmarks resyncs driven by the change journal (make
// bench): it generates a tree of small files, starts `async watchd` on it,
// and times a no-change resync and a resync after 1 % of the files were
// rewritten, by `async --watchd` and by `rsync -a` on the same tree in the
// same run. It also reports the service's memory and CPU: in all, at rest,
// and under a steady churn of small rewrites (-churn per second).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/async-sync/async/bench/internal/benchtree"
	"github.com/async-sync/async/internal/watchd"
)

func main() {
	bin := flag.String("async", "bin/async", "async binary")
	files := flag.Int("files", 50000, "number of files")
	perDir := flag.Int("per-dir", 100, "files per directory")
	rounds := flag.Int("rounds", 3, "repetitions; the best time counts")
	dir := flag.String("dir", "", "where to generate the trees (default: the system's temporary directory)")
	watcher := flag.String("watcher", "auto", "the service's --watcher: auto, fanotify or inotify")
	load := flag.Duration("load", 5*time.Second, "how long the service's idle and churn figures are taken over")
	rate := flag.Int("churn", 1000, "changes per second of the churn figure")
	keep := flag.String("keep", "", "a directory the trees are kept in and reused from on the next run with the same -files and -per-dir (default: a fresh temporary directory, removed at the end)")
	flag.Parse()
	if err := run(*bin, *dir, *keep, *files, *perDir, *rounds, *watcher, *load, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin, dir, keep string, files, perDir, rounds int, watcher string, load time.Duration, rate int) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("rsync is needed as the peer: %w", err)
	}
	base, err := benchBase(dir, keep, files, perDir)
	if err != nil {
		return err
	}
	if keep == "" {
		defer os.RemoveAll(base)
	}
	src, ad, rd := filepath.Join(base, "src"), filepath.Join(base, "async"), filepath.Join(base, "rsync")
	generated := filepath.Join(base, "generated")
	if _, err := os.Stat(generated); err != nil {
		if _, err := benchtree.Small(src, files, perDir, 4096); err != nil {
			return err
		}
		if err := os.WriteFile(generated, nil, 0o644); err != nil {
			return err
		}
	}
	state := filepath.Join(base, "state")
	env := "XDG_STATE_HOME=" + state
	svc := exec.Command(abs, "watchd", "--tree", src, "--watcher", watcher)
	svc.Env = append(os.Environ(), env)
	if err := svc.Start(); err != nil {
		return err
	}
	defer func() { svc.Process.Signal(syscall.SIGTERM); svc.Wait() }()
	sock := filepath.Join(state, "async", "watchd", watchd.SocketName)
	ready := false
	for range 600 {
		if _, err := watchd.Ask(context.Background(), sock, watchd.Request{Op: "status"}, time.Second); err == nil {
			ready = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ready {
		return fmt.Errorf("async watchd did not start")
	}
	asyncCmd := []string{abs, "--watchd", "-q", "-N", "bench", "-d", src, "-r", ad, "-b", filepath.Join(base, "db"), "--create-dir", "-t"}
	rsyncCmd := []string{"rsync", "-a", src + "/", rd + "/"}
	for _, c := range [][]string{asyncCmd, rsyncCmd} { // initial copies
		if _, err := benchtree.Time(c, env); err != nil {
			return err
		}
	}
	settle := func() error { return settleJournal(sock, src) }
	settle()
	if _, err := benchtree.Time(asyncCmd, env); err != nil { // records the first cursor
		return err
	}
	var best [4]time.Duration // async no-change, rsync no-change, async 1 %, rsync 1 %
	var start time.Duration   // async --version: the process start, a no-change resync's floor
	rng := rand.New(rand.NewPCG(1, 2))
	for r := range rounds {
		d, err := benchtree.Time([]string{abs, "--version"}, env)
		if err != nil {
			return err
		}
		if r == 0 || d < start {
			start = d
		}
		if err := settle(); err != nil {
			return err
		}
		// The settle marker is a change too: an untimed run takes it in.
		if _, err := benchtree.Time(asyncCmd, env); err != nil {
			return err
		}
		for i, c := range [][]string{asyncCmd, rsyncCmd} {
			syscall.Sync()
			d, err := benchtree.Time(c, env)
			if err != nil {
				return err
			}
			if r == 0 || d < best[i] {
				best[i] = d
			}
		}
		for range files / 100 { // 1 % rewritten
			n := rng.IntN(files)
			p := filepath.Join(src, fmt.Sprintf("d%03d", n/perDir/10), fmt.Sprintf("s%04d", n/perDir), fmt.Sprintf("f%06d.dat", n))
			os.WriteFile(p, []byte(fmt.Sprint("round ", r, " ", n)), 0o644)
		}
		if err := settle(); err != nil {
			return err
		}
		for i, c := range [][]string{asyncCmd, rsyncCmd} {
			syscall.Sync()
			d, err := benchtree.Time(c, env)
			if err != nil {
				return err
			}
			if r == 0 || d < best[2+i] {
				best[2+i] = d
			}
		}
	}
	fmt.Printf("tree: %d files; resyncs with async --watchd vs rsync -a (best of %d)\n", files, rounds)
	fmt.Printf("no-change resync: async %8.3fs   rsync -a %8.3fs   async is %.1fx rsync\n",
		best[0].Seconds(), best[1].Seconds(), best[1].Seconds()/best[0].Seconds())
	fmt.Printf("1 %% modified:     async %8.3fs   rsync -a %8.3fs   async is %.1fx rsync\n",
		best[2].Seconds(), best[3].Seconds(), best[3].Seconds()/best[2].Seconds())
	fmt.Printf("async --version:  %8.3fs   (the process start alone: the floor of a no-change resync)\n", start.Seconds())
	rss, cpu := procUsage(svc.Process.Pid)
	fmt.Printf("watchd: %d MiB resident, %.2fs CPU in all\n", rss>>20, cpu)
	if a, err := watchd.Ask(context.Background(), sock, watchd.Request{Op: "status"}, 5*time.Second); err == nil && len(a.Status.Trees) > 0 {
		fmt.Printf("watchd --status: watcher %s\n", a.Status.Trees[0].Watcher)
	}
	// The service at rest, then under a steady churn of small rewrites.
	idle := usageOver(svc.Process.Pid, load, nil)
	fmt.Printf("watchd idle:              %4d MiB resident, %5.1f %% of a CPU\n", idle.rss>>20, idle.cpu)
	rng2 := rand.New(rand.NewPCG(3, 4))
	made := 0
	churn := usageOver(svc.Process.Pid, load, func(stop <-chan struct{}) {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Writes slower than the rate must not keep the loop from
			// seeing stop.
			for made < int(time.Since(start).Seconds()*float64(rate)) && !closed(stop) {
				n := rng2.IntN(files)
				p := filepath.Join(src, fmt.Sprintf("d%03d", n/perDir/10), fmt.Sprintf("s%04d", n/perDir), fmt.Sprintf("f%06d.dat", n))
				os.WriteFile(p, []byte(fmt.Sprint("churn ", made)), 0o644)
				made++
			}
		}
	})
	fmt.Printf("watchd under %d changes/s: %4d MiB resident, %5.1f %% of a CPU (%d changes made in %s)\n",
		rate, churn.rss>>20, churn.cpu, made, load)
	return nil
}

// benchBase returns the directory the trees go in: a new temporary one,
// or with keep, keep/<files>x<perDir> (created when missing), where a
// tree generated by an earlier run is reused (its copies, the session's
// snapshots and state too: the first timed round then starts from a
// resync, which the untimed first runs take care of).
func benchBase(dir, keep string, files, perDir int) (string, error) {
	if keep == "" {
		return os.MkdirTemp(dir, "async-watchd-bench-")
	}
	base := filepath.Join(keep, fmt.Sprintf("%dx%d", files, perDir))
	return base, os.MkdirAll(base, 0o755)
}

// closed reports whether c is closed, without waiting.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// usage is a process's resident memory at the end of an interval and the
// share of one CPU it used in it.
type usage struct {
	rss int64
	cpu float64
}

// usageOver measures a process over d while work (if any) runs.
func usageOver(pid int, d time.Duration, work func(stop <-chan struct{})) usage {
	_, c0 := procUsage(pid)
	t0 := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if work != nil {
			work(stop)
		} else {
			<-stop
		}
	}()
	time.Sleep(d)
	close(stop)
	<-done
	rss, c1 := procUsage(pid)
	return usage{rss: rss, cpu: 100 * (c1 - c0) / time.Since(t0).Seconds()}
}

// settleJournal waits until the service journaled the changes made so far
// (a marker file written last is seen).
func settleJournal(sock, dir string) error {
	a, err := watchd.Ask(context.Background(), sock, watchd.Request{Op: "changes", Dir: dir}, 10*time.Second)
	if err != nil {
		return err
	}
	marker := filepath.Join(dir, "zz-bench-marker")
	os.WriteFile(marker, nil, 0o644)
	defer os.Remove(marker)
	for range 1000 {
		b, err := watchd.Ask(context.Background(), sock, watchd.Request{Op: "changes", Dir: dir, Epoch: a.Epoch, Since: a.Cursor}, 10*time.Second)
		if err != nil {
			return err
		}
		if b.Hole != "" || slices.Contains(b.Paths, "zz-bench-marker") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("the journal did not catch up")
}

// procUsage returns a process's resident memory and CPU seconds.
func procUsage(pid int) (rss int64, cpu float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 13 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				cpu = (ut + st) / 100 // USER_HZ
			}
		}
	}
	return rss, cpu
}
