package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/progress"
)

// maxLinksNamed is how many skipped links a warning names.
const maxLinksNamed = 5

// skippedLinks gathers the symbolic links a session with a bucket side
// leaves out (a bucket cannot hold links), for one warning per run that
// counts them and names the first few. In continuous mode a link is warned
// about once.
type skippedLinks struct {
	mu     sync.Mutex
	warned map[string]bool // warned about in an earlier round
	round  []string
}

// add notes a link skipped on a side that sends to the bucket.
func (l *skippedLinks) add(log *slog.Logger, p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.warned[p] {
		return
	}
	l.round = append(l.round, p)
	log.Debug("symbolic link skipped: a bucket cannot hold links", "path", core.DisplayPath(p))
}

// warning returns the warning about the links noted since the last call,
// "" when there are none. bucket is the option that names the bucket.
func (l *skippedLinks) warning(bucket string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.round) == 0 {
		return ""
	}
	if l.warned == nil {
		l.warned = map[string]bool{}
	}
	slices.SortFunc(l.round, core.ComparePaths)
	named := make([]string, 0, maxLinksNamed)
	for i, p := range l.round {
		l.warned[p] = true
		if i < maxLinksNamed {
			named = append(named, core.DisplayPath(p))
		}
	}
	list := strings.Join(named, ", ")
	if more := len(l.round) - len(named); more > 0 {
		list += fmt.Sprintf(" and %s more (with -D the log names every one)", progress.Group(int64(more)))
	}
	n := len(l.round)
	l.round = nil
	return fmt.Sprintf("warning: %s not synchronized: a bucket (%s) cannot hold links; -n follow sends what they point to: %s",
		plural(int64(n), "symbolic link"), bucket, list)
}
