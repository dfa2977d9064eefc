package core

import (
	"slices"
	"testing"
)

// An error record keeps the agreed state it had: the diff is the one the
// path had before the failed attempt.
func TestDiffErrorRecords(t *testing.T) {
	f := tFile("f", 10, t0, "sha1_sparse:a")
	none := &Record{Entry: Entry{Path: "f", UID: NoID, GID: NoID}, Status: StatusError, Note: "boom"}
	kept := &Record{Entry: *f, Status: StatusError, Note: "boom"}
	o := DiffOptions{Checksum: ChecksumSHA1Sparse}
	for _, tc := range []struct {
		name string
		base *Record
		cur  *Entry
		want Change
	}{
		{"no agreed state, entry there", none, f, Created},
		{"no agreed state, nothing there", none, nil, Absent},
		{"agreed state kept, unchanged", kept, f, Unchanged},
		{"agreed state kept, gone", kept, nil, Deleted},
	} {
		if got := Diff(tc.base, tc.cur, o); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// Reconcile gives each action the records of its path, and clears the
// error records of paths that need nothing.
func TestReconcileErrorRecords(t *testing.T) {
	f, g := tFile("f", 10, t0, "sha1_sparse:a"), tFile("g", 10, t0, "sha1_sparse:g")
	errNone := &Record{Entry: Entry{Path: "h", UID: NoID, GID: NoID}, Status: StatusError}
	errKept := &Record{Entry: *g, Status: StatusError}
	states := []PathState{
		{Path: "f", Cur: [2]*Entry{f, nil}, Base: [2]*Record{errNone, errNone}}, // a new file whose copy failed
		{Path: "g", Cur: [2]*Entry{g, g}, Base: [2]*Record{errKept, tRec(g)}},
		{Path: "h", Base: [2]*Record{errNone, errNone}},
	}
	p := tPlan(t, states, Policy{Direction: Push})
	if got, want := tRender(p), []string{"copy remote /f"}; !slices.Equal(got, want) {
		t.Fatalf("plan %q, want %q", got, want)
	}
	if a := p.Actions[0]; !a.basesKnown || a.bases[Local] != errNone || a.bases[Remote] != errNone {
		t.Errorf("the copy does not carry its path's records: %+v", a.bases)
	}
	if got, want := tRecords(p), []string{"/g - local:put remote:-", "/h - local:drop remote:drop"}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	for _, u := range p.Records {
		if u.Path == "g" && (u.Ops[Local].Put.Status != StatusSynced || u.Ops[Local].Put.Note != "") {
			t.Errorf("error record of /g not cleared: %+v", u.Ops[Local].Put)
		}
	}
}
