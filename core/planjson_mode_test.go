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
