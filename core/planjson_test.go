package core

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// What the executor takes from a saved plan survives it: the source's
// owners and access time (for -u, -j, --preserve-access-time), and what a
// keep stands for.
func TestPlanJSONRoundTrip(t *testing.T) {
	at := t0.Add(-time.Hour)
	src := &Entry{Path: "d/f", Type: TypeFile, Size: 3, MTime: t0, ATime: at, Mode: 0o640, UID: 1234, GID: 5678,
		Hash: "sha1:aa", Token: "tok"}
	dest := &Entry{Path: "d/f", Type: TypeFile, Size: 2, MTime: t0, Mode: 0o644, UID: NoID, GID: NoID}
	in := &Plan{Actions: []Action{
		{Op: OpKeep, Side: Remote, Path: "d/f", To: "K/d/f", Dest: dest, Reason: KeepReplaced},
		{Op: OpCopy, Side: Remote, Path: "d/f", Source: src},
		{Op: OpKeep, Side: Remote, Path: "g", To: "K/g", Dest: dest, Reason: KeepDeleted},
	}}
	var buf bytes.Buffer
	h := PlanHeader{Session: "s", Direction: Push, Local: "file:///a", Remote: "file:///b", Options: map[string]any{"keep_dir_remote": "K"}}
	if err := WritePlanJSON(&buf, h, in); err != nil {
		t.Fatal(err)
	}
	h2, out, err := ReadPlanJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if h2.Options["keep_dir_remote"] != "K" {
		t.Errorf("options: %v", h2.Options)
	}
	if len(out.Actions) != 3 {
		t.Fatalf("%d actions", len(out.Actions))
	}
	got := out.Actions[1].Source
	want := *src
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("source read back as %+v, want %+v", *got, want)
	}
	if d := out.Actions[0].Dest; d.UID != NoID || d.GID != NoID {
		t.Errorf("unknown owners read back as %d:%d", d.UID, d.GID)
	}
	for i, r := range []string{KeepReplaced, "", KeepDeleted} {
		if out.Actions[i].Reason != r {
			t.Errorf("action %d: reason %q, want %q", i, out.Actions[i].Reason, r)
		}
	}
	if !out.Actions[2].deletes() || out.Actions[0].deletes() {
		t.Errorf("a kept deletion is not a deletion after reading")
	}
}
