package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/internal/vt"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal of cols×rows: the master and the
// terminal's device.
func openPTY(t *testing.T, cols, rows int) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}); err != nil {
		t.Fatalf("pty size: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// manyFiles writes n small files under root, 1,000 to a directory.
func manyFiles(t *testing.T, root string, n int) {
	t.Helper()
	data := bytes.Repeat([]byte("x"), 100)
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%02d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// progressRow is the main line of the display.
var progressRow = regexp.MustCompile(`^t: (scanning and planning…|[0-9,]+/20,000 files · .* · .*/s)`)

// TestTerminalDisplayStaysOnScreen runs a push of 20,000 files in a
// pseudo-terminal, plays what async writes onto an emulated screen and
// looks at it every 200 ms: the progress display is on the screen in every
// capture, the per-entry lines are held back (they come too fast to read)
// and counted, and the last screen holds the summary.
func TestTerminalDisplayStaysOnScreen(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	manyFiles(t, src, 20000)
	master, tty := openPTY(t, 120, 20)
	state := t.TempDir()
	cmd := exec.Command(asyncBin, "-N", "t", "-d", src, "-r", dst, "-l", "40m")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	screen := vt.New(120, 20)
	var raw bytes.Buffer
	var mu sync.Mutex
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 32<<10)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			raw.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var captures []string
	var err error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err = <-exited:
			break wait
		case <-tick.C:
			if time.Since(start) > 60*time.Second {
				cmd.Process.Kill()
				t.Fatal("async did not finish within 60 s")
			}
			mu.Lock()
			begun := raw.Len() > 0
			mu.Unlock()
			if begun { // from async's first output on
				captures = append(captures, screen.String())
			}
		}
	}
	if err != nil {
		t.Fatalf("async: %v\n%s", err, screen.String())
	}
	select {
	case <-read:
	case <-time.After(5 * time.Second):
	}
	took := time.Since(start)
	hiddenSeen := false
	summary := regexp.MustCompile(`(?m)^t: push done in .*: 20,000 files \(1\.9 MiB\) transferred, 0 deleted`)
	for i, c := range captures {
		if summary.MatchString(c) {
			captures = captures[:i] // the run is over; the process exits
			break
		}
		lines := strings.Split(c, "\n")
		found := -1
		for j, l := range lines {
			if progressRow.MatchString(l) {
				found = j
			}
		}
		if found < 0 {
			t.Fatalf("capture %d of %d (at %v): no progress display:\n%s", i+1, len(captures), time.Duration(i+1)*200*time.Millisecond, c)
		}
		// The display is the last thing on the screen: nothing below it
		// but its own lines (counters, files in flight).
		for _, l := range lines[found+1:] {
			if strings.HasSuffix(l, "SYNCHRONIZED") {
				t.Fatalf("capture %d: a per-entry line below the display:\n%s", i+1, c)
			}
		}
		if strings.Contains(c, "lines not shown") {
			hiddenSeen = true
		}
	}
	if len(captures) < 5 {
		t.Fatalf("the run took %v: too short to look at the display (%d captures)", took, len(captures))
	}
	if !hiddenSeen {
		t.Errorf("20,000 lines in %v, yet no capture counts lines not shown", took)
	}
	final := screen.String()
	if !summary.MatchString(final) {
		t.Errorf("the last screen has no summary:\n%s", final)
	}
	if progressRow.MatchString(final) || strings.Contains(final, "lines not shown") {
		t.Errorf("the display is left on the last screen:\n%s", final)
	}
	// Every entry is in the log.
	logs, _ := filepath.Glob(filepath.Join(state, "async", "*", "*.log"))
	if len(logs) == 0 {
		logs, _ = filepath.Glob(filepath.Join(src, ".private-asp", "*", "*.log"))
	}
	n := 0
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		n += strings.Count(string(b), "SYNCHRONIZED")
	}
	if n < 20000 {
		t.Errorf("the log has %d per-entry records, want at least 20,000 (logs %v)", n, logs)
	}
	t.Logf("%d captures over %v, %d bytes written to the terminal", len(captures), took, raw.Len())
}
