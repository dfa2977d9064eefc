package rate

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Policy is how a session's rate behaves under contention (-a).
type Policy uint8

// The policies. With fixed the session holds its target rate. With the
// others the target is a ceiling: when the session falls behind its
// allowance while it has data to move (another flow takes the link), it
// lowers its rate to what it achieves, times a factor, and then climbs
// back towards the target by a step of the target per adjustment; low
// yields most and climbs slowest, high yields least and climbs fastest.
// The minimum rate (-m) is a floor none of them goes under.
const (
	Fair  Policy = iota // yield to 90 % of what it achieves, climb 10 % of the target a second
	Fixed               // hold the target rate
	High                // keep what it achieves, climb 25 % of the target a second
	Low                 // yield to 70 % of what it achieves, climb 5 % of the target a second
)

// ParsePolicy parses -a: fixed, high, fair or low.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "fixed":
		return Fixed, nil
	case "high":
		return High, nil
	case "fair":
		return Fair, nil
	case "low":
		return Low, nil
	}
	return 0, fmt.Errorf("unknown rate policy %q (want fixed, high, fair or low)", s)
}

// String returns the policy's name.
func (p Policy) String() string {
	return [...]string{"fair", "fixed", "high", "low"}[p]
}

// yield and climb are each policy's backoff factor and climb step.
var (
	yield = [...]float64{Fair: 0.9, Fixed: 1, High: 1, Low: 0.7}
	climb = [...]float64{Fair: 0.10, Fixed: 1, High: 0.25, Low: 0.05}
)

// Controller moves a limiter's rate between a floor and a target by a
// policy, from what the session achieves. It is driven by Run, or by
// Adjust in tests.
//
// With a queue-delay probe (SetProbe: the data path's sockets report
// their round trips), competing traffic is seen even while the session
// wins: a queue builds at the bottleneck (a loss-based flow fills it; the
// data path's BBR streams alone keep it short). Under contention fair
// holds half the capacity it has seen (the most it moved in an interval),
// high three quarters, and low backs off by 30 % an interval towards the
// floor; once the queue drains they climb back as without a probe.
type Controller struct {
	l           *Limiter
	target, min float64 // bits per second
	policy      Policy
	cur         float64
	capacity    float64 // the most the session moved in an interval, bit/s
	moved       int     // intervals that moved data
	calm        int     // intervals in a row the probe saw no shared queue
	hot         int     // intervals in a row the probe saw a shared queue
	lastPassed  int64
	lastWaits   int64

	mu    sync.Mutex
	probe Probe
}

// Probe reports the queueing delay on the session's path and the path's
// base round trip; ok false: not known now.
type Probe func() (delay, base time.Duration, ok bool)

// SetProbe gives the controller a queue-delay probe (nil: none).
func (c *Controller) SetProbe(p Probe) {
	c.mu.Lock()
	c.probe = p
	c.mu.Unlock()
}

// Contended is the queueing delay above which the path counts as shared:
// 10 ms, or a quarter of the base round trip when that is more.
func Contended(delay, base time.Duration) bool {
	return delay > max(10*time.Millisecond, base/4)
}

// learn is how many intervals that moved data fair and high take to
// learn the path's capacity before they yield to a shared queue: a
// session that starts beside a busy flow has not seen it yet.
const learn = 3

// calmBeforeClimb is how many intervals in a row the queue must stay
// drained before a probed session climbs.
const calmBeforeClimb = 2

// hotBeforeYield is how many intervals in a row the queue must stand
// before a probed session yields [decision]: a competing loss-based
// flow holds it for seconds, while a single second's spike is the
// session's own streams probing for bandwidth (BBR's gain of 1.25, four
// streams at once) or a busy host's scheduling. Measured at 150 ms and
// 2 % loss with -l 100m, where the emulated link's buffer is short
// enough for the session alone to fill it now and then: yielding on
// every spike held fair at 26 Mbit/s.
const hotBeforeYield = 2

// share is what each policy keeps of the capacity it has seen while the
// path is shared (low: none, it backs off step by step).
var share = [...]float64{Fair: 0.5, Fixed: 1, High: 0.75, Low: 0}

// NewController controls l between min and target bits per second.
func NewController(l *Limiter, target, min int64, p Policy) *Controller {
	c := &Controller{l: l, target: float64(target), min: float64(min), policy: p, cur: float64(target)}
	l.SetRate(target)
	return c
}

// Rate is the rate the controller set last, in bits per second.
func (c *Controller) Rate() int64 { return int64(c.cur) }

// Adjust takes one interval's measure: bits moved and whether callers had
// to wait on the limiter (the session wanted more than its rate). It
// returns the new rate.
func (c *Controller) Adjust(bits float64, interval time.Duration, limited bool) int64 {
	c.mu.Lock()
	probe := c.probe
	c.mu.Unlock()
	achieved := bits / interval.Seconds()
	c.capacity = max(c.capacity, achieved)
	if bits > 0 {
		c.moved++
	}
	contended, probed := false, false
	if probe != nil && c.policy != Fixed {
		if d, base, ok := probe(); ok {
			probed = true
			if Contended(d, base) {
				c.hot++
				c.calm = -1 // counted up to 0 below
			} else {
				c.hot = 0
			}
			contended = c.hot >= hotBeforeYield
		}
	}
	c.calm++
	switch {
	case c.policy == Fixed:
		c.cur = c.target
	case contended && c.policy == Low:
		c.cur = max(c.min, c.cur*yield[Low])
	case contended && c.moved <= learn:
		// Still learning what the path carries: hold.
	case contended:
		c.cur = max(c.min, min(c.cur, c.capacity*share[c.policy]))
	case probed && limited && c.calm >= calmBeforeClimb:
		c.cur = min(c.target, c.cur+climb[c.policy]*c.target*interval.Seconds())
	case probed:
		// Not shared and not limited: whatever holds the session back,
		// it is not other traffic; keep the rate. A queue that only just
		// drained may be a loss-based flow backing off after a loss:
		// wait for it to stay drained before climbing.
	case bits > 0 && !limited && achieved < 0.9*c.cur:
		// Data moved, nobody waited, and yet less than allowed passed:
		// the link is shared. Yield.
		c.cur = max(c.min, min(c.cur, achieved*yield[c.policy]))
	case limited:
		c.cur = min(c.target, c.cur+climb[c.policy]*c.target*interval.Seconds())
	}
	c.cur = max(c.cur, c.min, 8) // never stop altogether
	c.l.SetRate(int64(c.cur))
	return int64(c.cur)
}

// Run adjusts the rate every interval until ctx ends.
func (c *Controller) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	c.lastPassed, c.lastWaits = c.l.Stats()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		passed, waits := c.l.Stats()
		c.Adjust(float64(passed-c.lastPassed)*8, interval, waits > c.lastWaits)
		c.lastPassed, c.lastWaits = passed, waits
	}
}
