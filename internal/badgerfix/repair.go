// Package badgerfix repairs what a process killed inside Badger leaves
// behind (dgraph-io/badger#2207), for every Badger database async keeps:
// the snapshots and the watchd journal.
package badgerfix

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RemoveTorn removes the 0-byte memtable (.mem) and value-log (.vlog)
// files that a process killed while Badger was creating them leaves
// behind: Badger refuses to open a directory holding one, and such a file
// holds nothing (a live file always has at least its header). It works
// only while it can take Badger's directory lock itself, so it never
// touches the files of a database another process has open; it returns
// the names it removed.
func RemoveTorn(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("badger %s: %w", dir, err)
	}
	var torn []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, ".mem") && !strings.HasSuffix(n, ".vlog") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Size() == 0 {
			torn = append(torn, n)
		}
	}
	if len(torn) == 0 {
		return nil, nil
	}
	unlock, ok, err := lockDir(dir)
	if err != nil || !ok {
		return nil, err // held by someone: not ours to repair
	}
	defer unlock()
	var removed []string
	for _, n := range torn {
		p := filepath.Join(dir, n)
		// Looked at again under the lock: only a file still empty goes.
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			continue
		}
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("badger %s: remove the empty %s: %w", dir, n, err)
		}
		removed = append(removed, n)
	}
	return removed, syncDir(dir)
}

// syncDir makes the removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("badger %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("badger %s: sync: %w", dir, err)
	}
	return nil
}
