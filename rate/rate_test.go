package rate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string // substring of the error; "" for success
	}{
		{in: "500m", want: 500_000_000},
		{in: "500M", want: 500_000_000},
		{in: "1g", want: 1_000_000_000},
		{in: "1.5G", want: 1_500_000_000},
		{in: "4.35k", want: 4_350},
		{in: "100k", want: 100_000},
		{in: "100K", want: 100_000},
		{in: "30000", want: 30_000_000},
		{in: "0.5", want: 500},
		{in: ".5m", want: 500_000},
		{in: "1000000g", want: 1e15},
		{in: "5x", err: `invalid rate "5x" (want a number with optional k, m or g suffix, e.g. 500m)`},
		{in: "", err: `invalid rate ""`},
		{in: "m", err: `invalid rate "m"`},
		{in: ".", err: `invalid rate "."`},
		{in: "1.2.3m", err: `invalid rate "1.2.3m"`},
		{in: "0", err: `invalid rate "0" (must be more than zero)`},
		{in: "0.0001k", err: "more than zero"},
		{in: "-5m", err: `invalid rate "-5m"`},
		{in: "+5m", err: `invalid rate "+5m"`},
		{in: "1e3", err: `invalid rate "1e3"`},
		{in: "0x10", err: `invalid rate "0x10"`},
		{in: "Inf", err: `invalid rate "Inf"`},
		{in: " 5m", err: `invalid rate " 5m"`},
		{in: "1_000", err: `invalid rate "1_000"`},
		{in: "2000000g", err: "at most"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseRate(%q) = %d, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string // substring of the error; "" for success
	}{
		{in: "1m", want: 1 << 20},
		{in: "1M", want: 1 << 20},
		{in: "100k", want: 100 << 10},
		{in: "2G", want: 2 << 30},
		{in: "1t", want: 1 << 40},
		{in: "4096", want: 4096},
		{in: "0", want: 0},
		{in: "8388607t", want: 8388607 << 40},
		{in: "1q", err: `invalid size "1q" (want bytes with optional k, m, g or t suffix, e.g. 1m)`},
		{in: "", err: `invalid size ""`},
		{in: "k", err: `invalid size "k"`},
		{in: "-1", err: `invalid size "-1"`},
		{in: "+1", err: `invalid size "+1"`},
		{in: "1.5m", err: `invalid size "1.5m"`},
		{in: "8388608t", err: `invalid size "8388608t" (too large)`},
		{in: "99999999999999999999", err: "too large"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	var nilL *Limiter
	for _, tc := range []struct {
		l    *Limiter
		want int64
	}{
		{nilL, 0},
		{New(0), 0},
		{New(-5), 0},
		{New(500_000_000), 500_000_000},
	} {
		if got := tc.l.Rate(); got != tc.want {
			t.Errorf("Rate() = %d, want %d", got, tc.want)
		}
	}
	l := New(1000)
	l.SetRate(8_000_000)
	if got := l.Rate(); got != 8_000_000 {
		t.Errorf("Rate() after SetRate = %d", got)
	}
}

// within fails t unless d lies in [lo, hi].
func within(t *testing.T, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s took %v, want %v to %v", what, d, lo, hi)
	}
}

func TestLimiterPacesSharedTraffic(t *testing.T) {
	l := New(8 * 4_000_000) // 4 MB/s
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 32 {
				if err := l.WaitN(ctx, 32_000); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// 2 MB at 4 MB/s, less the initial bucket of 200 KB: 0.45 s.
	within(t, "2 MB at 4 MB/s", time.Since(start), 350*time.Millisecond, 1500*time.Millisecond)
}

func TestLargeWaitIsSplit(t *testing.T) {
	l := New(8 * 4_000_000)
	start := time.Now()
	if err := l.WaitN(context.Background(), 2_000_000); err != nil {
		t.Fatal(err)
	}
	within(t, "one 2 MB wait at 4 MB/s", time.Since(start), 350*time.Millisecond, 1500*time.Millisecond)
}

func TestUnlimitedIsInstant(t *testing.T) {
	var nilL *Limiter
	for _, tc := range []struct {
		name string
		l    *Limiter
	}{
		{"nil", nilL},
		{"zero", New(0)},
		{"set to zero", func() *Limiter { l := New(8000); l.SetRate(0); return l }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			for range 100 {
				if err := tc.l.WaitN(context.Background(), 1<<30); err != nil {
					t.Fatal(err)
				}
			}
			within(t, "100 GiB unlimited", time.Since(start), 0, 50*time.Millisecond)
			var r io.Reader = strings.NewReader("x")
			if got := tc.l.Reader(context.Background(), r); got != r {
				t.Errorf("Reader wrapped an unlimited reader")
			}
			var w io.Writer = io.Discard
			if got := tc.l.Writer(context.Background(), w); got != w {
				t.Errorf("Writer wrapped an unlimited writer")
			}
		})
	}
}

func TestCancel(t *testing.T) {
	l := New(8 * 100_000) // 100 KB/s, bucket 64 KiB
	if err := l.WaitN(context.Background(), 64<<10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := l.WaitN(ctx, 1<<20) // 10 s worth
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait returned %v", err)
	}
	within(t, "cancelled wait", time.Since(start), 40*time.Millisecond, 300*time.Millisecond)

	// The cancelled reservation was refunded: a small wait is quick.
	start = time.Now()
	if err := l.WaitN(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	within(t, "1 KB after the refund", time.Since(start), 0, 200*time.Millisecond)

	// An already cancelled context fails at once, limited or not.
	done, stop := context.WithCancel(context.Background())
	stop()
	for _, l := range []*Limiter{nil, New(0), l} {
		if err := l.WaitN(done, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitN with a cancelled context = %v", err)
		}
	}
}

func TestSetRateWakesWaiters(t *testing.T) {
	for _, tc := range []struct {
		name    string
		newRate int64
	}{
		{"to unlimited", 0},
		{"to faster", 8 * 100_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(8 * 10_000)                                            // 10 KB/s: 128 KiB more takes 13 s
			if err := l.WaitN(context.Background(), minBurst); err != nil { // the bucket, empty now
				t.Fatal(err)
			}
			done := make(chan error)
			start := time.Now()
			go func() { done <- l.WaitN(context.Background(), 128<<10) }()
			time.Sleep(50 * time.Millisecond)
			l.SetRate(tc.newRate)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				within(t, "wait after SetRate", time.Since(start), 40*time.Millisecond, 500*time.Millisecond)
			case <-time.After(3 * time.Second):
				t.Fatal("waiter not woken by SetRate")
			}
		})
	}
}

func TestReaderWriter(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1_000_000/16)
	for _, tc := range []struct {
		name string
		copy func(l *Limiter, dst io.Writer, src io.Reader) (int64, error)
	}{
		{"reader", func(l *Limiter, dst io.Writer, src io.Reader) (int64, error) {
			return io.Copy(dst, l.Reader(context.Background(), src))
		}},
		{"writer", func(l *Limiter, dst io.Writer, src io.Reader) (int64, error) {
			// One Write of everything, which the writer must pace.
			b, _ := io.ReadAll(src)
			n, err := l.Writer(context.Background(), dst).Write(b)
			return int64(n), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(8 * 4_000_000)
			var out bytes.Buffer
			start := time.Now()
			n, err := tc.copy(l, &out, bytes.NewReader(data))
			if err != nil || n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("copied %d, %v; content intact: %v", n, err, bytes.Equal(out.Bytes(), data))
			}
			// 1 MB at 4 MB/s, less the 200 KB bucket: 0.2 s.
			within(t, "1 MB at 4 MB/s", time.Since(start), 120*time.Millisecond, 1*time.Second)
		})
	}
}

func TestWriterStopsOnCancel(t *testing.T) {
	l := New(8 * 100_000)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n, err := l.Writer(ctx, io.Discard).Write(make([]byte, 1<<20))
	if !errors.Is(err, context.DeadlineExceeded) || n != minBurst {
		t.Errorf("Write = %d, %v; want the first bucketful and the deadline", n, err)
	}
}
