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
	base, err := os.MkdirTemp(dir, "async-s3bench-")
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
	type step struct {
		name string
		cmd  func(bucket, state string) []string
	}
	measure := func(title string, steps []step, unit func(time.Duration) string) error {
		best := make([]time.Duration, len(steps))
		for r := range rounds {
			buckets := [2]string{srv.Bucket(b), srv.Bucket(b)} // async's, rclone's
			state := filepath.Join(base, fmt.Sprint("state", r))
			order := []int{}
			for i := range steps {
				order = append(order, i)
			}
			if r%2 == 1 {
				for i := 0; i+1 < len(order); i += 2 {
					order[i], order[i+1] = order[i+1], order[i]
				}
			}
			for _, i := range order {
				d, err := benchtree.Time(steps[i].cmd(buckets[i%2], state), env...)
				if err != nil {
					return fmt.Errorf("%s: %w", steps[i].name, err)
				}
				if r == 0 || d < best[i] {
					best[i] = d
				}
			}
			os.RemoveAll(state)
			for _, bk := range buckets {
				os.RemoveAll(filepath.Join(srv.Root, bk))
			}
		}
		for i := 0; i+1 < len(steps); i += 2 {
			fmt.Printf("%-24s async %8.3fs (%s)   rclone %8.3fs (%s)   async is %.2fx rclone\n",
				title+" "+steps[i].name, best[i].Seconds(), unit(best[i]), best[i+1].Seconds(), unit(best[i+1]),
				best[i+1].Seconds()/best[i].Seconds())
		}
		return nil
	}
	smallSteps := []step{
		{"initial", func(bk, st string) []string { return asyncCmd(small, bk, st) }},
		{"rclone initial", func(bk, _ string) []string { return rcloneCmd(small, bk) }},
		{"resync", func(bk, st string) []string { return asyncCmd(small, bk, st) }},
		{"rclone resync", func(bk, _ string) []string { return rcloneCmd(small, bk) }},
	}
	if err := measure("small files:", smallSteps, func(d time.Duration) string {
		return fmt.Sprintf("%6.0f files/s", float64(files)/d.Seconds())
	}); err != nil {
		return err
	}
	largeSteps := []step{
		{"initial", func(bk, st string) []string { return asyncCmd(big, bk, st) }},
		{"rclone initial", func(bk, _ string) []string { return rcloneCmd(big, bk) }},
	}
	return measure("large files:", largeSteps, func(d time.Duration) string {
		return fmt.Sprintf("%4.0f MiB/s", float64(int64(large)*largeSize)/(1<<20)/d.Seconds())
	})
}
