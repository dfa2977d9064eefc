package core

import (
	"io/fs"
	"testing"
)

// A plan's mode is the Unix octal mode, special flags included, so that
// applying a saved plan keeps setuid, setgid and sticky as a direct run
// does.
func TestPlanJSONMode(t *testing.T) {
	for _, c := range []struct {
		mode fs.FileMode
		text string
	}{
		{0o644, "0644"},
		{0o755 | fs.ModeSetuid, "04755"},
		{0o775 | fs.ModeSetgid, "02775"},
		{0o777 | fs.ModeSticky, "01777"},
		{0o700 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, "07700"},
	} {
		j := entryJSON(&Entry{Type: TypeFile, Mode: c.mode, UID: NoID, GID: NoID})
		if j.Mode != c.text {
			t.Errorf("mode %v written as %q, want %q", c.mode, j.Mode, c.text)
		}
		e, err := j.entry("f")
		if err != nil || e.Mode != c.mode {
			t.Errorf("%q read as %v, %v; want %v", c.text, e.Mode, err, c.mode)
		}
	}
	for _, bad := range []string{"010000", "0100644", "9", "-1", "0x1ff"} {
		if _, err := (&jsonEntry{Type: "file", Mode: bad}).entry("f"); err == nil {
			t.Errorf("mode %q accepted", bad)
		}
	}
}

// A time a plan could not write back (its UTC year beyond 9999 or before
// 0) is refused when read, as any other bad time.
func TestPlanJSONTimeRange(t *testing.T) {
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"9999-12-31T23:59:59Z", true},
		{"0000-01-01T00:00:00Z", true},
		{"9999-12-31T23:59:59-01:00", false},
		{"0000-01-01T00:00:00+01:00", false},
	} {
		_, err := (&jsonEntry{Type: "file", MTime: c.text}).entry("f")
		_, aerr := (&jsonEntry{Type: "file", ATime: c.text}).entry("f")
		if (err == nil) != c.ok || (aerr == nil) != c.ok {
			t.Errorf("%s: mtime %v, atime %v; want ok %v", c.text, err, aerr, c.ok)
		}
	}
}
