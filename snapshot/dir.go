package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// statusFile is the name of the status file inside a snapshot directory.
const statusFile = "status.json"

// Exists reports whether a snapshot database is present in dir.
func Exists(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	return err == nil && fi.Mode().IsRegular()
}

// Remove drops the snapshot in dir, with its pid and status files. It
// refuses with a *LockedError while the snapshot is open; a missing dir is
// not an error.
func Remove(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("snapshot %s: %w", dir, err)
	}
	if Exists(dir) {
		// Taking the write lock proves that nobody holds the snapshot. A
		// snapshot that fails to open for another reason (damage) is
		// removed all the same.
		db, err := Open(dir, Options{})
		var le *LockedError
		if errors.As(err, &le) {
			return err
		}
		if err == nil {
			if err := db.Close(); err != nil {
				return err
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("snapshot %s: %w", dir, err)
	}
	return nil
}

// List returns the sorted names of the subdirectories of parent that hold a
// snapshot (one per session). A missing parent yields none.
func List(parent string) ([]string, error) {
	ents, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot list %s: %w", parent, err)
	}
	var names []string
	for _, e := range ents { // ReadDir sorts by name
		if e.IsDir() && Exists(filepath.Join(parent, e.Name())) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Status is the state of a session as written beside its snapshot
// (dir/status.json), for async admin and for other processes to watch.
type Status struct {
	State    string           `json:"state"`    // e.g. "running", "idle", "stopped", "error"
	PID      int              `json:"pid"`      // the process running the session
	Started  time.Time        `json:"started"`  // when that process started the session
	Updated  time.Time        `json:"updated"`  // when this status was written
	LastSync time.Time        `json:"lastSync"` // when the last sync completed
	Counters map[string]int64 `json:"counters"` // free-form counters (files, bytes, errors...)
}

// WriteStatus writes s to dir/status.json atomically (a temporary file
// renamed over the old one), creating dir if needed. It does not sync:
// the file is advisory (what async admin tells of a running session),
// and a crash of the machine, which ends the session anyway, may at worst
// leave it unreadable, which ReadStatus reports and admin takes for a
// session that is not running. A run writes it at least twice, and a
// sync each would be most of a no-op run's wait on a disk.
func WriteStatus(dir string, s Status) error {
	b, err := s.appendJSON(make([]byte, 0, 512))
	if err != nil {
		return fmt.Errorf("snapshot %s: status: %w", dir, err)
	}
	b = append(b, '\n')
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("snapshot %s: status: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".status-*.tmp")
	if err != nil {
		return fmt.Errorf("snapshot %s: status: %w", dir, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, statusFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("snapshot %s: status: %w", dir, err)
	}
	return nil
}

// appendJSON appends s as json.MarshalIndent(s, "", "  ") writes it
// (TestStatusJSON compares the two), without encoding/json's reflection:
// building its encoder for the type was half of WriteStatus's CPU time,
// which every run pays at least twice.
func (s Status) appendJSON(b []byte) ([]byte, error) {
	b = append(b, "{\n  \"state\": "...)
	b = appendJSONString(b, s.State)
	b = append(b, ",\n  \"pid\": "...)
	b = strconv.AppendInt(b, int64(s.PID), 10)
	for _, t := range []struct {
		key string
		t   time.Time
	}{{"started", s.Started}, {"updated", s.Updated}, {"lastSync", s.LastSync}} {
		b = append(b, ",\n  \""...)
		b = append(b, t.key...)
		b = append(b, "\": "...)
		v, err := t.t.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.key, err)
		}
		b = append(b, v...)
	}
	b = append(b, ",\n  \"counters\": "...)
	switch {
	case s.Counters == nil:
		b = append(b, "null"...)
	case len(s.Counters) == 0:
		b = append(b, "{}"...)
	default:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(s.Counters)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n    "...)
			b = appendJSONString(b, k)
			b = append(b, ": "...)
			b = strconv.AppendInt(b, s.Counters[k], 10)
		}
		b = append(b, "\n  }"...)
	}
	return append(b, "\n}"...), nil
}

// appendJSONString appends v as encoding/json quotes a string: a string
// alone needs none of its reflection.
func appendJSONString(b []byte, v string) []byte {
	q, _ := json.Marshal(v) // a string always encodes
	return append(b, q...)
}

// ReadStatus reads dir/status.json. A missing file returns an error
// satisfying errors.Is(err, os.ErrNotExist).
func ReadStatus(dir string) (Status, error) {
	var s Status
	b, err := os.ReadFile(filepath.Join(dir, statusFile))
	if err != nil {
		return s, fmt.Errorf("snapshot %s: status: %w", dir, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return Status{}, fmt.Errorf("snapshot %s: status: %w", dir, err)
	}
	return s, nil
}
