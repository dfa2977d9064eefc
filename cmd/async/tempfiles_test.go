package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lookalikes are user files named like async's temporary files: a dead
// pid's, and partial files older than the resume age.
var lookalikes = []string{
	".async-tmp-999999999-x",
	".async-tmp-partial-x",
	"d/.async-tmp-999999998-y",
	"d/.async-tmp-partial-0123456789abcdef0123",
}

func writeLookalikes(t *testing.T, root, tag string) {
	t.Helper()
	old := time.Now().Add(-10 * 24 * time.Hour)
	for _, n := range lookalikes {
		p := filepath.Join(root, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(tag+n), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
}

func checkLookalikes(t *testing.T, root, tag string) {
	t.Helper()
	for _, n := range lookalikes {
		if b, err := os.ReadFile(filepath.Join(root, n)); err != nil || string(b) != tag+n {
			t.Errorf("%s in %s: %q, %v", n, tag, b, err)
		}
	}
}

// TestLookalikeTempFilesAreUserData: files that merely look like
// temporary files are never removed, on either side, in push or bidi;
// like every name starting with .async-tmp- they are not synchronized.
func TestLookalikeTempFilesAreUserData(t *testing.T) {
	for _, dir := range []string{"push", "bidi"} {
		t.Run(dir, func(t *testing.T) {
			src, dst := dirs(t)
			writeTree(t, src, tree{"d/f": "1"})
			writeLookalikes(t, src, "src")
			writeLookalikes(t, dst, "dst")
			db := filepath.Join(filepath.Dir(src), "db")
			for range 2 {
				mustCode(t, runAsync(t, "-N", "la", "-d", src, "-r", dst, "-b", db, "-K", dir, "--support-resume=1"), 0)
			}
			checkLookalikes(t, src, "src")
			checkLookalikes(t, dst, "dst")
			if b, _ := os.ReadFile(filepath.Join(dst, "d/f")); string(b) != "1" {
				t.Errorf("d/f not synchronized")
			}
		})
	}
}

// TestOwnLeftoverTempFileIsRemoved: the temporary file of a run killed
// outright is the session's own (its name carries the session's token):
// the next run removes it.
func TestOwnLeftoverTempFileIsRemoved(t *testing.T) {
	src, dst := dirs(t)
	writeTree(t, src, tree{"big": strings.Repeat("x", 4<<20)})
	writeLookalikes(t, dst, "dst")
	db := filepath.Join(filepath.Dir(src), "db")
	state := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(asyncBin, "-N", "k", "-d", src, "-r", dst, "-b", db, "-l", "8m")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	left := ""
	for deadline := time.Now().Add(30 * time.Second); left == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, e := range mustReadDir(t, dst) {
			if fi, err := e.Info(); err == nil && fi.Size() > 0 && strings.HasPrefix(e.Name(), ".async-tmp-") && !strings.HasSuffix(e.Name(), "-x") {
				left = e.Name()
			}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if left == "" {
		t.Fatal("no temporary file appeared")
	}
	if _, err := os.Stat(filepath.Join(dst, left)); err != nil {
		t.Fatalf("the killed run left nothing: %v", err)
	}
	r := runAsync(t, "-N", "k", "-d", src, "-r", dst, "-b", db)
	mustCode(t, r, 0)
	if _, err := os.Stat(filepath.Join(dst, left)); err == nil {
		t.Errorf("the session's own leftover %s was kept", left)
	}
	checkLookalikes(t, dst, "dst")
}
