package main

import (
	"log/slog"
	"testing"

	"github.com/async-sync/async/core"
)

func TestSkippedLinksWarning(t *testing.T) {
	var l skippedLinks
	log := discardLog()
	if w := l.warning("-r"); w != "" {
		t.Errorf("no links: %q", w)
	}
	for _, p := range []string{"z", "a/b", "a", "c", "d", "e", "f"} {
		l.add(log, p)
	}
	want := "warning: 7 symbolic links not synchronized: a bucket (-r) cannot hold links; -n follow sends what they point to: /a, /a/b, /c, /d, /e and 2 more (with -D the log names every one)"
	if w := l.warning("-r"); w != want {
		t.Errorf("warning\n%q, want\n%q", w, want)
	}
	// Continuous mode: a later round warns about new links only.
	l.add(log, "a")
	l.add(log, "new")
	want = "warning: 1 symbolic link not synchronized: a bucket (-d) cannot hold links; -n follow sends what they point to: /new"
	if w := l.warning("-d"); w != want {
		t.Errorf("next round\n%q, want\n%q", w, want)
	}
	if w := l.warning("-d"); w != "" {
		t.Errorf("round without links: %q", w)
	}
}

func TestLogLevel(t *testing.T) {
	for n, want := range map[int]string{0: "INFO", 1: "DEBUG", 2: "TRACE", 3: "TRACE"} {
		a := core.ReplaceLevel(nil, slogLevelAttr(logLevel(n)))
		if got := a.Value.String(); got != want {
			t.Errorf("-D x%d: level %s, want %s", n, got, want)
		}
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func slogLevelAttr(l slog.Level) slog.Attr { return slog.Any(slog.LevelKey, l) }
