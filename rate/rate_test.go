package rate

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "500m", want: 500_000_000},
		{in: "1g", want: 1_000_000_000},
		{in: "1.5G", want: 1_500_000_000},
		{in: "100k", want: 100_000},
		{in: "30000", want: 30_000_000},
		{in: "5x", bad: true},
		{in: "", bad: true},
		{in: "m", bad: true},
		{in: "0", bad: true},
		{in: "-5m", bad: true},
		{in: "1e3", bad: true},
	} {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1m", want: 1 << 20},
		{in: "100k", want: 100 << 10},
		{in: "2G", want: 2 << 30},
		{in: "1t", want: 1 << 40},
		{in: "4096", want: 4096},
		{in: "1q", bad: true},
		{in: "", bad: true},
		{in: "-1", bad: true},
		{in: "1.5m", bad: true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
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
	// 2 MB at 4 MB/s, minus the initial burst.
	if d := time.Since(start); d < 350*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("2 MB took %v at 4 MB/s", d)
	}
}

func TestUnlimitedAndCancel(t *testing.T) {
	var nilL *Limiter
	if err := nilL.WaitN(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := New(0).WaitN(context.Background(), 1<<30); err != nil || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("unlimited waited %v (%v)", time.Since(start), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := New(8000).WaitN(ctx, 1<<20); err == nil || time.Since(start) > time.Second {
		t.Fatalf("cancelled wait returned %v after %v", err, time.Since(start))
	}
}
