package plugins

import (
	"bufio"
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogFor returns an hclog logger for go-plugin that hands every record to
// l: go-plugin's own messages and the plugin's log, which it reads from the
// plugin's stderr.
func hclogFor(l *slog.Logger) hclog.Logger {
	h := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   "plugin",
		Level:  hclog.Trace, // l's handler filters
		Output: io.Discard,
	})
	h.RegisterSink(slogSink{l})
	return h
}

// slogSink forwards hclog records to slog.
type slogSink struct{ l *slog.Logger }

// Accept implements hclog.SinkAdapter.
func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	lv := slog.LevelDebug
	switch level {
	case hclog.Info:
		lv = slog.LevelInfo
	case hclog.Warn:
		lv = slog.LevelWarn
	case hclog.Error:
		lv = slog.LevelError
	}
	s.l.Log(context.Background(), lv, msg, append([]any{"logger", name}, args...)...)
}

// lineLogger returns a writer that logs each line written to it at level,
// and the function that stops it.
func lineLogger(l *slog.Logger, level slog.Level, msg string) (io.Writer, func()) {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.Log(context.Background(), level, msg, "line", sc.Text())
		}
		io.Copy(io.Discard, r)
	}()
	return w, func() { w.Close() }
}
