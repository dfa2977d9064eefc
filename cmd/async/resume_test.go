package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/internal/progress"
)

// interruptWithPartial starts a rate-limited resumable copy of src to
// dst and interrupts it once the partial file at dst holds at least
// 1 MiB; it returns the partial file's path and size.
func interruptWithPartial(t *testing.T, src, dst string, args ...string) (string, int64) {
	t.Helper()
	cmd := exec.Command(asyncBin, append([]string{"-N", "r", "-d", src, "-r", dst, "-l", "8m", "--support-resume=1m"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(t.TempDir(), "state"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, e := range mustReadDir(t, dst) {
			if !strings.HasPrefix(e.Name(), ".async-tmp-partial-") {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.Size() >= 3<<20/2 {
				cmd.Process.Signal(os.Interrupt)
				cmd.Wait()
				p := filepath.Join(dst, e.Name())
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatalf("no partial file kept: %v", err)
				}
				return p, fi.Size()
			}
		}
	}
	cmd.Process.Kill()
	t.Fatal("no partial file appeared")
	return "", 0
}

// TestSupportResumeVerifiesThePartialFile: a kept partial file that was
// damaged since (1 MiB zeroed inside it) is not continued: the copy
// starts over and the content is right.
func TestSupportResumeVerifiesThePartialFile(t *testing.T) {
	src, dst := dirs(t)
	var content bytes.Buffer
	for i := 0; content.Len() < 4<<20; i++ {
		fmt.Fprintf(&content, "%015d\n", i)
	}
	writeTree(t, src, tree{"big": content.String()})
	partial, size := interruptWithPartial(t, src, dst)
	if size >= int64(content.Len()) {
		t.Fatalf("partial file of %d bytes", size)
	}
	f, err := os.OpenFile(partial, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 1<<20), 256<<10)
	f.Close()
	r := runAsync(t, "-N", "r", "-d", src, "-r", dst, "--support-resume=1m")
	mustCode(t, r, 0)
	if got := readTree(t, dst)["big"]; got != content.String() {
		t.Fatalf("the copy differs from its source (%d bytes)", len(got))
	}
	if want := fmt.Sprintf("(%s) transferred", progress.Size(int64(content.Len()))); !strings.Contains(r.stderr, want) {
		t.Errorf("the damaged partial file was continued: %s (want %q)", r.stderr, want)
	}
	for _, e := range mustReadDir(t, dst) {
		if strings.HasPrefix(e.Name(), ".async-tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if _, err := syscall.Getxattr(filepath.Join(dst, "big"), "user.async.prefix", nil); err == nil {
		t.Errorf("the file keeps async's record of its partial state")
	}
}
