package rate

import (
	"context"
	"fmt"
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
type Controller struct {
	l           *Limiter
	target, min float64 // bits per second
	policy      Policy
	cur         float64
	lastPassed  int64
	lastWaits   int64
}

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
	achieved := bits / interval.Seconds()
	switch {
	case c.policy == Fixed:
		c.cur = c.target
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
