// Package watchd is async's change journal: a service that watches
// directory trees and appends every changed path to a journal with a
// monotonically increasing cursor, and answers, over a unix socket, which
// paths of a tree changed since a cursor, or that it cannot know (a hole).
//
// The protocol is JSON lines: one Request per line, one Answer per line.
package watchd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Request is one line a client sends to the service.
type Request struct {
	// Op is "changes" (the paths below Dir changed since Since) or
	// "status".
	Op string `json:"op"`
	// Dir is an absolute directory inside a watched tree; paths are
	// answered relative to it.
	Dir string `json:"dir,omitempty"`
	// Epoch and Since are a cursor from an earlier answer; an empty Epoch
	// asks for the current cursor only.
	Epoch string `json:"epoch,omitempty"`
	Since uint64 `json:"since,omitempty"`
}

// Answer is the service's reply to one Request.
type Answer struct {
	// Epoch names this run of the service: a cursor from another epoch
	// means the service was restarted (or not running) in between.
	Epoch string `json:"epoch,omitempty"`
	// Cursor is where the journal stands now: the next request's Since.
	Cursor uint64 `json:"cursor,omitempty"`
	// Paths changed below Dir since Since, relative to Dir, each once.
	Paths []string `json:"paths,omitempty"`
	// Hole, when set, says why the changes since Since cannot be told:
	// the client must scan. Epoch and Cursor are still valid.
	Hole string `json:"hole,omitempty"`
	// Error is a request the service could not serve.
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is what `async watchd --status` shows.
type Status struct {
	PID     int          `json:"pid"`
	Epoch   string       `json:"epoch"`
	Started time.Time    `json:"started"`
	Cursor  uint64       `json:"cursor"`
	Entries int          `json:"entries"` // journal entries kept
	Trees   []TreeStatus `json:"trees"`
}

// TreeStatus is one watched tree's state.
type TreeStatus struct {
	Root string `json:"root"`
	// Watcher is how the tree is watched: "fanotify" (a filesystem mark)
	// or "inotify", with why not fanotify in parentheses when the service
	// chose.
	Watcher string  `json:"watcher"`
	Watches int     `json:"watches"` // directories watched (inotify), file systems marked (fanotify)
	Start   uint64  `json:"start"`   // oldest cursor the journal can answer from
	Why     string  `json:"why"`     // why the journal starts there
	Events  uint64  `json:"events"`  // paths journaled since the service started
	Rate    float64 `json:"events_per_second"`
	// LastOverflow is when the kernel last dropped events (zero: never).
	LastOverflow time.Time `json:"last_overflow,omitzero"`
	// Broken says the tree is not watched now (its root is gone or its
	// file system went away); it is watched again when it comes back.
	Broken string `json:"broken,omitempty"`
}

// Ask sends one request to the service listening on socket and returns its
// answer. The whole exchange is bounded by timeout.
func Ask(ctx context.Context, socket string, req Request, timeout time.Duration) (*Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("watchd %s: %w", socket, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("watchd %s: %w", socket, err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("watchd %s: %w", socket, err)
	}
	var a Answer
	if err := json.Unmarshal(line, &a); err != nil {
		return nil, fmt.Errorf("watchd %s: bad answer: %w", socket, err)
	}
	if a.Error != "" {
		return nil, fmt.Errorf("watchd %s: %s", socket, a.Error)
	}
	return &a, nil
}
