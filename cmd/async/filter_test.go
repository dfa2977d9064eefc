package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWorkedFilterExample(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{
		"Raw/2024/img.cr2": "raw", "Raw/2024/img.cr2~": "backup", "Raw/x.thm": "thumb",
		"Jpg/Big/a.jpg": "big", "Jpg/Med/m.jpg": "med", "Jpg/Small/s.jpg": "small",
		"notes.txt": "notes", ".config/settings": "cfg", ".profile": "p",
	})
	rules := []string{"-E", ".*~", "-E", "*~", "-E", ".*.thm", "-E", "*.thm", "-I", ".*/", "-I", "/Raw/**",
		"-I", "/Jpg/Big/**", "-I", "/Jpg/Med/**", "-E", "*", "-E", ".*"}
	r := runAsync(t, append([]string{"-N", "f", "-d", src, "-r", dst}, rules...)...)
	mustCode(t, r, 0)
	equalTrees(t, readTree(t, dst), tree{
		"Raw/": "", "Raw/2024/": "", "Raw/2024/img.cr2": "raw",
		"Jpg/": "", "Jpg/Big/": "", "Jpg/Big/a.jpg": "big", "Jpg/Med/": "", "Jpg/Med/m.jpg": "med",
		".config/": "",
	})
	// The rules are recorded; changing them leaves newly excluded entries
	// alone on both sides.
	if m := runAsync(t, "admin", "-d", src, "-m"); !strings.Contains(m.stdout, `"-I /Raw/**"`) {
		t.Errorf("rules not in the snapshot metadata:\n%s", m.stdout)
	}
	os.Remove(filepath.Join(src, "Jpg/Med/m.jpg"))
	rf := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(filepath.Join(filepath.Dir(rf), "inner"), []byte("- /Jpg/Med/\n"), 0o644)
	os.WriteFile(rf, []byte("# now without Med\n. inner\n+ /Raw/**\n+ /Jpg/Big/**\n*\n"), 0o644)
	r = runAsync(t, "-N", "f", "-d", src, "-r", dst, "--exclude-from", rf)
	mustCode(t, r, 0)
	if readTree(t, dst)["Jpg/Med/m.jpg"] != "med" {
		t.Errorf("a newly excluded entry was deleted at the destination:\n%s", r.stdout)
	}
	// --clean-excluded forgets them without deleting anything.
	r = runAsync(t, "-N", "f", "-d", src, "-r", dst, "--exclude-from", rf, "--clean-excluded")
	mustCode(t, r, 0)
	if readTree(t, dst)["Jpg/Med/m.jpg"] != "med" {
		t.Errorf("--clean-excluded deleted a file")
	}
	if f := runAsync(t, "admin", "-d", src, "-f"); strings.Contains(f.stdout, "/Jpg/Med") {
		t.Errorf("excluded records kept after --clean-excluded:\n%s", f.stdout)
	}
	// A bad pattern is a usage error that touches nothing.
	if r := runAsync(t, "-N", "f", "-d", src, "-r", dst, "-E", "[oops"); r.code != 2 || !strings.Contains(r.stderr, "[oops") {
		t.Errorf("bad pattern: exit %d, %q", r.code, r.stderr)
	}
}
