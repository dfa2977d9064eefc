package core

import (
	"slices"
	"testing"
	"time"
)

// With a keep directory, the plan shows every keep: what would be deleted
// or replaced on that side is moved there, under its own relative path.
func TestKeepDirPlansKeeps(t *testing.T) {
	t1 := t0.Add(time.Hour)
	old := tFile("f", 10, t0, "sha1_sparse:a")
	gone := tFile("g", 10, t0, "sha1_sparse:g")
	dir, inDir := tDir("d"), tFile("d/x", 1, t0, "sha1_sparse:x")
	typed := tFile("t", 1, t0, "sha1_sparse:t")
	states := []PathState{
		{Path: "f", Base: [2]*Record{tRec(old), tRec(old)}, Cur: [2]*Entry{tFile("f", 20, t1, "sha1_sparse:b"), old}},
		{Path: "g", Base: [2]*Record{tRec(gone), tRec(gone)}, Cur: [2]*Entry{nil, gone}},
		{Path: "d", Base: [2]*Record{tRec(dir), tRec(dir)}, Cur: [2]*Entry{nil, dir}},
		{Path: "d/x", Base: [2]*Record{tRec(inDir), tRec(inDir)}, Cur: [2]*Entry{nil, inDir}},
		{Path: "t", Base: [2]*Record{tRec(typed), tRec(typed)}, Cur: [2]*Entry{tDir("t"), typed}},
	}
	p := tPlan(t, states, Policy{Direction: Push, KeepDir: [2]string{"", "K"}})
	want := []string{
		"keep remote /f -> /K/f",
		"keep remote /t -> /K/t",
		"mkdir remote /t",
		"copy remote /f",
		"keep remote /d/x -> /K/d/x",
		"delete remote /d",
		"keep remote /g -> /K/g",
	}
	if got := tRender(p); !slices.Equal(got, want) {
		t.Fatalf("plan %q, want %q", got, want)
	}
	reasons := map[string]string{}
	for _, a := range p.Actions {
		switch a.Op {
		case OpKeep:
			reasons[a.Path] = a.Reason
		case OpCopy:
			if a.Dest != nil {
				t.Errorf("copy %s after its keep still expects %v at the destination", a.Path, a.Dest)
			}
		}
	}
	wantReasons := map[string]string{"f": KeepReplaced, "t": KeepDeleted, "d/x": KeepDeleted, "g": KeepDeleted}
	for p, r := range wantReasons {
		if reasons[p] != r {
			t.Errorf("keep %s: reason %q, want %q", p, reasons[p], r)
		}
	}
	tot := p.Totals()
	if tot.Keep != 4 || tot.Delete != 4 || tot.Copy != 1 {
		t.Errorf("totals %+v: want 4 keeps, 4 deletions (3 kept), 1 copy", tot)
	}
	// The keep of /t makes room for the directory: it runs early.
	for _, a := range p.Actions {
		if a.Path == "t" && a.Op == OpKeep && (!a.Early || a.phase(false) != 1) {
			t.Errorf("keep of /t is not early: %+v", a)
		}
	}
	// Without a keep directory on that side, nothing is kept.
	p = tPlan(t, states, Policy{Direction: Push, KeepDir: [2]string{"K", ""}})
	for _, a := range p.Actions {
		if a.Op == OpKeep {
			t.Errorf("keep planned on the side without a keep dir: %s", tRender(&Plan{Actions: []Action{a}}))
		}
	}
}
