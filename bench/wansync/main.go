// Command wansync is async's WAN benchmark (make bench): two network
// namespaces joined by bench/wanem (one-way delay, random loss and a rate
// limit each way), Debian's sshd in one, and, on the same emulated link in
// the same run, async (through its agent and its data path) and
// rsync -a -e ssh push and pull a large file and push a tree of small
// files. It prints times, goodput and async's speed as a multiple of
// rsync's for a grid of round-trip times × loss rates.
//
// Both namespaces run the system congestion control given by -cc (cubic
// by default, as a stock Linux host does); rsync's ssh uses it, while
// async's data path asks for bbr per socket and reports what it got. To
// let a namespace choose cubic, the benchmark adds it to
// net.ipv4.tcp_allowed_congestion_control for the run and restores the
// list afterwards.
//
// It needs root, ip(8), /dev/net/tun, sshd, ssh and rsync. A full grid
// with 256 MiB at CUBIC's lossy rates takes hours: pick a subset with
// -rtt, -loss, -ops and -size.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// config is the benchmark's command line.
type config struct {
	async, wanem      string
	rtts              []time.Duration
	losses            []float64 // percent
	rate              float64   // bit/s each way
	sizeMiB           int
	files             int
	cc                string
	ops               map[string]bool
	timeout           time.Duration
	cap               time.Duration
	share             []string // -a policies of the fair-share measure
	shareWindow       time.Duration
	transports        []string
	tpStreams         int
	dir               string
	asyncFlags        []string
	prefix            string
	serverIP, localIP string
}

func main() {
	var c config
	var rtts, losses, ops, asyncFlags string
	flag.StringVar(&c.async, "async", "bin/async", "async binary")
	flag.StringVar(&c.wanem, "wanem", "bin/wanem", "wanem binary (go build -o bin/wanem ./bench/wanem)")
	flag.StringVar(&rtts, "rtt", "10ms,50ms,150ms", "round-trip times, comma-separated")
	flag.StringVar(&losses, "loss", "0,0.5,2", "random loss each way in percent, comma-separated")
	flag.Float64Var(&c.rate, "rate", 100e6, "link rate each way in bit/s")
	flag.IntVar(&c.sizeMiB, "size", 256, "large file size in MiB")
	flag.IntVar(&c.files, "files", 2000, "small files (1 to 8 KiB each)")
	flag.StringVar(&c.cc, "cc", "cubic", "system TCP congestion control in both namespaces")
	flag.StringVar(&ops, "ops", "push,pull,small", "what to run: push and pull (the large file), small (push of the small files), transport (the data path's transports alone: -transports), share (a push with -l at the link rate beside a competing TCP flow, per -share policy)")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Minute, "bound on one tool's run (a timed-out run is reported as such)")
	flag.DurationVar(&c.cap, "cap", 2*time.Minute, "stop rsync after this long and report its time as a lower bound (\"> N s\", with the time the part it moved implies); 0: no cap")
	var share string
	flag.StringVar(&share, "share", "fair,low", "with -ops share: the -a policies measured against a competing TCP flow")
	flag.DurationVar(&c.shareWindow, "share-window", 20*time.Second, "with -ops share: how long each share is measured")
	var transports string
	flag.StringVar(&transports, "transports", "tcp,udp,quic", "with -ops transport: the data path transports compared")
	flag.IntVar(&c.tpStreams, "tp-streams", 4, "with -ops transport: streams per transport")
	tpServe := flag.String("tp-serve", "", "internal: receive by this transport")
	tpSend := flag.String("tp-send", "", "internal: send by this transport")
	tpAddr := flag.String("tp-addr", "", "internal: the receiver's address")
	tpSize := flag.Int64("tp-size", 0, "internal: bytes to send")
	tpRate := flag.Float64("tp-rate", 100e6, "internal: the link rate")
	tpRTT := flag.Duration("tp-rtt", 50*time.Millisecond, "internal: the round trip")
	sink := flag.String("sink", "", "internal: listen on this address and discard what arrives")
	source := flag.String("source", "", "internal: send to this address until stopped, then print the bytes sent")
	flag.StringVar(&c.dir, "dir", "/dev/shm", "where trees and the benchmark user's home live")
	flag.StringVar(&asyncFlags, "async-flags", "", "extra async options, space-separated (e.g. --data-streams 8)")
	flag.StringVar(&c.prefix, "ns", "asyncwan", "prefix of the namespace names")
	flag.Parse()
	if *tpServe != "" || *tpSend != "" {
		var err error
		if *tpServe != "" {
			err = runTransportServe(*tpServe, *tpAddr, c.tpStreams, *tpRate, *tpRTT)
		} else {
			err = runTransportSend(*tpSend, *tpAddr, c.tpStreams, *tpSize, *tpRate, *tpRTT)
		}
		if err != nil {
			fail(err)
		}
		return
	}
	c.transports = strings.Split(transports, ",")
	if *sink != "" || *source != "" {
		var err error
		if *source != "" {
			err = runSource(*source)
		} else {
			err = runSink(*sink)
		}
		if err != nil {
			fail(err)
		}
		return
	}
	c.share = strings.Split(share, ",")
	c.serverIP, c.localIP = "10.99.0.102", "10.99.0.101"
	c.asyncFlags = strings.Fields(asyncFlags)
	c.ops = map[string]bool{}
	for _, o := range strings.Split(ops, ",") {
		c.ops[strings.TrimSpace(o)] = true
	}
	var err error
	for _, s := range strings.Split(rtts, ",") {
		d, perr := time.ParseDuration(strings.TrimSpace(s))
		if perr != nil || d < 0 {
			fail(fmt.Errorf("option -rtt: %q", s))
		}
		c.rtts = append(c.rtts, d)
	}
	for _, s := range strings.Split(losses, ",") {
		l, perr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if perr != nil || l < 0 || l >= 100 {
			fail(fmt.Errorf("option -loss: %q", s))
		}
		c.losses = append(c.losses, l)
	}
	if c.async, err = filepath.Abs(c.async); err != nil {
		fail(err)
	}
	if c.wanem, err = filepath.Abs(c.wanem); err != nil {
		fail(err)
	}
	b := &bench{c: c}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		b.cleanup() // namespaces, sshd, the allowed congestion controls
		os.Exit(1)
	}()
	err = b.run()
	b.cleanup()
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wansync:", err)
	os.Exit(1)
}

// bench holds what a run set up, to take it down again.
type bench struct {
	c        config
	undo     []func()
	wanem    *exec.Cmd
	nsA, nsB string
	keyDir   string
	lastLog  string // the last async run's log
	// rsyncMoved is what the last rsync run held at its destination at
	// most; total what a whole run moves.
	rsyncMoved, total int64
	user              string
	home              string
	sshOpt            string
}

func (b *bench) cleanup() {
	b.stopWanem()
	for i := len(b.undo) - 1; i >= 0; i-- {
		b.undo[i]()
	}
	b.undo = nil
}

// sh runs a command and fails with its output.
func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (b *bench) run() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "rsync", "ssh", "ssh-keygen", "/usr/sbin/sshd", b.c.async, b.c.wanem} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed: %w", tool, err)
		}
	}
	if err := b.network(); err != nil {
		return err
	}
	if err := b.sshd(); err != nil {
		return err
	}
	base, err := os.MkdirTemp(b.c.dir, "async-wansync-")
	if err != nil {
		return err
	}
	b.undo = append(b.undo, func() { os.RemoveAll(base) })
	big := filepath.Join(base, "big")
	small := filepath.Join(base, "small")
	if err := writeLarge(filepath.Join(big, "large.bin"), int64(b.c.sizeMiB)<<20); err != nil {
		return err
	}
	smallBytes, err := writeSmall(small, b.c.files)
	if err != nil {
		return err
	}
	// The pull's source, on the server.
	srvBig := filepath.Join(b.home, "wan-src")
	if err := sh("cp", "-a", big, srvBig); err != nil {
		return err
	}
	if err := sh("chown", "-R", b.user+":", srvBig); err != nil {
		return err
	}
	b.undo = append(b.undo, func() { os.RemoveAll(srvBig) })
	fmt.Printf("wansync: %s ↔ %s over wanem at %.0f Mbit/s each way; system congestion control %s in both namespaces; async asks for bbr per data socket\n",
		b.c.localIP, b.c.serverIP, b.c.rate/1e6, b.c.cc)
	fmt.Printf("large file %d MiB; %d small files (%.1f MiB); async options: %v\n", b.c.sizeMiB, b.c.files, float64(smallBytes)/(1<<20), b.c.asyncFlags)
	// Install the agent before anything is timed.
	if err := b.startWanem(0, 0); err != nil {
		return err
	}
	warm := filepath.Join(base, "warm")
	os.MkdirAll(warm, 0o755)
	if _, _, err := b.timeAsync(warm, b.remoteDir("warm"), filepath.Join(base, "warmstate"), false); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, rtt := range b.c.rtts {
		for _, loss := range b.c.losses {
			if err := b.startWanem(rtt, loss); err != nil {
				return err
			}
			cell := fmt.Sprintf("rtt %-6v loss %4.1f%%", rtt, loss)
			run := 0
			next := func() string { run++; return filepath.Join(base, fmt.Sprintf("run-%v-%v-%d", rtt, loss, run)) }
			mbits := func(n int64, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e6 }
			size := int64(b.c.sizeMiB) << 20
			if b.c.ops["push"] {
				w := next()
				ad, cc, aerr := b.timeAsync(big, b.remoteDir(filepath.Base(w)+"-a"), w, false)
				b.total = size
				rd, rerr := b.timeRsync(big+"/", b.user+"@"+b.c.serverIP+":"+b.remoteDir(filepath.Base(w)+"-r")+"/", b.remoteDir(filepath.Base(w)+"-r"), false)
				b.report(cell, fmt.Sprintf("large push %d MiB", b.c.sizeMiB), ad, aerr, rd, rerr, cc, func(d time.Duration) string {
					return fmt.Sprintf("%6.1f Mbit/s", mbits(size, d))
				})
				b.clearServer(filepath.Base(w))
			}
			if b.c.ops["pull"] {
				w := next()
				ad, cc, aerr := b.timeAsync(w+"-a", "wan-src", w, true)
				b.total = size
				rd, rerr := b.timeRsync(b.user+"@"+b.c.serverIP+":wan-src/", w+"-r/", w+"-r", true)
				b.report(cell, fmt.Sprintf("large pull %d MiB", b.c.sizeMiB), ad, aerr, rd, rerr, cc, func(d time.Duration) string {
					return fmt.Sprintf("%6.1f Mbit/s", mbits(size, d))
				})
				os.RemoveAll(w + "-a")
				os.RemoveAll(w + "-r")
				b.clearPullState()
			}
			if b.c.ops["small"] {
				w := next()
				ad, cc, aerr := b.timeAsync(small, b.remoteDir(filepath.Base(w)+"-a"), w, false)
				b.total = smallBytes
				rd, rerr := b.timeRsync(small+"/", b.user+"@"+b.c.serverIP+":"+b.remoteDir(filepath.Base(w)+"-r")+"/", b.remoteDir(filepath.Base(w)+"-r"), false)
				b.report(cell, fmt.Sprintf("%d small files", b.c.files), ad, aerr, rd, rerr, cc, func(d time.Duration) string {
					return fmt.Sprintf("%6.0f files/s", float64(b.c.files)/d.Seconds())
				})
				b.clearServer(filepath.Base(w))
			}
			if b.c.ops["transport"] {
				for _, k := range b.c.transports {
					b.transport(cell, k, rtt)
				}
			}
			if b.c.ops["share"] {
				for _, p := range b.c.share {
					if err := b.share(cell, big, p); err != nil {
						fmt.Printf("%s  share -a %s FAILED: %v\n", cell, p, err)
					}
				}
			}
		}
	}
	return nil
}

// report prints one measurement: both tools' times, and async's speed as
// a multiple of rsync's.
func (b *bench) report(cell, what string, ad time.Duration, aerr error, rd time.Duration, rerr error, cc string, unit func(time.Duration) string) {
	show := func(d time.Duration, err error) string {
		switch {
		case errors.Is(err, errCapped) && b.rsyncMoved > 0 && b.total > 0:
			est := time.Duration(float64(d) * float64(b.total) / float64(b.rsyncMoved))
			return fmt.Sprintf("> %4.0fs (moved %.0f%%: ~%.0fs, ~%s)", d.Seconds(), 100*float64(b.rsyncMoved)/float64(b.total), est.Seconds(), strings.TrimSpace(unit(est)))
		case errors.Is(err, errCapped):
			return fmt.Sprintf("> %6.0fs (< %s)", d.Seconds(), strings.TrimSpace(unit(d)))
		case err != nil:
			return fmt.Sprintf("%-30s", "FAILED ("+short(err)+")")
		}
		return fmt.Sprintf("%8.2fs (%s)", d.Seconds(), unit(d))
	}
	ratio := "-"
	switch {
	case aerr == nil && errors.Is(rerr, errCapped) && b.rsyncMoved > 0 && b.total > 0:
		est := rd.Seconds() * float64(b.total) / float64(b.rsyncMoved)
		ratio = fmt.Sprintf("> %.2fx (~%.1fx from the part rsync moved)", rd.Seconds()/ad.Seconds(), est/ad.Seconds())
	case aerr == nil && errors.Is(rerr, errCapped):
		ratio = fmt.Sprintf("> %.2fx", rd.Seconds()/ad.Seconds())
	case aerr == nil && rerr == nil:
		ratio = fmt.Sprintf("%.2fx", rd.Seconds()/ad.Seconds())
	}
	fmt.Printf("%s  %-20s async %s  rsync -e ssh %s  async/rsync speed %s  [async data path: %s]\n", cell, what, show(ad, aerr), show(rd, rerr), ratio, cc)
}

func short(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// remoteDir names a directory in the benchmark user's home.
func (b *bench) remoteDir(name string) string { return filepath.Join(b.home, "wan-dst", name) }

func (b *bench) clearServer(name string) {
	os.RemoveAll(b.remoteDir(name + "-a"))
	os.RemoveAll(b.remoteDir(name + "-r"))
}

// clearPullState drops the snapshot a pull left beside its source.
func (b *bench) clearPullState() {
	os.RemoveAll(filepath.Join(b.home, "wan-src", ".private-asp"))
}

// errCapped: a run stopped at -cap; its time is a lower bound.
var errCapped = errors.New("capped")

// inA runs argv in the client's namespace, bounded by the timeout, or by
// limit when it is shorter (then errCapped). ru is the process's CPU.
func (b *bench) inA(limit time.Duration, argv ...string) (time.Duration, []byte, cpu, error) {
	bound := b.c.timeout
	if limit > 0 && limit < bound {
		bound = limit
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", b.nsA}, argv...)...)
	// A stopped run takes its children with it (rsync's ssh and
	// receiver hold the output pipe open otherwise).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	var used cpu
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		used = cpu(time.Duration(ru.Utime.Nano() + ru.Stime.Nano()))
	}
	switch {
	case ctx.Err() != nil && bound < b.c.timeout:
		return d, out, used, errCapped
	case ctx.Err() != nil:
		return d, out, used, fmt.Errorf("timed out after %v", b.c.timeout)
	case err != nil:
		return d, out, used, fmt.Errorf("%v: %s", err, strings.TrimSpace(lastLine(string(out))))
	}
	return d, out, used, nil
}

// cpu is user and system time.
type cpu time.Duration

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

var ccRe = regexp.MustCompile(`data path open.*streams=(\d+) congestion=(\S*) "?server congestion"?=(\S*)`)

// timeAsync runs async between local and a server directory (a push, or
// a pull into local), with its state under state; it returns the time
// and what its log says of the data path.
func (b *bench) timeAsync(local, remote, state string, pull bool, extra ...string) (time.Duration, string, error) {
	if err := os.MkdirAll(local, 0o755); err != nil {
		return 0, "", err
	}
	args := []string{b.c.async, "--known-hosts", filepath.Join(b.keyDir, "known_hosts"), "-q", "-N", "wan",
		"-i", filepath.Join(b.keyDir, "clientkey"), "-d", local, "-r", fmt.Sprintf("ssh://%s@%s%s", b.user, b.c.serverIP, abs(b.home, remote)),
		"-b", filepath.Join(state, "db"), "-L", filepath.Join(state, "log"), "--create-dir", "-t", "-D"}
	if pull {
		args = append(args, "-K", "pull")
	}
	args = append(append(args, b.c.asyncFlags...), extra...)
	agent := watchAgent("/run/netns/" + b.nsB)
	d, out, used, err := b.inA(0, args...)
	agentCPU := agent()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "warning") {
			fmt.Println("  async said:", l)
		}
	}
	log, _ := os.ReadFile(filepath.Join(state, "log", "async-wan.log"))
	cc := "none (SSH only)"
	if m := ccRe.FindStringSubmatch(string(log)); m != nil {
		cc = fmt.Sprintf("%s streams, %s here, %s on the server", m[1], m[2], m[3])
	}
	cc += fmt.Sprintf("; cpu async %.1fs, agent %.1fs (%.0f%% + %.0f%% of a core)", time.Duration(used).Seconds(), agentCPU.Seconds(),
		100*time.Duration(used).Seconds()/d.Seconds(), 100*agentCPU.Seconds()/d.Seconds())
	if m := copyRe.FindStringSubmatch(string(log)); m != nil {
		bps, _ := strconv.ParseFloat(m[1], 64)
		cc = fmt.Sprintf("the copy itself %.1f Mbit/s; %s", bps*8/1e6, cc)
	}
	b.lastLog = string(log)
	if keep := os.Getenv("WANSYNC_KEEP_LOGS"); keep != "" { // for a closer look
		os.MkdirAll(keep, 0o755)
		os.WriteFile(filepath.Join(keep, filepath.Base(state)+".log"), log, 0o644)
	}
	os.RemoveAll(state)
	return d, cc, err
}

// watchAgent samples the CPU time of every agent ("async server
// --stdio") running in the namespace at nsPath every 100 ms until the
// returned function is called, which returns their total.
func watchAgent(nsPath string) func() time.Duration {
	var nsIno uint64
	if fi, err := os.Stat(nsPath); err == nil {
		nsIno = fi.Sys().(*syscall.Stat_t).Ino
	}
	seen := map[string]time.Duration{}
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil || !strings.Contains(string(cmd), "server\x00--stdio") {
				continue
			}
			if fi, err := os.Stat("/proc/" + e.Name() + "/ns/net"); err != nil || fi.Sys().(*syscall.Stat_t).Ino != nsIno {
				continue // another namespace's agent (tests running beside the benchmark)
			}
			st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
			if len(f) < 13 {
				continue
			}
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			stt, _ := strconv.ParseInt(f[12], 10, 64)
			seen[e.Name()] = time.Duration(ut+stt) * 10 * time.Millisecond // USER_HZ 100
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() time.Duration {
		close(stop)
		<-done
		var total time.Duration
		for _, d := range seen {
			total += d
		}
		return total
	}
}

func abs(home, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(home, p)
}

// timeRsync runs rsync -a -e ssh from src to dst. watch is where dst
// is on this machine: while rsync runs the bytes it holds are sampled, so
// that a run stopped at -cap still says how far it got (b.rsyncMoved).
func (b *bench) timeRsync(src, dst, watch string, pull bool) (time.Duration, error) {
	if pull {
		os.MkdirAll(strings.TrimSuffix(dst, "/"), 0o755)
	}
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		var most int64
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			most = max(most, held(watch))
			select {
			case <-stop:
				done <- most
				return
			case <-t.C:
			}
		}
	}()
	d, _, _, err := b.inA(b.c.cap, "rsync", "-a", "-e", b.sshOpt, src, dst)
	close(stop)
	b.rsyncMoved = <-done
	return d, err
}

// network creates the two namespaces and their TUN devices, and sets
// the congestion control.
func (b *bench) network() error {
	b.nsA, b.nsB = b.c.prefix+"A", b.c.prefix+"B"
	sh("ip", "netns", "del", b.nsA) // left by an interrupted run
	sh("ip", "netns", "del", b.nsB)
	for _, ns := range []string{b.nsA, b.nsB} {
		if err := sh("ip", "netns", "add", ns); err != nil {
			return err
		}
		b.undo = append(b.undo, func() { sh("ip", "netns", "del", ns) })
	}
	steps := [][]string{
		{"ip", "-n", b.nsA, "tuntap", "add", "dev", "tunA", "mode", "tun"},
		{"ip", "-n", b.nsB, "tuntap", "add", "dev", "tunB", "mode", "tun"},
		{"ip", "-n", b.nsA, "addr", "add", b.c.localIP, "peer", b.c.serverIP, "dev", "tunA"},
		{"ip", "-n", b.nsB, "addr", "add", b.c.serverIP, "peer", b.c.localIP, "dev", "tunB"},
	}
	for _, ns := range [][2]string{{b.nsA, "tunA"}, {b.nsB, "tunB"}} {
		steps = append(steps, []string{"ip", "-n", ns[0], "link", "set", "lo", "up"},
			[]string{"ip", "-n", ns[0], "link", "set", ns[1], "up", "txqueuelen", "10000"})
	}
	for _, s := range steps {
		if err := sh(s...); err != nil {
			return err
		}
	}
	// A namespace may only choose an allowed algorithm: allow -cc for
	// the run (and bbr, which async asks for), then restore the list.
	const allowed = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
	old, err := os.ReadFile(allowed)
	if err != nil {
		return err
	}
	list := strings.Fields(string(old))
	for _, want := range []string{b.c.cc, "bbr"} {
		if !contains(list, want) {
			list = append(list, want)
		}
	}
	if err := os.WriteFile(allowed, []byte(strings.Join(list, " ")), 0o644); err != nil {
		return fmt.Errorf("allow %s: %w", b.c.cc, err)
	}
	b.undo = append(b.undo, func() { os.WriteFile(allowed, old, 0o644) })
	for _, ns := range []string{b.nsA, b.nsB} {
		if err := sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_congestion_control="+b.c.cc); err != nil {
			return err
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// startWanem (re)starts the delay line for one cell.
func (b *bench) startWanem(rtt time.Duration, loss float64) error {
	b.stopWanem()
	cmd := exec.Command(b.c.wanem, "-nsa", "/run/netns/"+b.nsA, "-nsb", "/run/netns/"+b.nsB,
		"-delay", (rtt / 2).String(), "-loss", strconv.FormatFloat(loss/100, 'f', -1, 64), "-rate", strconv.FormatFloat(b.c.rate, 'f', -1, 64))
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	b.wanem = cmd
	time.Sleep(300 * time.Millisecond) // the TUN devices open
	return nil
}

func (b *bench) stopWanem() {
	if b.wanem != nil {
		b.wanem.Process.Signal(syscall.SIGTERM)
		b.wanem.Wait()
		b.wanem = nil
	}
}

// sshd starts Debian's sshd in the server's namespace, with a benchmark
// user and fresh keys.
func (b *bench) sshd() error {
	b.user = b.c.prefix // concurrent runs with other -ns prefixes keep apart
	b.home = filepath.Join(b.c.dir, b.c.prefix+"-home")
	if _, err := user.Lookup(b.user); err != nil {
		if err := sh("useradd", "-m", "-d", b.home, "-s", "/bin/sh", "-p", "*", b.user); err != nil {
			return err
		}
	}
	if u, err := user.Lookup(b.user); err == nil {
		b.home = u.HomeDir
	}
	os.RemoveAll(filepath.Join(b.home, "wan-dst")) // left by an earlier run
	os.MkdirAll(filepath.Join(b.home, "wan-dst"), 0o755)
	b.undo = append(b.undo, func() { os.RemoveAll(filepath.Join(b.home, "wan-dst")) })
	if err := sh("chown", "-R", b.user+":", b.home); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "async-wansshd-")
	if err != nil {
		return err
	}
	b.undo = append(b.undo, func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	b.keyDir = dir
	for _, k := range []string{"hostkey", "clientkey"} {
		if err := sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)); err != nil {
			return err
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "clientkey.pub"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o644); err != nil {
		return err
	}
	host, err := os.ReadFile(filepath.Join(dir, "hostkey.pub"))
	if err != nil {
		return err
	}
	f := strings.Fields(string(host))
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(b.c.serverIP+" "+f[0]+" "+f[1]+"\n"), 0o644); err != nil {
		return err
	}
	conf := fmt.Sprintf("ListenAddress %s:22\nHostKey %s/hostkey\nPidFile %s/sshd.pid\nAuthorizedKeysFile %s/authorized_keys\n"+
		"PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n", b.c.serverIP, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o644); err != nil {
		return err
	}
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command("ip", "netns", "exec", b.nsB, "/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	logf, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	b.undo = append(b.undo, func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	b.sshOpt = fmt.Sprintf("ssh -i %s/clientkey -o UserKnownHostsFile=%s/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes", dir, dir)
	time.Sleep(300 * time.Millisecond)
	return nil
}

// writeLarge writes a file of incompressible bytes.
func writeLarge(p string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		rng.Read(buf)
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeSmall writes n files of 1 to 8 KiB, 100 to a directory.
func writeSmall(root string, n int) (int64, error) {
	src := rand.NewChaCha8([32]byte{2})
	rng := rand.New(src)
	buf := make([]byte, 8<<10)
	var total int64
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return 0, err
			}
		}
		k := 1<<10 + rng.IntN(7<<10+1)
		src.Read(buf[:k])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), buf[:k], 0o644); err != nil {
			return 0, err
		}
		total += int64(k)
	}
	return total, nil
}

// runSink listens on addr, takes one connection and discards what
// arrives, printing "UNIXNANO BYTES" (the total so far) every 100 ms.
func runSink(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	ln.Close()
	var total atomic.Int64
	go func() {
		for t := time.NewTicker(100 * time.Millisecond); ; <-t.C {
			fmt.Println(time.Now().UnixNano(), total.Load())
		}
	}()
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		total.Add(int64(n))
		if err != nil {
			fmt.Println(time.Now().UnixNano(), total.Load())
			return nil
		}
	}
}

// runSource connects to addr and sends as fast as TCP lets it (the
// system's congestion control) until it is stopped.
func runSource(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{3}).Read(buf)
	for {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

// copyRe finds the large file's goodput in a debug log: its bytes over
// the time its copy took (no login, scan or snapshot).
var copyRe = regexp.MustCompile(`msg="action end".*path=/?large\.bin.*bytes_per_s=(\d+)`)

// queueRe finds what the rate policy saw of the data path's queue.
var queueRe = regexp.MustCompile(`msg="data path queue".* delay=(\S+) .*shared=(\S+) rate=(\d+)`)

// logTimeRe finds an action's start or end for the large file in a debug
// log.
var logTimeRe = regexp.MustCompile(`(?m)^time=(\S+) level=DEBUG msg="action (start|end)".*path=/?large\.bin`)

// share pushes the large file with -l at the link rate and -a policy
// while one TCP flow (the system's congestion control) competes from the
// same namespace to the server's, and prints each one's share of what
// both moved over -share-window once the copy started (async's bytes are
// the blocks its file holds at the server; the run is then stopped).
func (b *bench) share(cell, big, policy string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(b.c.serverIP, "5201")
	sink := exec.Command("ip", "netns", "exec", b.nsB, self, "-sink", addr)
	out, err := sink.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sink.Start(); err != nil {
		return err
	}
	defer func() { sink.Process.Kill(); sink.Wait() }()
	type sample struct {
		at    time.Time
		bytes int64
	}
	samples := make(chan []sample, 1)
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		return errors.New("the competing flow's sink did not start")
	}
	go func() {
		var got []sample
		for lines.Scan() {
			var ns, n int64
			if _, err := fmt.Sscan(lines.Text(), &ns, &n); err == nil {
				got = append(got, sample{time.Unix(0, ns), n})
			}
		}
		samples <- got
	}()
	source := exec.Command("ip", "netns", "exec", b.nsA, self, "-source", addr)
	source.Stderr = os.Stderr
	if err := source.Start(); err != nil {
		return err
	}
	defer func() { source.Process.Kill(); source.Wait() }()
	time.Sleep(3 * time.Second) // the competing flow takes the link first
	state := filepath.Join(filepath.Dir(big), "share-"+policy)
	dst := b.remoteDir("share-" + policy)
	defer os.RemoveAll(dst)
	defer os.RemoveAll(state)
	rate := strconv.FormatFloat(b.c.rate/1e6, 'f', -1, 64) + "m" // -l: a bare number is kbit/s
	args := []string{"netns", "exec", b.nsA, b.c.async, "--known-hosts", filepath.Join(b.keyDir, "known_hosts"), "-q", "-N", "share",
		"-i", filepath.Join(b.keyDir, "clientkey"), "-d", big, "-r", fmt.Sprintf("ssh://%s@%s%s", b.user, b.c.serverIP, dst),
		"-b", filepath.Join(state, "db"), "-L", filepath.Join(state, "log"), "--create-dir", "-D", "-l", rate, "-a", policy}
	run := exec.Command("ip", append(args, b.c.asyncFlags...)...)
	var said strings.Builder
	run.Stdout, run.Stderr = &said, &said
	if err := run.Start(); err != nil {
		return err
	}
	ended := make(chan error, 1)
	go func() { ended <- run.Wait() }()
	stopRun := func() error {
		run.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-ended:
			return err
		case <-time.After(10 * time.Second):
			run.Process.Kill()
			return <-ended
		}
	}
	logPath := filepath.Join(state, "log", "async-share.log")
	var t0 time.Time
	for deadline := time.Now().Add(30 * time.Second); t0.IsZero() && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); logTimeRe.Match(b) {
			t0 = time.Now()
		}
	}
	if t0.IsZero() {
		stopRun()
		return fmt.Errorf("async -a %s: the copy did not start: %s", policy, strings.TrimSpace(said.String()))
	}
	time.Sleep(2 * time.Second) // past slow start
	t1, a1 := time.Now(), held(dst)
	time.Sleep(b.c.shareWindow)
	t2, a2 := time.Now(), held(dst)
	stopRun()
	log, _ := os.ReadFile(logPath)
	source.Process.Kill()
	source.Wait()
	sink.Process.Kill()
	got := <-samples // read to the end before Wait closes the pipe
	sink.Wait()
	at := func(t time.Time) int64 { // the sink's total at t (the last sample before)
		var n int64
		for _, s := range got {
			if s.at.After(t) {
				break
			}
			n = s.bytes
		}
		return n
	}
	secs := t2.Sub(t1).Seconds()
	mine := float64(a2-a1) * 8 / secs
	other := float64(at(t2)-at(t1)) * 8 / secs
	var trail []string // what the rate policy saw, second by second
	for _, m := range queueRe.FindAllStringSubmatch(string(log), -1) {
		r, _ := strconv.ParseFloat(m[3], 64)
		d, _ := time.ParseDuration(m[1])
		mark := ""
		if m[2] == "true" {
			mark = "*"
		}
		trail = append(trail, fmt.Sprintf("%.0fms%s:%.0f", float64(d)/1e6, mark, r/1e6))
	}
	fmt.Printf("%s  share -l %s -a %-5s async %6.1f Mbit/s (%3.0f%%)  competing TCP (%s) %6.1f Mbit/s (%3.0f%%)  over %.0fs of the copy\n",
		cell, rate, policy, mine/1e6, 100*mine/(mine+other), b.c.cc, other/1e6, 100*other/(mine+other), secs)
	if len(trail) > 0 {
		fmt.Printf("  each second, the data path's queue delay (* shared) : the rate in Mbit/s: %s\n", strings.Join(trail, " "))
	}
	return nil
}

// held is the bytes the files under dir hold (blocks: a data path file
// is written at offsets, so its size runs ahead of its content).
func held(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return n
}
