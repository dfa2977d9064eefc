package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// install links exe into dir as the plugin for scheme.
func install(t *testing.T, exe, dir, scheme string) string {
	t.Helper()
	p := filepath.Join(dir, Prefix+scheme)
	if err := os.Symlink(exe, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFind(t *testing.T) {
	exe := bboltPlugin(t)
	first, second := t.TempDir(), t.TempDir()
	// Not executable: not a plugin.
	if err := os.WriteFile(filepath.Join(first, Prefix+"bbolt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := install(t, exe, second, "bbolt")
	if got, err := Find("bbolt", []string{"", first, second}); err != nil || got != want {
		t.Errorf("Find = %q, %v; want %q", got, err, want)
	}
	shadow := install(t, exe, first, "other")
	install(t, exe, second, "other")
	if got, err := Find("other", []string{first, second}); err != nil || got != shadow {
		t.Errorf("Find = %q, %v; want the first directory's %q", got, err, shadow)
	}
	for _, scheme := range []string{"missing", "../bbolt", ""} {
		if _, err := Find(scheme, []string{first, second}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q): %v, want ErrNotFound", scheme, err)
		}
	}
}

func TestList(t *testing.T) {
	exe := bboltPlugin(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bbolt := install(t, exe, dir, "bbolt")
	script := "#!/bin/sh\n" + modeEnv + "=badversion exec '" + self + "' \"$@\"\n"
	old := filepath.Join(dir, Prefix+"old")
	if err := os.WriteFile(old, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	got := List([]string{dir, t.TempDir(), filepath.Join(dir, "missing")})
	if len(got) != 2 {
		t.Fatalf("List = %+v", got)
	}
	if g := got[0]; g.Scheme != "bbolt" || g.Path != bbolt || g.ProtocolVersion != ProtocolVersion || g.Err != nil {
		t.Errorf("bbolt: %+v", g)
	}
	if g := got[1]; g.Scheme != "old" || g.Path != old || g.ProtocolVersion != ProtocolVersion+1 || !errors.Is(g.Err, ErrIncompatible) {
		t.Errorf("old: %+v", g)
	}
}

func TestDirs(t *testing.T) {
	t.Setenv("ASYNC_PLUGIN_DIR", "/a"+string(os.PathListSeparator)+"/b")
	t.Setenv("HOME", "/home/u")
	got := Dirs("/flag", os.Getenv("ASYNC_PLUGIN_DIR"))
	exe, _ := os.Executable()
	want := []string{"/flag", "/a", "/b", "/home/u/.config/async/plugins", filepath.Dir(exe)}
	if len(got) != len(want) {
		t.Fatalf("Dirs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Dirs = %v, want %v", got, want)
		}
	}
}
