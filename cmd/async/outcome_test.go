package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// TestEntryOutputOfEachOutcome pins, byte for byte, what the printer makes
// of each typed per-entry event: the text line on stdout, the lines -q
// keeps (on stderr), and the event of --events=json (its time aside).
func TestEntryOutputOfEachOutcome(t *testing.T) {
	for _, c := range []struct {
		f     core.Finished
		text  string
		quiet bool
		event string
	}{
		{core.Finished{Path: "d/f", Outcome: core.OutcomeDone, Op: core.OpCopy, Side: core.Remote, Bytes: 5, Took: 1500 * time.Millisecond},
			"/d/f  SYNCHRONIZED", false,
			`"path":"/d/f","op":"copy","side":"remote","outcome":"done","status":"SYNCHRONIZED","bytes":5,"duration":1.5}`},
		{core.Finished{Path: "same", Outcome: core.OutcomeExists},
			"/same  SYNCHRONIZED(exs)", false,
			`"path":"/same","op":"none","outcome":"exists","status":"SYNCHRONIZED(exs)","bytes":0,"duration":0}`},
		{core.Finished{Path: "a", To: "b", Shown: "/a -> /b", Outcome: core.OutcomeMoved, Op: core.OpRename, Side: core.Local},
			"/a -> /b  SYNCHRONIZED(mov)", false,
			`"path":"/a","to":"/b","op":"rename","side":"local","outcome":"moved","status":"SYNCHRONIZED(mov)","bytes":0,"duration":0}`},
		{core.Finished{Path: "old", Outcome: core.OutcomeDeleted, Op: core.OpDelete, Side: core.Remote},
			"/old  SYNCHRONIZED(del)", false,
			`"path":"/old","op":"delete","side":"remote","outcome":"deleted","status":"SYNCHRONIZED(del)","bytes":0,"duration":0}`},
		{core.Finished{Path: "both", Outcome: core.OutcomeConflict, Op: core.OpConflict, Side: core.Local},
			"/both  CONFLICT", true,
			`"path":"/both","op":"conflict","side":"local","outcome":"conflict","status":"CONFLICT","bytes":0,"duration":0}`},
		{core.Finished{Path: "locked", Outcome: core.OutcomeError, Reason: "open /locked: permission denied", Op: core.OpCopy, Side: core.Remote},
			"/locked  ERROR: open /locked: permission denied", true,
			`"path":"/locked","op":"copy","side":"remote","outcome":"error","status":"ERROR: open /locked: permission denied","bytes":0,"duration":0,"error":"open /locked: permission denied"}`},
		{core.Finished{Path: "hot", Outcome: core.OutcomeError, Reason: "kept changing for --cooloff-max 1m0s; left for later"},
			"/hot  ERROR: kept changing for --cooloff-max 1m0s; left for later", true,
			`"path":"/hot","op":"none","outcome":"error","status":"ERROR: kept changing for --cooloff-max 1m0s; left for later","bytes":0,"duration":0,"error":"kept changing for --cooloff-max 1m0s; left for later"}`},
	} {
		var out, errOut bytes.Buffer
		(&printer{stdout: &out, stderr: &errOut}).entry("s", c.f)
		if out.String() != c.text+"\n" || errOut.Len() != 0 {
			t.Errorf("text: stdout %q, stderr %q; want %q", out.String(), errOut.String(), c.text+"\n")
		}
		out.Reset()
		(&printer{stdout: &out, stderr: &errOut, quiet: true}).entry("s", c.f)
		if want := map[bool]string{true: c.text + "\n", false: ""}[c.quiet]; errOut.String() != want || out.Len() != 0 {
			t.Errorf("-q: stderr %q, stdout %q; want %q", errOut.String(), out.String(), want)
		}
		out.Reset()
		errOut.Reset()
		(&printer{stdout: &out, stderr: &errOut, ev: &events{w: &out}}).entry("s", c.f)
		got := regexp.MustCompile(`"time":"[^"]+",`).ReplaceAllString(out.String(), "")
		if want := `{"type":"entry","session":"s","round":0,` + c.event + "\n"; got != want || errOut.Len() != 0 {
			t.Errorf("event:\n got %s\nwant %s", strings.TrimSpace(got), strings.TrimSpace(want))
		}
	}
}
