package rate

import (
	"math"
	"testing"
	"time"
)

// simulate runs a sender that takes chunk bytes (at most a bucketful) as
// soon as it may, on a fake clock, for d; it returns the times each chunk
// passed and the chunk size used.
func simulate(rate int64, chunk float64, d time.Duration) (times []time.Duration, size float64) {
	fake := time.Unix(0, 0)
	l := New(0)
	l.now = func() time.Time { return fake }
	l.SetRate(rate)
	chunk = min(chunk, l.burst)
	start := fake
	for fake.Sub(start) < d {
		_, _, wait := l.reserve(chunk)
		if wait > 0 {
			fake = fake.Add(wait)
		}
		times = append(times, fake.Sub(start))
	}
	return times, chunk
}

func TestAccuracyOnAFakeClock(t *testing.T) {
	for _, rate := range []int64{1e6, 10e6, 80e6, 400e6, 1e9} {
		times, chunk := simulate(rate, 32<<10, 10*time.Second)
		got := float64(len(times)) * chunk * 8 / times[len(times)-1].Seconds()
		if math.Abs(got-float64(rate))/float64(rate) > 0.05 {
			t.Errorf("at %d bit/s: %0.f bit/s over 10 s", rate, got)
		}
	}
}

func TestSmoothOnAFakeClock(t *testing.T) {
	// No window of 100 ms carries more than its share plus one bucket:
	// no multi-second bursts.
	for _, rate := range []int64{1e6, 80e6, 1e9} {
		times, chunk := simulate(rate, 16<<10, 10*time.Second)
		l := New(rate)
		limit := float64(rate)/8*0.1 + l.burst + chunk
		j := 0
		for i := range times {
			for times[i]-times[j] > 100*time.Millisecond {
				j++
			}
			if bytes := float64(i-j+1) * chunk; bytes > limit {
				t.Fatalf("at %d bit/s: %0.f bytes in 100 ms after %v, limit %0.f", rate, bytes, times[j], limit)
			}
		}
	}
}

func TestPolicies(t *testing.T) {
	const target, floor = 100e6, 10e6
	sec := time.Second
	for _, tc := range []struct {
		p            Policy
		afterYield   int64 // the rate after one interval that achieved 50 Mbit/s unhindered
		afterClimbs3 int64 // then after three intervals limited by the rate
	}{
		{Fixed, 100e6, 100e6},
		{High, 50e6, 100e6},
		{Fair, 45e6, 75e6},
		{Low, 35e6, 50e6},
	} {
		c := NewController(New(0), target, floor, tc.p)
		if got := c.Adjust(50e6, sec, false); got != tc.afterYield {
			t.Errorf("%v: after contention %d, want %d", tc.p, got, tc.afterYield)
		}
		for range 3 {
			c.Adjust(float64(c.Rate()), sec, true)
		}
		if got := c.Rate(); got != tc.afterClimbs3 {
			t.Errorf("%v: after climbing %d, want %d", tc.p, got, tc.afterClimbs3)
		}
	}
	// The floor holds.
	c := NewController(New(0), target, floor, Low)
	if got := c.Adjust(1e6, sec, false); got != floor {
		t.Errorf("floor: %d", got)
	}
	// Idle (nothing moved) changes nothing.
	c = NewController(New(0), target, floor, Fair)
	if got := c.Adjust(0, sec, false); got != target {
		t.Errorf("idle: %d", got)
	}
}

// TestPoliciesWithQueueProbe: with a queue-delay probe, a queue that
// stands two intervals in a row is shared and
// makes fair hold half of the capacity it saw (once it learned it),
// high three quarters, low back off by 30 % an interval to the floor,
// fixed ignore it; a drained queue lets them climb again.
func TestPoliciesWithQueueProbe(t *testing.T) {
	const target, floor = 100e6, 10e6
	sec := time.Second
	for _, tc := range []struct {
		p          Policy
		shared     []int64 // the rate after each interval of a shared queue, the session moving 90 Mbit/s
		afterClimb int64   // after two more intervals, queue drained and the rate limiting
	}{
		{Fixed, []int64{100e6, 100e6, 100e6, 100e6, 100e6}, 100e6},
		{Fair, []int64{100e6, 100e6, 100e6, 45e6, 45e6}, 55e6},
		{High, []int64{100e6, 100e6, 100e6, 67.5e6, 67.5e6}, 92.5e6},
		{Low, []int64{100e6, 70e6, 49e6, 34.3e6, 24.01e6}, 29.01e6},
	} {
		c := NewController(New(0), target, floor, tc.p)
		delay := 40 * time.Millisecond
		c.SetProbe(func() (time.Duration, time.Duration, bool) { return delay, 50 * time.Millisecond, true })
		for i, want := range tc.shared {
			if got := c.Adjust(90e6, sec, false); got != want {
				t.Errorf("%v: interval %d of a shared queue: %d, want %d", tc.p, i, got, want)
			}
		}
		delay = 2 * time.Millisecond
		before := c.Rate()
		if got := c.Adjust(float64(c.Rate()), sec, true); got != before {
			t.Errorf("%v: climbed at once when the queue drained: %d, want %d", tc.p, got, before)
		}
		if got := c.Adjust(float64(c.Rate()), sec, true); got != tc.afterClimb {
			t.Errorf("%v: after the queue drained %d, want %d", tc.p, got, tc.afterClimb)
		}
	}
	// A queue that stands for one interval at a time (the session's own
	// streams probing, a busy host) is not another flow: no yield.
	for _, p := range []Policy{Fair, High, Low} {
		c := NewController(New(0), target, floor, p)
		spike := false
		c.SetProbe(func() (time.Duration, time.Duration, bool) {
			spike = !spike
			if spike {
				return 80 * time.Millisecond, 150 * time.Millisecond, true
			}
			return 5 * time.Millisecond, 150 * time.Millisecond, true
		})
		for i := range 10 {
			if got := c.Adjust(90e6, sec, false); got != target {
				t.Fatalf("%v: interval %d of spikes one interval long: %d, want %d", p, i, got, int64(target))
			}
		}
	}
	// Low stops at the floor.
	c := NewController(New(0), target, floor, Low)
	c.SetProbe(func() (time.Duration, time.Duration, bool) { return time.Second, 50 * time.Millisecond, true })
	for range 20 {
		c.Adjust(1e6, sec, false)
	}
	if got := c.Rate(); got != floor {
		t.Errorf("low under a lasting shared queue: %d, want the floor %d", got, int64(floor))
	}
	// An unshared queue and a session that does not fill its rate: no
	// yield (whatever holds it back is not other traffic).
	c = NewController(New(0), target, floor, Fair)
	c.SetProbe(func() (time.Duration, time.Duration, bool) { return time.Millisecond, 50 * time.Millisecond, true })
	if got := c.Adjust(30e6, sec, false); got != target {
		t.Errorf("unshared: %d, want %d", got, int64(target))
	}
	// The threshold: 10 ms, or a quarter of the base round trip.
	for _, tc := range []struct {
		d, base time.Duration
		want    bool
	}{{9 * time.Millisecond, time.Millisecond, false}, {11 * time.Millisecond, time.Millisecond, true},
		{30 * time.Millisecond, 150 * time.Millisecond, false}, {40 * time.Millisecond, 150 * time.Millisecond, true}} {
		if got := Contended(tc.d, tc.base); got != tc.want {
			t.Errorf("Contended(%v, %v) = %v", tc.d, tc.base, got)
		}
	}
}
