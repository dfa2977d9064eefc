package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/xtaci/kcp-go/v5"

	"github.com/async-sync/async/backends/ssh/datapath"
)

// The transport comparison (-ops transport): the same bytes moved from
// the client's namespace to the server's, on the same emulated link, by
// each candidate transport of the data path, without the sync around
// it: tcp (datapath's sealed streams, BBR per socket), udp (datapath's
// sealed streams over KCP sessions: UDP, selective retransmission, no
// congestion window, its send window sized from the link rate × RTT) and
// quic (quic-go: TLS 1.3, its own congestion control, one stream per
// stream). The key comes in the environment, never on a command line.

const envTransportKey = "WANSYNC_TRANSPORT_KEY"

// transportFrame is the benchmark's data frame; transportEnd closes a
// stream's share, and the receiver answers it.
const (
	transportData byte = 1
	transportEnd  byte = 2
)

func transportKey() (datapath.Key, error) {
	var k datapath.Key
	b, err := hex.DecodeString(os.Getenv(envTransportKey))
	if err != nil || len(b) != len(k) {
		return k, errors.New(envTransportKey + " is not a key")
	}
	copy(k[:], b)
	return k, nil
}

// kcpTune sets a KCP session for bulk transfer at rate bit/s over rtt.
func kcpTune(s *kcp.UDPSession, rate float64, rtt time.Duration, streams int) {
	s.SetNoDelay(1, 10, 2, 1) // no delay, 10 ms tick, fast resend after 2 dup acks, no congestion window
	wnd := int(2*rate/8*max(rtt, 10*time.Millisecond).Seconds()/1350) / streams
	wnd = min(max(wnd, 128), 8192)
	s.SetWindowSize(wnd, wnd)
	s.SetMtu(1350)
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetACKNoDelay(false)
}

// runTransportServe receives on addr by kind until every stream ended,
// then prints its CPU time.
func runTransportServe(kind, addr string, streams int, rate float64, rtt time.Duration) error {
	if kind == "quic" {
		return quicServe(addr, streams)
	}
	key, err := transportKey()
	if err != nil {
		return err
	}
	var l *datapath.Listener
	switch kind {
	case "tcp":
		l, err = datapath.Listen("", mustPort(addr), datapath.PortRange{}, key, datapath.DefaultCC)
	case "udp":
		var kl *kcp.Listener
		if kl, err = kcp.ListenWithOptions(addr, nil, 0, 0); err == nil {
			l = datapath.NewListener(kcpListener{kl, rate, rtt, streams}, key)
		}
	default:
		err = fmt.Errorf("transport %q", kind)
	}
	if err != nil {
		return err
	}
	fmt.Println("ready")
	ss, err := l.Accept(context.Background(), streams, time.Minute)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			for {
				f, err := s.Recv()
				if err != nil {
					fmt.Fprintln(os.Stderr, "stream", s.ID, "ended:", err)
					return
				}
				if f.Type == transportEnd {
					s.Send(context.Background(), transportEnd, nil)
					return
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // the answers leave
	fmt.Println("cpu", selfCPU())
	return nil
}

type kcpListener struct {
	*kcp.Listener
	rate    float64
	rtt     time.Duration
	streams int
}

// Close keeps the socket: a KCP listener's sessions share its UDP
// socket, so closing it once the streams are in (as the data path does
// with a TCP listener) would end them.
func (l kcpListener) Close() error { return nil }

func (l kcpListener) Accept() (net.Conn, error) {
	s, err := l.AcceptKCP()
	if err != nil {
		return nil, err
	}
	kcpTune(s, l.rate, l.rtt, l.streams)
	return s, nil
}

func mustPort(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// runTransportSend sends size bytes to addr by kind over streams and
// prints the time it took (until the receiver answered every stream's
// end) and its CPU time.
func runTransportSend(kind, addr string, streams int, size int64, rate float64, rtt time.Duration) error {
	if kind == "quic" {
		return quicSend(addr, streams, size)
	}
	key, err := transportKey()
	if err != nil {
		return err
	}
	o := datapath.DialOptions{Timeout: 10 * time.Second}
	if kind == "udp" {
		o.Dial = func(ctx context.Context, _, a string) (net.Conn, error) {
			s, err := kcp.DialWithOptions(a, nil, 0, 0)
			if err != nil {
				return nil, err
			}
			kcpTune(s, rate, rtt, streams)
			return s, nil
		}
	}
	start := time.Now()
	ss, _, err := datapath.Dial(context.Background(), addr, key, streams, o)
	if err != nil {
		return err
	}
	chunk := make([]byte, 256<<10)
	rand.Read(chunk)
	ctx := context.Background()
	for sent, i := int64(0), 0; sent < size; i++ {
		n := min(int64(len(chunk)), size-sent)
		s := ss[i%len(ss)]
		if !s.TrySend(transportData, chunk[:n]) {
			if err := s.Send(ctx, transportData, chunk[:n]); err != nil {
				return err
			}
		}
		sent += n
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ss))
	for _, s := range ss {
		wg.Go(func() {
			if err := s.Send(ctx, transportEnd, nil); err != nil {
				errs <- err
				return
			}
			if _, err := s.Recv(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("took", time.Since(start).Nanoseconds(), "cpu", selfCPU())
	return nil
}

func selfCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// quicTLS is a one-time self-signed certificate (the benchmark does not
// pin it: it measures the transport).
func quicTLS() (*tls.Config, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"async"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}, NextProtos: []string{"async-dp"}}, nil
}

func quicConf() *quic.Config {
	return &quic.Config{MaxStreamReceiveWindow: 32 << 20, MaxConnectionReceiveWindow: 64 << 20, MaxIdleTimeout: time.Minute}
}

func quicServe(addr string, streams int) error {
	tc, err := quicTLS()
	if err != nil {
		return err
	}
	ln, err := quic.ListenAddr(addr, tc, quicConf())
	if err != nil {
		return err
	}
	fmt.Println("ready")
	ctx := context.Background()
	c, err := ln.Accept(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range streams {
		st, err := c.AcceptStream(ctx)
		if err != nil {
			return err
		}
		wg.Go(func() {
			io.Copy(io.Discard, st)
			st.Write([]byte{1})
			st.Close()
		})
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	fmt.Println("cpu", selfCPU())
	return nil
}

func quicSend(addr string, streams int, size int64) error {
	start := time.Now()
	ctx := context.Background()
	c, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"async-dp"}}, quicConf())
	if err != nil {
		return err
	}
	chunk := make([]byte, 256<<10)
	rand.Read(chunk)
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	per := size / int64(streams)
	for i := range streams {
		st, err := c.OpenStreamSync(ctx)
		if err != nil {
			return err
		}
		n := per
		if i == streams-1 {
			n = size - per*int64(streams-1)
		}
		wg.Go(func() {
			for left := n; left > 0; {
				k := min(left, int64(len(chunk)))
				if _, err := st.Write(chunk[:k]); err != nil {
					errs <- err
					return
				}
				left -= k
			}
			st.Close()
			var one [1]byte
			if _, err := io.ReadFull(st, one[:]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("took", time.Since(start).Nanoseconds(), "cpu", selfCPU())
	return nil
}

// transport runs one transport of the comparison in a cell.
func (b *bench) transport(cell, kind string, rtt time.Duration) {
	self, err := os.Executable()
	if err != nil {
		fmt.Println(cell, kind, "FAILED:", err)
		return
	}
	key, _ := datapath.NewKey()
	env := append(os.Environ(), envTransportKey+"="+hex.EncodeToString(key[:]))
	addr := net.JoinHostPort(b.c.serverIP, "5301")
	common := []string{"-tp-streams", fmt.Sprint(b.c.tpStreams), "-tp-rate", fmt.Sprint(b.c.rate), "-tp-rtt", rtt.String()}
	srv := exec.Command("ip", append([]string{"netns", "exec", b.nsB, self, "-tp-serve", kind, "-tp-addr", addr}, common...)...)
	srv.Env = env
	var srvOut strings.Builder
	pr, pw := io.Pipe()
	srv.Stdout, srv.Stderr = pw, os.Stderr
	if err := srv.Start(); err != nil {
		fmt.Println(cell, kind, "FAILED:", err)
		return
	}
	ready := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		first := true
		for {
			n, err := pr.Read(buf)
			srvOut.Write(buf[:n])
			if first && strings.Contains(srvOut.String(), "ready") {
				ready <- true
				first = false
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		srv.Process.Kill()
		srv.Wait()
		fmt.Println(cell, kind, "FAILED: the receiver did not start")
		return
	}
	size := int64(b.c.sizeMiB) << 20
	ctx, cancel := context.WithTimeout(context.Background(), b.c.timeout)
	defer cancel()
	snd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", b.nsA, self, "-tp-send", kind, "-tp-addr", addr, "-tp-size", fmt.Sprint(size)}, common...)...)
	snd.Env = env
	out, err := snd.CombinedOutput()
	waited := make(chan struct{})
	go func() { srv.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		srv.Process.Kill()
		<-waited
	}
	pw.Close()
	var took, cpuS, cpuR int64
	fmt.Sscanf(lastLine(string(out)), "took %d cpu %d", &took, &cpuS)
	if i := strings.LastIndex(srvOut.String(), "cpu "); i >= 0 {
		fmt.Sscanf(srvOut.String()[i:], "cpu %d", &cpuR)
	}
	if err != nil || took == 0 {
		fmt.Printf("%s  transport %-4s FAILED: %v %s\n", cell, kind, err, short(errors.New(strings.TrimSpace(string(out)))))
		return
	}
	d := time.Duration(took)
	fmt.Printf("%s  transport %-4s %d MiB in %6.2fs: %6.1f Mbit/s  cpu sender %.0f%%, receiver %.0f%% of a core\n", cell, kind, b.c.sizeMiB, d.Seconds(),
		float64(size)*8/d.Seconds()/1e6, 100*float64(cpuS)/float64(took), 100*float64(cpuR)/float64(took))
}
