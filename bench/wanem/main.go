// Command wanem is a userspace WAN emulator for benchmarks (the kernels
// this project runs on may lack netem). It joins two network namespaces
// with a point-to-point "wire" of two TUN devices and adds one-way delay,
// random loss and a rate limit per direction (FIFO, tail drop at -limit
// packets). bench/wansync sets up the namespaces and runs it; by hand:
//
//	ip netns add syncA; ip netns add syncB
//	ip -n syncA tuntap add dev tunA mode tun; ip -n syncB tuntap add dev tunB mode tun
//	ip -n syncA addr add 10.99.0.101 peer 10.99.0.102 dev tunA
//	ip -n syncB addr add 10.99.0.102 peer 10.99.0.101 dev tunB
//	(bring lo and the TUN devices up in both, txqueuelen 10000)
//	wanem -delay 25ms -rate 100e6 -loss 0.005   # 50 ms RTT; stop it with SIGTERM
//
// It runs as root and prints its counters when it stops.
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func openTun(nsPath, name string) int {
	res := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			log.Fatalf("open %s: %v", nsPath, err)
		}
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			log.Fatalf("setns %s: %v", nsPath, err)
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			log.Fatalf("open tun: %v", err)
		}
		ifr, _ := unix.NewIfreq(name)
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			log.Fatalf("TUNSETIFF %s: %v", name, err)
		}
		res <- fd
	}()
	return <-res
}

type pkt struct {
	bp *[]byte
	b  []byte
	at time.Time
}

var pool = sync.Pool{New: func() any { b := make([]byte, 65536); return &b }}

type stats struct{ in, lost, tail, out atomic.Int64 }

func pump(name string, in, out int, delay time.Duration, loss float64, bps float64, limit int64, st *stats) {
	ch := make(chan pkt, limit+16)
	var queued atomic.Int64
	go func() {
		var busy time.Time
		for {
			bp := pool.Get().(*[]byte)
			b := *bp
			n, err := unix.Read(in, b)
			if err != nil {
				log.Fatalf("%s read: %v", name, err)
			}
			st.in.Add(1)
			if loss > 0 && rand.Float64() < loss {
				st.lost.Add(1)
				pool.Put(bp)
				continue
			}
			if queued.Load() >= limit {
				st.tail.Add(1)
				pool.Put(bp)
				continue
			}
			now := time.Now()
			if busy.Before(now) {
				busy = now
			}
			if bps > 0 {
				busy = busy.Add(time.Duration(float64(n*8) / bps * 1e9))
			}
			queued.Add(1)
			ch <- pkt{bp, b[:n], busy.Add(delay)}
		}
	}()
	for p := range ch {
		if d := time.Until(p.at); d > 0 {
			time.Sleep(d)
		}
		unix.Write(out, p.b)
		pool.Put(p.bp)
		queued.Add(-1)
		st.out.Add(1)
	}
}

func main() {
	nsA := flag.String("nsa", "/run/netns/syncA", "")
	nsB := flag.String("nsb", "/run/netns/syncB", "")
	tunA := flag.String("tuna", "tunA", "")
	tunB := flag.String("tunb", "tunB", "")
	delay := flag.Duration("delay", 0, "one-way delay, each direction")
	loss := flag.Float64("loss", 0, "loss probability per packet, each direction (0.005 = 0.5%)")
	rate := flag.Float64("rate", 0, "bits/s each direction, 0 = unlimited")
	limit := flag.Int64("limit", 1000, "queue limit in packets (netem default 1000)")
	flag.Parse()
	a := openTun(*nsA, *tunA)
	b := openTun(*nsB, *tunB)
	var ab, ba stats
	go pump("a->b", a, b, *delay, *loss, *rate, *limit, &ab)
	go pump("b->a", b, a, *delay, *loss, *rate, *limit, &ba)
	fmt.Println("wanem running")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, x := range []struct {
		n string
		s *stats
	}{{"a->b", &ab}, {"b->a", &ba}} {
		fmt.Printf("%s in=%d lost=%d taildrop=%d out=%d\n", x.n, x.s.in.Load(), x.s.lost.Load(), x.s.tail.Load(), x.s.out.Load())
	}
}
