package core

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRenameDetection(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	file := func(p, id string, size int64) *Entry {
		return &Entry{Path: p, Type: TypeFile, Size: size, MTime: t0, Mode: 0o644, FileID: id, Token: "c1", UID: NoID, GID: NoID}
	}
	dir := func(p, id string) *Entry {
		return &Entry{Path: p, Type: TypeDir, Mode: 0o755, FileID: id, UID: NoID, GID: NoID}
	}
	rec := func(e *Entry) *Record { return &Record{Entry: *e} }
	synced := func(l, r *Entry) PathState {
		return PathState{Path: l.Path, Base: [2]*Record{rec(l), rec(r)}, Cur: [2]*Entry{l, r}}
	}
	// moved builds the states of a path moved on the local side.
	gone := func(l, r *Entry) PathState {
		return PathState{Path: l.Path, Base: [2]*Record{rec(l), rec(r)}, Cur: [2]*Entry{nil, r}}
	}
	created := func(l *Entry) PathState { return PathState{Path: l.Path, Cur: [2]*Entry{l, nil}} }
	withToken := func(e *Entry, tok string) *Entry { c := *e; c.Token = tok; return &c }

	tests := []struct {
		name   string
		policy Policy
		states []PathState
		want   []string
	}{
		{
			name:   "file move becomes a rename",
			policy: Policy{Direction: Push, RenameFiles: true},
			states: []PathState{
				gone(file("a.bin", "1:10", 1<<30), file("a.bin", "1:90", 1<<30)),
				created(withToken(file("b.bin", "1:10", 1<<30), "c2")),
			},
			want: []string{"rename remote /a.bin -> /b.bin"},
		},
		{
			name:   "without the option: copy and delete",
			policy: Policy{Direction: Push},
			states: []PathState{
				gone(file("a.bin", "1:10", 5), file("a.bin", "1:90", 5)),
				created(file("b.bin", "1:10", 5)),
			},
			want: []string{"copy remote /b.bin", "delete remote /a.bin"},
		},
		{
			name:   "reused inode with other content is no move",
			policy: Policy{Direction: Push, RenameFiles: true},
			states: []PathState{
				gone(file("a.bin", "1:10", 5), file("a.bin", "1:90", 5)),
				created(file("b.bin", "1:10", 6)),
			},
			want: []string{"copy remote /b.bin", "delete remote /a.bin"},
		},
		{
			name:   "directory move carries its subtree and a later change inside",
			policy: Policy{Direction: Push, RenameDirs: true, RenameFiles: true},
			states: []PathState{
				gone(dir("d", "1:20"), dir("d", "1:80")),
				gone(file("d/x", "1:21", 3), file("d/x", "1:81", 3)),
				gone(file("d/y", "1:22", 3), file("d/y", "1:82", 3)),
				created(dir("e", "1:20")),
				created(file("e/x", "1:21", 3)),
				created(file("e/y", "1:22", 4)), // modified after the move
				created(file("e/z", "1:23", 1)), // new inside the moved dir
			},
			want: []string{"rename remote /d -> /e", "copy remote /e/y", "copy remote /e/z"},
		},
		{
			name:   "destination changed the old entry: no rename",
			policy: Policy{Direction: Push, RenameFiles: true, Overwrite: OverwriteConflict},
			states: []PathState{
				{Path: "a", Base: [2]*Record{rec(file("a", "1:10", 5)), rec(file("a", "1:90", 5))},
					Cur: [2]*Entry{nil, file("a", "1:90", 7)}},
				created(file("b", "1:10", 5)),
			},
			want: []string{"copy remote /b", "conflict remote /a"},
		},
		{
			name:   "target occupied at the destination: no rename",
			policy: Policy{Direction: Push, RenameFiles: true, Overwrite: OverwriteAlways},
			states: []PathState{
				gone(file("a", "1:10", 5), file("a", "1:90", 5)),
				{Path: "b", Cur: [2]*Entry{file("b", "1:10", 5), file("b", "1:91", 9)}},
			},
			want: []string{"copy remote /b", "delete remote /a"},
		},
		{
			name:   "move into a new directory creates it first",
			policy: Policy{Direction: Push, RenameFiles: true},
			states: []PathState{
				gone(file("a", "1:10", 5), file("a", "1:90", 5)),
				created(dir("n", "1:30")),
				created(file("n/a", "1:10", 5)),
			},
			want: []string{"rename remote /a -> /n/a", "mkdir remote /n"},
		},
		{
			name:   "pull detects moves on the remote side",
			policy: Policy{Direction: Pull, RenameFiles: true},
			states: []PathState{
				{Path: "a", Base: [2]*Record{rec(file("a", "1:10", 5)), rec(file("a", "1:90", 5))},
					Cur: [2]*Entry{file("a", "1:10", 5), nil}},
				{Path: "b", Cur: [2]*Entry{nil, file("b", "1:90", 5)}},
			},
			want: []string{"rename local /a -> /b"},
		},
		{
			name:   "bidi: a move on each side of different entries",
			policy: Policy{Direction: Bidi, RenameFiles: true},
			states: []PathState{
				gone(file("a", "1:10", 5), file("a", "1:90", 5)),
				{Path: "c", Base: [2]*Record{rec(file("c", "1:11", 5)), rec(file("c", "1:91", 5))},
					Cur: [2]*Entry{file("c", "1:11", 5), nil}},
				created(file("b", "1:10", 5)),
				{Path: "d", Cur: [2]*Entry{nil, file("d", "1:91", 5)}},
				synced(file("s", "1:12", 1), file("s", "1:92", 1)),
			},
			want: []string{"rename remote /a -> /b", "rename local /c -> /d"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.policy.Resolve(); err != nil {
				t.Fatal(err)
			}
			tc.policy.Checksum = ChecksumNone
			got := render(Reconcile(tc.states, tc.policy))
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan:\n  %q\nwant:\n  %q", got, tc.want)
			}
		})
	}
}

func TestRenameCommitMovesRecords(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := func(p, id string, typ Type) *Entry {
		return &Entry{Path: p, Type: typ, MTime: t0, FileID: id, UID: NoID, GID: NoID}
	}
	rec := func(x *Entry) *Record { return &Record{Entry: *x} }
	states := []PathState{
		{Path: "d", Base: [2]*Record{rec(e("d", "1", TypeDir)), rec(e("d", "9", TypeDir))}, Cur: [2]*Entry{nil, e("d", "9", TypeDir)}},
		{Path: "d/x", Base: [2]*Record{rec(e("d/x", "2", TypeFile)), rec(e("d/x", "8", TypeFile))}, Cur: [2]*Entry{nil, e("d/x", "8", TypeFile)}},
		{Path: "e", Cur: [2]*Entry{e("e", "1", TypeDir), nil}},
		{Path: "e/x", Cur: [2]*Entry{e("e/x", "2", TypeFile), nil}},
	}
	p := Policy{Direction: Push, RenameDirs: true, RenameFiles: true, Checksum: ChecksumNone}
	if err := p.Resolve(); err != nil {
		t.Fatal(err)
	}
	plan := Reconcile(states, p)
	if len(plan.Actions) != 1 || plan.Actions[0].Op != OpRename {
		t.Fatalf("plan %q", render(plan))
	}
	var got []string
	for _, u := range plan.Actions[0].Commit {
		for s, op := range u.Ops {
			switch {
			case op.Drop:
				got = append(got, fmt.Sprintf("drop %s %s", Side(s), u.Path))
			case op.Put != nil:
				got = append(got, fmt.Sprintf("put %s %s %s", Side(s), u.Path, op.Put.FileID))
			}
		}
	}
	want := []string{
		"drop local d", "drop remote d", "put local e 1", "put remote e 9",
		"drop local d/x", "drop remote d/x", "put local e/x 2", "put remote e/x 8",
	}
	if !slices.Equal(got, want) {
		t.Errorf("commit:\n  %q\nwant:\n  %q", got, want)
	}
}

// TestNestedRenamesArePlannedOnce covers a subtree whose parent and child
// both seem moved (reused inode numbers): only one of them may become a
// rename, or the second would find its source gone.
func TestNestedRenamesArePlannedOnce(t *testing.T) {
	dir := func(p, id string) *Entry {
		return &Entry{Path: p, Type: TypeDir, Mode: 0o755, FileID: id, UID: NoID, GID: NoID}
	}
	rec := func(e *Entry) *Record { return &Record{Entry: *e} }
	gone := func(l, r *Entry) PathState {
		return PathState{Path: l.Path, Base: [2]*Record{rec(l), rec(r)}, Cur: [2]*Entry{nil, r}}
	}
	states := []PathState{
		{Path: "a", Cur: [2]*Entry{dir("a", "1:50"), nil}},
		{Path: "a/b", Cur: [2]*Entry{dir("a/b", "1:51"), nil}},
		{Path: "a/b/c", Cur: [2]*Entry{dir("a/b/c", "1:2"), nil}}, // reuses b/c's inode
		gone(dir("b", "1:1"), dir("b", "9:1")),
		gone(dir("b/c", "1:2"), dir("b/c", "9:2")),
		{Path: "d", Cur: [2]*Entry{dir("d", "1:60"), nil}},
		{Path: "d/b", Cur: [2]*Entry{dir("d/b", "1:1"), nil}}, // reuses b's inode
	}
	p := Policy{Direction: Push, RenameDirs: true, Checksum: ChecksumNone}
	if err := p.Resolve(); err != nil {
		t.Fatal(err)
	}
	renames := 0
	for _, a := range Reconcile(states, p).Actions {
		if a.Op == OpRename {
			renames++
		}
	}
	if renames > 1 {
		t.Errorf("%d renames planned within one subtree: %q", renames, render(Reconcile(states, p)))
	}
}
