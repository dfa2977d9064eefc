package core

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEntriesAreReportedThroughReport: a per-entry report made by calling
// Options.Report directly would not reach Options.Finished (the event
// stream and the terminal display of the command line); every one goes
// through engine.report.
func TestEntriesAreReportedThroughReport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	direct := regexp.MustCompile(`\.o\.Report\(`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "report.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if direct.MatchString(line) {
				t.Errorf("%s:%d calls Options.Report directly; use report(Finished{...})", f, i+1)
			}
		}
	}
}

// TestOutcomeStatus: each outcome's name (the event stream's "outcome")
// and the status the text output prints for it.
func TestOutcomeStatus(t *testing.T) {
	for _, c := range []struct {
		f            Finished
		name, status string
	}{
		{Finished{Outcome: OutcomeDone}, "done", "SYNCHRONIZED"},
		{Finished{Outcome: OutcomeExists}, "exists", "SYNCHRONIZED(exs)"},
		{Finished{Outcome: OutcomeSkipped}, "skipped", "SYNCHRONIZED(skp)"},
		{Finished{Outcome: OutcomeDeleted}, "deleted", "SYNCHRONIZED(del)"},
		{Finished{Outcome: OutcomeMoved}, "moved", "SYNCHRONIZED(mov)"},
		{Finished{Outcome: OutcomeDedup}, "dedup", "SYNCHRONIZED(ddp)"},
		{Finished{Outcome: OutcomeConflict}, "conflict", "CONFLICT"},
		{Finished{Outcome: OutcomeError, Reason: "open /a: permission denied"}, "error", "ERROR: open /a: permission denied"},
		{Finished{Outcome: OutcomeNone}, "none", ""},
		{Finished{Outcome: numOutcomes}, "unknown", ""},
	} {
		if got := c.f.Outcome.String(); got != c.name {
			t.Errorf("outcome %d is named %q, want %q", c.f.Outcome, got, c.name)
		}
		if got := c.f.Status(); got != c.status {
			t.Errorf("outcome %d prints %q, want %q", c.f.Outcome, got, c.status)
		}
	}
}
