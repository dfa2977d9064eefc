// Command sshsync is async's SSH benchmark (make bench): it starts
// Debian's sshd on 127.0.0.1 with a benchmark user, then times, in the same
// run and alternating who goes first, a push of many small files (initial
// copy and no-change resync), a pull of them back (the server's tree
// scanned), and a push of a few large files by async (through its agent)
// and by rsync -a -e ssh, and prints the ratios and async's peak RSS. With -profile DIR
// it compares nothing: it pushes the small files once, resyncs them and
// pulls them into an empty directory, with CPU profiles of async
// (client-STEP.prof) and of its agent (agent-STEP.prof, through a wrapper
// around the installed agent) in DIR.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	profile := flag.String("profile", "", "instead of comparing, push the small files once (initial, then resync) and pull them into an empty directory, with CPU profiles of async and its agent written to this directory")
	flag.Parse()
	b := &bench{}
	defer b.cleanup()
	if err := b.run(*bin, *dir, *files, *size, *large, *largeSize, *rounds, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		b.cleanup()
		os.Exit(1)
	}
}

// bench is a benchmark run; its Env is the T of the servers it starts.
type bench struct{ benchtree.Env }

func (b *bench) cleanup() { b.Close() }

func (b *bench) run(bin, dir string, files, size, large int, largeSize int64, rounds int, profile string) error {
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
	base, small, big, total, err := benchtree.Trees(&b.Env, dir, "async-sshbench-", files, size, large, largeSize)
	if err != nil {
		return err
	}
	fmt.Printf("sshd on %s; trees: %d small files (%.1f MiB), %d × %d MiB; cipher: the tools' defaults (AES-GCM), congestion control %s\n",
		srv.Addr(), files, float64(total)/(1<<20), large, largeSize>>20, congestion())
	dst := srv.TempDir(b)
	ssh := fmt.Sprintf("ssh -i %s -p %d -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", srv.KeyFile, srv.Port, srv.KnownHosts)
	remote := func(p string) string { return fmt.Sprintf("ssh://%s@%s:%d%s", srv.User, srv.Host, srv.Port, p) }
	asyncSession := func(session, local, to, state string, extra ...string) []string {
		return append([]string{abs, "--known-hosts", srv.KnownHosts, "-q", "-L", filepath.Join(state, "log"), "-N", session,
			"-i", srv.KeyFile, "-d", local, "-r", remote(to), "-b", filepath.Join(state, "db"), "--create-dir", "-t"}, extra...)
	}
	asyncCmd := func(src, to, state string, extra ...string) []string {
		return asyncSession("bench", src, to, state, extra...)
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
	if profile != "" {
		pullSrc := filepath.Join(dst, "profpull")
		if out, err := exec.Command("cp", "-a", small, pullSrc).CombinedOutput(); err != nil {
			return fmt.Errorf("copy the tree to the server: %v: %s", err, out)
		}
		srv.Chown(b, pullSrc)
		return profileRuns(profile, srv.Home, small, func(step string) []string {
			if step == "pull" {
				return asyncSession("benchpull", filepath.Join(base, "profpulled"), pullSrc, filepath.Join(base, "profpullstate"), "-K", "pull")
			}
			return asyncCmd(small, filepath.Join(dst, "prof"), filepath.Join(base, "profstate"))
		})
	}
	roundDir := func(r int) string { return filepath.Join(dst, fmt.Sprint("r", r)) }
	stateDir := func(r int) string { return filepath.Join(base, fmt.Sprint("state", r)) }
	plan := benchtree.Rounds{N: rounds, Sync: true,
		Setup: func(r int) error {
			if err := os.MkdirAll(roundDir(r), 0o755); err != nil {
				return err
			}
			srv.Chown(b, roundDir(r)) // rsync does not create missing parents
			return nil
		},
		Teardown: func(r int) error {
			os.RemoveAll(stateDir(r))
			os.RemoveAll(stateDir(r) + "4")
			return os.RemoveAll(roundDir(r))
		}}
	report := func(title string, plan benchtree.Rounds, steps []benchtree.Step, unit func(time.Duration) string) error {
		best, err := benchtree.BestRuns(plan, steps)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(steps); i += 2 {
			a, r := best[i], best[i+1]
			fmt.Printf("%-28s async %8.3fs (%s, %4d MB)   rsync -a -e ssh %8.3fs (%s)   async is %.2fx rsync\n",
				title+" "+strings.TrimPrefix(steps[i].Name, "async "), a.Wall.Seconds(), unit(a.Wall), a.RSSKB>>10,
				r.Wall.Seconds(), unit(r.Wall), r.Wall.Seconds()/a.Wall.Seconds())
		}
		return nil
	}
	pushAsync := func(src, to, state string, extra ...string) func(int) []string {
		return func(r int) []string { return asyncCmd(src, roundDir(r)+to, stateDir(r)+state, extra...) }
	}
	pushRsync := func(src, to string) func(int) []string {
		return func(r int) []string { return rsyncCmd(src, roundDir(r)+to) }
	}
	perSec := func(d time.Duration) string { return fmt.Sprintf("%6.0f files/s", float64(files)/d.Seconds()) }
	err = report("small files:", plan, []benchtree.Step{
		{Name: "async initial", Cmd: pushAsync(small, "/async", "")},
		{Name: "rsync initial", Cmd: pushRsync(small, "/rsync")},
		{Name: "async resync", Cmd: pushAsync(small, "/async", "")},
		{Name: "rsync resync", Cmd: pushRsync(small, "/rsync")},
	}, perSec)
	if err != nil {
		return err
	}
	// A pull scans the server's tree: the agent's scan streams to the
	// client beside the server's snapshot records.
	pullPlan := plan
	pullPlan.Setup = func(r int) error {
		if err := plan.Setup(r); err != nil {
			return err
		}
		if err := os.MkdirAll(stateDir(r), 0o755); err != nil {
			return err
		}
		if out, err := exec.Command("cp", "-a", small, roundDir(r)+"/src").CombinedOutput(); err != nil {
			return fmt.Errorf("copy the tree to the server: %v: %s", err, out)
		}
		srv.Chown(b, roundDir(r))
		return nil
	}
	pullAsync := func(r int) []string {
		return asyncSession("benchpull", stateDir(r)+"/pulled-async", roundDir(r)+"/src", stateDir(r)+"/pull", "-K", "pull")
	}
	pullRsync := func(r int) []string {
		return []string{"rsync", "-a", "-e", ssh, srv.User + "@" + srv.Host + ":" + roundDir(r) + "/src/", stateDir(r) + "/pulled-rsync/"}
	}
	err = report("small files, pull:", pullPlan, []benchtree.Step{
		{Name: "async initial", Cmd: pullAsync},
		{Name: "rsync initial", Cmd: pullRsync},
		{Name: "async resync", Cmd: pullAsync},
		{Name: "rsync resync", Cmd: pullRsync},
	}, perSec)
	if err != nil {
		return err
	}
	return report("large files:", plan, []benchtree.Step{
		{Name: "async initial", Cmd: pushAsync(big, "/async", "")},
		{Name: "rsync initial", Cmd: pushRsync(big, "/rsync")},
		{Name: "async --transfer-threads 4", Cmd: pushAsync(big, "/async4", "4", "--transfer-threads", "4")},
		{Name: "rsync initial", Cmd: pushRsync(big, "/rsync4")},
	}, func(d time.Duration) string {
		return fmt.Sprintf("%4.0f MiB/s", float64(int64(large)*largeSize)/(1<<20)/d.Seconds())
	})
}

// profileRuns wraps the agents installed in home so that each writes a CPU
// profile into dir, then runs an initial push, a no-change resync and a
// first pull, each with a profile of the client.
func profileRuns(dir, home, small string, cmd func(step string) []string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // the agent runs as the benchmark user
		return err
	}
	agents, err := filepath.Glob(filepath.Join(home, ".cache/async/agent/*/async"))
	if err != nil || len(agents) == 0 {
		return fmt.Errorf("no installed agent under %s", home)
	}
	defer func() { // the agents as they were, for the comparisons of later runs
		for _, a := range agents {
			if _, err := os.Stat(a + ".real"); err == nil {
				os.Rename(a+".real", a)
			}
		}
	}()
	for _, step := range []string{"initial", "resync", "pull"} {
		for _, a := range agents {
			real := a + ".real"
			if _, err := os.Stat(real); err != nil {
				if err := os.Rename(a, real); err != nil {
					return err
				}
			}
			script := fmt.Sprintf("#!/bin/sh\nASYNC_CPUPROFILE=%s/agent-%s.prof exec %s \"$@\"\n", dir, step, real)
			if err := os.WriteFile(a, []byte(script), 0o755); err != nil {
				return err
			}
		}
		d, err := benchtree.Time(cmd(step), "ASYNC_CPUPROFILE="+filepath.Join(dir, "client-"+step+".prof"))
		if err != nil {
			return err
		}
		fmt.Printf("async %s %.3fs; profiles in %s\n", step, d.Seconds(), dir)
	}
	return nil
}

func congestion() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
