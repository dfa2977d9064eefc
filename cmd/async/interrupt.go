package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/async-sync/async/internal/logfile"
)

// stopGrace is how long a run may take to wind down after SIGINT or
// SIGTERM (finish the actions in flight, record what was done) before the
// process ends regardless: a far side that stopped answering must not keep
// it alive. What was committed to the snapshots before is kept; the
// session locks go with the process.
const stopGrace = 1500 * time.Millisecond

// interruptible watches ctx, cancelled by SIGINT or SIGTERM: once it is,
// the run gets stopGrace to return (by calling the returned stop), after
// which the logs are flushed and the process exits with exitFailed.
func interruptible(ctx context.Context, stderr io.Writer, logs *openLogs) (stop func()) {
	done := make(chan struct{})
	restoreTTY := saveTerminal()
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
		}
		msg := fmt.Sprintf("interrupted, and the run did not stop within %s (the other side does not answer?): exiting; what was done is recorded, the rest is done next run", stopGrace)
		restoreTTY()
		fmt.Fprintf(stderr, "async: %s\n", msg)
		logs.flush(msg)
		os.Exit(exitFailed)
	}()
	return func() { close(done) }
}

// saveTerminal notes the state of the controlling terminal, if any, and
// returns what puts it back: a password prompt cut short by the exit must
// not leave it without echo.
func saveTerminal() (restore func()) {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return func() {}
	}
	st, err := term.GetState(int(tty.Fd()))
	if err != nil {
		tty.Close()
		return func() {}
	}
	return func() {
		signal.Ignore(syscall.SIGTTOU) // in the background too, without being stopped
		term.Restore(int(tty.Fd()), st)
	}
}

// openLogs are the session log files open in this process, flushed when it
// has to exit without closing them.
type openLogs struct {
	mu    sync.Mutex
	files map[*logfile.File]*slog.Logger
}

func (o *openLogs) add(f *logfile.File, l *slog.Logger) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.files == nil {
		o.files = map[*logfile.File]*slog.Logger{}
	}
	o.files[f] = l
}

func (o *openLogs) remove(f *logfile.File) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.files, f)
}

// flush writes msg as an error record to every log, and what they buffer.
func (o *openLogs) flush(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for f, l := range o.files {
		l.Error(msg)
		f.Flush()
	}
}
