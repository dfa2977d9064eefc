// Command s3sync is async's S3 benchmark (make bench): it starts versitygw
// on 127.0.0.1 and times, in the same run and alternating who goes first,
// a push of many small files (initial copy and no-change resync) and of a
// few large files by async and by rclone (S3 backend, --transfers 16), and
// prints the ratios.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/async-sync/async/bench/internal/benchtree"
	"github.com/async-sync/async/internal/s3test"
)

func main() {
	bin := flag.String("async", "bin/async", "async binary")
	rclone := flag.String("rclone", defaultRclone(), "rclone binary (v1.76.0: make bench builds it)")
	files := flag.Int("files", 50000, "number of small files")
	size := flag.Int("size", 4096, "largest small file in bytes (sizes are uniform from 1)")
	large := flag.Int("large-files", 8, "number of large files")
	largeSize := flag.Int64("large-size", 256<<20, "size of each large file in bytes")
	rounds := flag.Int("rounds", 3, "repetitions (the tools alternate going first); the best time counts")
	dir := flag.String("dir", "/dev/shm", "where the trees and the store live (/dev/shm takes the disk out of the measure)")
	flag.Parse()
	b := &bench{}
	err := b.run(*bin, *rclone, *dir, *files, *size, *large, *largeSize, *rounds)
	b.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func defaultRclone() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "async-tools", "rclone-v1.76.0", "rclone")
}

// bench is a benchmark run; its Env is the T of the servers it starts.
type bench struct{ benchtree.Env }

func (b *bench) cleanup() { b.Close() }

func (b *bench) run(bin, rclone, dir string, files, size, large int, largeSize int64, rounds int) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(rclone); err != nil {
		return fmt.Errorf("rclone v1.76.0 is the peer: %w (GOBIN=%s go install github.com/rclone/rclone@v1.76.0)", err, filepath.Dir(rclone))
	}
	srv := s3test.StartIn(b, dir)
	base, small, big, total, err := benchtree.Trees(&b.Env, dir, "async-s3bench-", files, size, large, largeSize)
	if err != nil {
		return err
	}
	fmt.Printf("versitygw %s on %s (posix backend in %s); trees: %d small files (%.1f MiB), %d × %d MiB\n",
		s3test.Version, srv.Endpoint, dir, files, float64(total)/(1<<20), large, largeSize>>20)
	env := append(srv.Env(),
		"RCLONE_CONFIG_T_TYPE=s3", "RCLONE_CONFIG_T_PROVIDER=Other", "RCLONE_CONFIG_T_ENDPOINT="+srv.Endpoint,
		"RCLONE_CONFIG_T_ACCESS_KEY_ID="+srv.AccessKey, "RCLONE_CONFIG_T_SECRET_ACCESS_KEY="+srv.SecretKey,
		"RCLONE_CONFIG_T_REGION=us-east-1", "RCLONE_CONFIG_T_FORCE_PATH_STYLE=true", "AWS_CA_BUNDLE=")
	asyncCmd := func(src, bucket, state string) []string {
		return []string{abs, "-q", "-L", filepath.Join(state, "log"), "-N", "bench", "-d", src,
			"-r", fmt.Sprintf("s3://%s/t?endpoint=%s&path_style=true", bucket, srv.Endpoint), "-b", filepath.Join(state, "db"),
			"-B", filepath.Join(state, "rdb"), "-t"}
	}
	rcloneCmd := func(src, bucket string) []string {
		return []string{rclone, "--config", "/dev/null", "sync", src, "t:" + bucket + "/t", "--transfers", "16", "--checkers", "16"}
	}
	var buckets [2]string // async's, rclone's, made anew each round
	stateDir := func(r int) string { return filepath.Join(base, fmt.Sprint("state", r)) }
	plan := benchtree.Rounds{N: rounds, Env: env,
		Setup: func(int) error {
			buckets = [2]string{srv.Bucket(b), srv.Bucket(b)}
			return nil
		},
		Teardown: func(r int) error {
			for _, bk := range buckets {
				os.RemoveAll(filepath.Join(srv.Root, bk))
			}
			return os.RemoveAll(stateDir(r))
		}}
	report := func(title string, steps []benchtree.Step, unit func(time.Duration) string) error {
		best, err := benchtree.Best(plan, steps)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(steps); i += 2 {
			fmt.Printf("%-24s async %8.3fs (%s)   rclone %8.3fs (%s)   async is %.2fx rclone\n",
				title+" "+steps[i].Name, best[i].Seconds(), unit(best[i]), best[i+1].Seconds(), unit(best[i+1]),
				best[i+1].Seconds()/best[i].Seconds())
		}
		return nil
	}
	pushAsync := func(src string) func(int) []string {
		return func(r int) []string { return asyncCmd(src, buckets[0], stateDir(r)) }
	}
	pushRclone := func(src string) func(int) []string {
		return func(int) []string { return rcloneCmd(src, buckets[1]) }
	}
	err = report("small files:", []benchtree.Step{
		{Name: "initial", Cmd: pushAsync(small)}, {Name: "rclone initial", Cmd: pushRclone(small)},
		{Name: "resync", Cmd: pushAsync(small)}, {Name: "rclone resync", Cmd: pushRclone(small)},
	}, func(d time.Duration) string { return fmt.Sprintf("%6.0f files/s", float64(files)/d.Seconds()) })
	if err != nil {
		return err
	}
	return report("large files:", []benchtree.Step{
		{Name: "initial", Cmd: pushAsync(big)}, {Name: "rclone initial", Cmd: pushRclone(big)},
	}, func(d time.Duration) string {
		return fmt.Sprintf("%4.0f MiB/s", float64(int64(large)*largeSize)/(1<<20)/d.Seconds())
	})
}
