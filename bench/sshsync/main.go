// Command sshsync is async's SSH benchmark (make bench): it starts
// Debian's sshd on 127.0.0.1 with a benchmark user, then times, in the same
// run and alternating who goes first, a push of many small files (initial
// copy and no-change resync) and of a few large files by async (through its
// agent) and by rsync -a -e ssh, and prints the ratios.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/async-sync/async/bench/internal/benchtree"
	"github.com/async-sync/async/internal/sshdtest"
)

func main() {
	bin := flag.String("async", "bin/async", "async binary")
	files := flag.Int("files", 50000, "number of small files")
	size := flag.Int("size", 4096, "largest small file in bytes (sizes are uniform from 1)")
	large := flag.Int("large-files", 8, "number of large files")
	largeSize := flag.Int64("large-size", 256<<20, "size of each large file in bytes")
	rounds := flag.Int("rounds", 3, "repetitions (the tools alternate going first); the best time counts")
	dir := flag.String("dir", "/dev/shm", "where the trees and the benchmark user's home live (/dev/shm takes the disk out of the measure)")
	flag.Parse()
	b := &bench{}
	defer b.cleanup()
	if err := b.run(*bin, *dir, *files, *size, *large, *largeSize, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		b.cleanup()
		os.Exit(1)
	}
}

// bench is a benchmark run; its Env is the T of the servers it starts.
type bench struct{ benchtree.Env }

func (b *bench) cleanup() { b.Close() }

func (b *bench) run(bin, dir string, files, size, large int, largeSize int64, rounds int) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	for _, tool := range []string{"rsync", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed for the peer: %w", tool, err)
		}
	}
	srv := sshdtest.Start(b, sshdtest.Options{User: "asyncbench", Home: filepath.Join(dir, "async-bench-home")})
	base, err := os.MkdirTemp(dir, "async-sshbench-")
	if err != nil {
		return err
	}
	b.Cleanup(func() { os.RemoveAll(base) })
	small, big := filepath.Join(base, "small"), filepath.Join(base, "large")
	total, err := benchtree.Small(small, files, 100, size)
	if err != nil {
		return err
	}
	if err := benchtree.Large(big, large, largeSize); err != nil {
		return err
	}
	fmt.Printf("sshd on %s; trees: %d small files (%.1f MiB), %d × %d MiB; cipher: the tools' defaults (AES-GCM), congestion control %s\n",
		srv.Addr(), files, float64(total)/(1<<20), large, largeSize>>20, congestion())
	dst := srv.TempDir(b)
	ssh := fmt.Sprintf("ssh -i %s -p %d -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", srv.KeyFile, srv.Port, srv.KnownHosts)
	remote := func(p string) string { return fmt.Sprintf("ssh://%s@%s:%d%s", srv.User, srv.Host, srv.Port, p) }
	asyncCmd := func(src, to, state string, extra ...string) []string {
		return append([]string{abs, "--known-hosts", srv.KnownHosts, "-q", "-L", filepath.Join(state, "log"), "-N", "bench",
			"-i", srv.KeyFile, "-d", src, "-r", remote(to), "-b", filepath.Join(state, "db"), "--create-dir", "-t"}, extra...)
	}
	rsyncCmd := func(src, to string) []string {
		return []string{"rsync", "-a", "-e", ssh, src + "/", srv.User + "@" + srv.Host + ":" + to + "/"}
	}
	// Install the agent on the server before anything is timed.
	warm := filepath.Join(base, "warm")
	os.MkdirAll(warm, 0o755)
	if _, err := benchtree.Time(asyncCmd(warm, filepath.Join(dst, "warm"), filepath.Join(base, "warmstate"))); err != nil {
		return err
	}
	type step struct {
		name string
		cmd  func(round string) []string
	}
	measure := func(title string, src string, steps []step, unit func(time.Duration) string) error {
		best := make([]time.Duration, len(steps))
		for r := range rounds {
			round := filepath.Join(dst, fmt.Sprint("r", r))
			state := filepath.Join(base, fmt.Sprint("state", r))
			if err := os.MkdirAll(round, 0o755); err != nil {
				return err
			}
			srv.Chown(b, round) // rsync does not create missing parents
			order := make([]int, len(steps))
			for i := range order {
				order[i] = i
			}
			if r%2 == 1 { // alternate who goes first, pair by pair
				for i := 0; i+1 < len(order); i += 2 {
					order[i], order[i+1] = order[i+1], order[i]
				}
			}
			for _, i := range order {
				syscall.Sync()
				d, err := benchtree.Time(steps[i].cmd(round + "|" + state))
				if err != nil {
					return fmt.Errorf("%s: %w", steps[i].name, err)
				}
				if r == 0 || d < best[i] {
					best[i] = d
				}
			}
			os.RemoveAll(round)
			os.RemoveAll(state)
			os.RemoveAll(state + "4")
		}
		for i := 0; i+1 < len(steps); i += 2 {
			fmt.Printf("%-28s async %8.3fs (%s)   rsync -a -e ssh %8.3fs (%s)   async is %.2fx rsync\n",
				title+" "+strings.TrimPrefix(steps[i].name, "async "), best[i].Seconds(), unit(best[i]),
				best[i+1].Seconds(), unit(best[i+1]), best[i+1].Seconds()/best[i].Seconds())
		}
		return nil
	}
	split := func(rs string) (string, string) { r, s, _ := strings.Cut(rs, "|"); return r, s }
	smallSteps := []step{
		{"async initial", func(rs string) []string { r, s := split(rs); return asyncCmd(small, r+"/async", s) }},
		{"rsync initial", func(rs string) []string { r, _ := split(rs); return rsyncCmd(small, r+"/rsync") }},
		{"async resync", func(rs string) []string { r, s := split(rs); return asyncCmd(small, r+"/async", s) }},
		{"rsync resync", func(rs string) []string { r, _ := split(rs); return rsyncCmd(small, r+"/rsync") }},
	}
	if err := measure("small files:", small, smallSteps, func(d time.Duration) string {
		return fmt.Sprintf("%6.0f files/s", float64(files)/d.Seconds())
	}); err != nil {
		return err
	}
	largeSteps := []step{
		{"async initial", func(rs string) []string { r, s := split(rs); return asyncCmd(big, r+"/async", s) }},
		{"rsync initial", func(rs string) []string { r, _ := split(rs); return rsyncCmd(big, r+"/rsync") }},
		{"async --transfer-threads 4", func(rs string) []string {
			r, s := split(rs)
			return asyncCmd(big, r+"/async4", s+"4", "--transfer-threads", "4")
		}},
		{"rsync initial", func(rs string) []string { r, _ := split(rs); return rsyncCmd(big, r+"/rsync4") }},
	}
	return measure("large files:", big, largeSteps, func(d time.Duration) string {
		return fmt.Sprintf("%4.0f MiB/s", float64(int64(large)*largeSize)/(1<<20)/d.Seconds())
	})
}

func congestion() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
