package watchd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Token is what a session records of the journal when a run completes:
// the service's epoch, the cursor, and a fingerprint of the settings that
// decide what a scan of the side sees.
type Token struct {
	Epoch  string // "-": the service could not be asked
	Cursor uint64
	FP     string
}

// String is the token's recorded form.
func (t Token) String() string { return fmt.Sprintf("watchd1 %s %d %s", t.Epoch, t.Cursor, t.FP) }

// ParseToken reads a recorded token.
func ParseToken(s string) (Token, bool) {
	f := strings.Fields(s)
	if len(f) != 4 || f[0] != "watchd1" {
		return Token{}, false
	}
	c, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return Token{}, false
	}
	return Token{Epoch: f[1], Cursor: c, FP: f[3]}, true
}

// Timeout bounds one exchange with the service.
const Timeout = 30 * time.Second

// Since asks the service at socket what changed below dir since the
// recorded token prior ("": none; then only the cursor is asked). It
// returns the changed paths, relative to dir, when the journal can stand
// for a scan; else why not. next is the token to record if the run
// completes (fp is the session's current fingerprint): always set, so
// that the next run knows whether the service was reachable.
func Since(ctx context.Context, socket, dir, prior, fp string) (paths []string, next, why string) {
	req := Request{Op: "changes", Dir: dir}
	tok, ok := ParseToken(prior)
	switch {
	case prior == "":
		why = "no cursor yet"
	case !ok:
		why = "the recorded cursor cannot be read"
	case tok.Epoch == "-":
		why = "the service was not running at the last run"
	case tok.FP != fp:
		why = "the session's filters or link handling changed since the cursor"
	default:
		req.Epoch, req.Since = tok.Epoch, tok.Cursor
	}
	a, err := Ask(ctx, socket, req, Timeout)
	if err != nil {
		return nil, Token{Epoch: "-", FP: fp}.String(), fmt.Sprintf("the service is not running (%v)", err)
	}
	next = Token{Epoch: a.Epoch, Cursor: a.Cursor, FP: fp}.String()
	switch {
	case why != "":
		return nil, next, why
	case a.Hole != "":
		return nil, next, a.Hole
	}
	return a.Paths, next, ""
}
