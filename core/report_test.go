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
