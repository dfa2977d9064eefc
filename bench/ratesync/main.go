// Command ratesync measures -l/--target-rate (make bench): for each rate
// it pushes about 20 seconds' worth of data local→local (memory when
// /dev/shm exists) and prints the achieved rate against the target.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/async-sync/async/bench/internal/benchtree"
	"github.com/async-sync/async/rate"
)

func main() {
	bin := flag.String("async", "bin/async", "async binary")
	rates := flag.String("rates", "10m,80m,400m", "target rates to measure")
	secs := flag.Float64("seconds", 20, "how long each measure should last")
	dir := flag.String("dir", "/dev/shm", "where the trees live")
	flag.Parse()
	if err := run(*bin, *rates, *secs, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin, rates string, secs float64, dir string) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	base, err := os.MkdirTemp(dir, "async-ratebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	for i, r := range strings.Split(rates, ",") {
		bps, err := rate.ParseRate(r)
		if err != nil {
			return err
		}
		size := int64(float64(bps) / 8 * secs)
		src := filepath.Join(base, fmt.Sprint("src", i))
		const files = 8
		if err := benchtree.Large(src, files, size/files); err != nil {
			return err
		}
		total := size / files * files
		d, err := benchtree.Time([]string{abs, "-q", "-N", "rate", "-d", src, "-r", filepath.Join(base, fmt.Sprint("dst", i)),
			"-b", filepath.Join(base, fmt.Sprint("db", i)), "-L", filepath.Join(base, "log"), "--create-dir", "-l", r},
			"XDG_STATE_HOME="+filepath.Join(base, "state"))
		if err != nil {
			return err
		}
		got := float64(total) * 8 / d.Seconds()
		fmt.Printf("-l %-5s %6.1f MB in %5.2fs: achieved %8.2f Mbit/s (target %8.2f, %+.1f%%; startup included)\n",
			r, float64(total)/1e6, d.Seconds(), got/1e6, float64(bps)/1e6, (got/float64(bps)-1)*100)
		os.RemoveAll(src)
	}
	return nil
}
