package core

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The change a side made to path "f" since the last sync, for the matrix
// tests. Every side starts from the same agreed file f (unless created).
type change string

const (
	unchanged   change = "unchanged"
	created     change = "created"  // no agreed f: the side created f
	modified    change = "modified" // new content
	deleted     change = "deleted"
	renamed     change = "renamed"      // f moved to g
	typeChanged change = "type-changed" // f is now a directory
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sideEntries returns what side s holds at f and g after change c, and its
// record of f. other tells created apart on the two sides.
func sideEntries(s Side, c change) (base *Record, f, g *Entry) {
	id := fmt.Sprintf("%d:1", s)
	file := func(p string, size int64, hash string) *Entry {
		return &Entry{Path: p, Type: TypeFile, Size: size, MTime: t0, Mode: 0o644, Hash: hash, FileID: id, Token: "t", UID: NoID, GID: NoID}
	}
	agreed := file("f", 1, "sha1_sparse:aa")
	base = &Record{Entry: *agreed}
	switch c {
	case unchanged:
		f = agreed
	case created:
		base = nil
		f = file("f", 3, fmt.Sprintf("sha1_sparse:c%d", s))
		f.FileID = id + "new"
	case modified:
		f = file("f", 2, fmt.Sprintf("sha1_sparse:m%d", s))
		f.MTime = t0.Add(time.Duration(s+1) * time.Minute)
	case renamed:
		g = file("g", 1, "sha1_sparse:aa")
		g.Token = "moved"
	case typeChanged:
		f = &Entry{Path: "f", Type: TypeDir, Mode: 0o755, FileID: id + "dir", UID: NoID, GID: NoID}
	}
	return base, f, g
}

// matrixStates builds the states of f and g for a pair of changes.
func matrixStates(l, r change) []PathState {
	fs := PathState{Path: "f"}
	gs := PathState{Path: "g"}
	for s, c := range [2]change{l, r} {
		base, f, g := sideEntries(Side(s), c)
		other := [2]change{l, r}[1-s]
		if other == created || c == created {
			base = nil // a created f means there was no agreed f at all
			if c != created && c != modified && c != typeChanged {
				f, g = nil, nil // "unchanged" or "deleted" of nothing: absent
			}
		}
		fs.Base[s], fs.Cur[s], gs.Cur[s] = base, f, g
	}
	out := []PathState{fs}
	if gs.Cur[0] != nil || gs.Cur[1] != nil {
		out = append(out, gs)
	}
	return out
}

func render(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		s := fmt.Sprintf("%s %s %s", a.Op, a.Side, DisplayPath(a.Path))
		if a.To != "" {
			s += " -> " + DisplayPath(a.To)
		}
		out = append(out, s)
	}
	return out
}

func plan(states []PathState, p Policy) *Plan {
	if err := p.Resolve(); err != nil {
		panic(err)
	}
	p.Checksum, p.RenameFiles, p.SetMode = ChecksumSHA1Sparse, true, true
	return Reconcile(states, p)
}

var changes = []change{unchanged, created, modified, deleted, renamed, typeChanged}

// TestBidiMatrix covers every pair of changes on the two sides.
func TestBidiMatrix(t *testing.T) {
	want := map[[2]change][]string{
		{unchanged, unchanged}:     nil,
		{unchanged, created}:       {"copy local /f"},
		{unchanged, modified}:      {"copy local /f"},
		{unchanged, deleted}:       {"delete local /f"},
		{unchanged, renamed}:       {"rename local /f -> /g"},
		{unchanged, typeChanged}:   {"delete local /f", "mkdir local /f"},
		{created, unchanged}:       {"copy remote /f"},
		{created, created}:         {"conflict remote /f"},
		{created, modified}:        {"conflict remote /f"},
		{created, deleted}:         {"copy remote /f"},
		{created, renamed}:         {"copy remote /f"},
		{created, typeChanged}:     {"conflict remote /f"},
		{modified, unchanged}:      {"copy remote /f"},
		{modified, created}:        {"conflict remote /f"},
		{modified, modified}:       {"conflict remote /f"},
		{modified, deleted}:        {"copy remote /f"},
		{modified, renamed}:        {"copy remote /f", "copy local /g"},
		{modified, typeChanged}:    {"conflict remote /f"},
		{deleted, unchanged}:       {"delete remote /f"},
		{deleted, created}:         {"copy local /f"},
		{deleted, modified}:        {"copy local /f"},
		{deleted, deleted}:         nil,
		{deleted, renamed}:         {"copy local /g"},
		{deleted, typeChanged}:     {"mkdir local /f"},
		{renamed, unchanged}:       {"rename remote /f -> /g"},
		{renamed, created}:         {"copy local /f"},
		{renamed, modified}:        {"copy local /f", "copy remote /g"},
		{renamed, deleted}:         {"copy remote /g"},
		{renamed, renamed}:         nil, // same move on both sides: recorded
		{renamed, typeChanged}:     {"mkdir local /f", "copy remote /g"},
		{typeChanged, unchanged}:   {"delete remote /f", "mkdir remote /f"},
		{typeChanged, created}:     {"conflict remote /f"},
		{typeChanged, modified}:    {"conflict remote /f"},
		{typeChanged, deleted}:     {"mkdir remote /f"},
		{typeChanged, renamed}:     {"mkdir remote /f", "copy local /g"},
		{typeChanged, typeChanged}: nil, // both made the same directory
	}
	for _, l := range changes {
		for _, r := range changes {
			t.Run(string(l)+"/"+string(r), func(t *testing.T) {
				got := render(plan(matrixStates(l, r), Policy{Direction: Bidi}))
				if w := want[[2]change{l, r}]; !slices.Equal(got, w) {
					t.Errorf("plan %q, want %q", got, w)
				}
			})
		}
	}
}

// TestPushMatrix covers every pair in push under each overwrite policy:
// the local side is the source.
func TestPushMatrix(t *testing.T) {
	always := map[[2]change][]string{
		{unchanged, unchanged}:     nil,
		{unchanged, created}:       nil, // destination-only: left alone
		{unchanged, modified}:      nil, // destination change left alone
		{unchanged, deleted}:       nil,
		{unchanged, renamed}:       nil,
		{unchanged, typeChanged}:   nil,
		{created, unchanged}:       {"copy remote /f"},
		{created, created}:         {"copy remote /f"},
		{created, modified}:        {"copy remote /f"},
		{created, deleted}:         {"copy remote /f"},
		{created, renamed}:         {"copy remote /f"},
		{created, typeChanged}:     {"delete remote /f", "copy remote /f"},
		{modified, unchanged}:      {"copy remote /f"},
		{modified, created}:        {"copy remote /f"},
		{modified, modified}:       {"copy remote /f"},
		{modified, deleted}:        {"copy remote /f"},
		{modified, renamed}:        {"copy remote /f"},
		{modified, typeChanged}:    {"delete remote /f", "copy remote /f"},
		{deleted, unchanged}:       {"delete remote /f"},
		{deleted, created}:         nil,
		{deleted, modified}:        {"delete remote /f"},
		{deleted, deleted}:         nil,
		{deleted, renamed}:         nil,
		{deleted, typeChanged}:     {"delete remote /f"},
		{renamed, unchanged}:       {"rename remote /f -> /g"},
		{renamed, created}:         nil, // no agreed f, so nothing was renamed
		{renamed, modified}:        {"copy remote /g", "delete remote /f"},
		{renamed, deleted}:         {"copy remote /g"},
		{renamed, renamed}:         nil,
		{renamed, typeChanged}:     {"copy remote /g", "delete remote /f"},
		{typeChanged, unchanged}:   {"delete remote /f", "mkdir remote /f"},
		{typeChanged, created}:     {"delete remote /f", "mkdir remote /f"},
		{typeChanged, modified}:    {"delete remote /f", "mkdir remote /f"},
		{typeChanged, deleted}:     {"mkdir remote /f"},
		{typeChanged, renamed}:     {"mkdir remote /f"},
		{typeChanged, typeChanged}: nil,
	}
	// -o conflict: wherever the destination changed too, nothing is touched.
	conflict := map[[2]change][]string{}
	for k, v := range always {
		conflict[k] = v
	}
	for _, k := range [][2]change{
		{created, created}, {created, modified}, {created, typeChanged},
		{modified, created}, {modified, modified}, {modified, typeChanged},
		{deleted, modified}, {deleted, typeChanged},
		{renamed, modified}, {renamed, typeChanged},
		{typeChanged, created}, {typeChanged, modified},
	} {
		var keep []string
		for _, a := range always[k] {
			if !strings.HasSuffix(a, " /f") {
				keep = append(keep, a)
			}
		}
		conflict[k] = append(keep, "conflict remote /f")
	}
	for _, tc := range []struct {
		o    Overwrite
		want map[[2]change][]string
	}{{OverwriteAlways, always}, {OverwriteConflict, conflict}} {
		for _, l := range changes {
			for _, r := range changes {
				t.Run(tc.o.String()+"/"+string(l)+"/"+string(r), func(t *testing.T) {
					got := render(plan(matrixStates(l, r), Policy{Direction: Push, Overwrite: tc.o}))
					if w := tc.want[[2]change{l, r}]; !slices.Equal(got, w) {
						t.Errorf("plan %q, want %q", got, w)
					}
				})
			}
		}
	}
}

// TestPullMirrorsPush checks that pull is push with the sides swapped.
func TestPullMirrorsPush(t *testing.T) {
	swap := func(states []PathState) []PathState {
		for i := range states {
			states[i].Base[0], states[i].Base[1] = states[i].Base[1], states[i].Base[0]
			states[i].Cur[0], states[i].Cur[1] = states[i].Cur[1], states[i].Cur[0]
		}
		return states
	}
	for _, l := range changes {
		for _, r := range changes {
			push := render(plan(matrixStates(l, r), Policy{Direction: Push}))
			pull := render(plan(swap(matrixStates(l, r)), Policy{Direction: Pull}))
			for i := range push {
				push[i] = strings.Replace(push[i], " remote ", " local ", 1)
			}
			if !slices.Equal(push, pull) {
				t.Errorf("%s/%s: push %q, pull %q", l, r, push, pull)
			}
		}
	}
}

func TestOverwriteOlder(t *testing.T) {
	states := func(dstNewer bool) []PathState {
		st := matrixStates(modified, modified)
		st[0].Cur[Remote].MTime = t0
		if dstNewer {
			st[0].Cur[Remote].MTime = t0.Add(time.Hour)
		}
		return st
	}
	if got := render(plan(states(false), Policy{Direction: Push, Overwrite: OverwriteOlder})); !slices.Equal(got, []string{"copy remote /f"}) {
		t.Errorf("older destination: %q", got)
	}
	p := plan(states(true), Policy{Direction: Push, Overwrite: OverwriteOlder})
	if len(p.Actions) != 0 || len(p.Records) != 1 || p.Records[0].Report != ReportSkipped {
		t.Errorf("newer destination: %q %+v", render(p), p.Records)
	}
	// Bidi: the newer side wins, the older version is kept beside itself
	// and sent to the other side too.
	pol := Policy{Direction: Bidi, Overwrite: OverwriteOlder, ConflictSuffix: ".old"}
	got := render(plan(states(true), pol))
	want := []string{"keep local /f -> /f.old", "copy local /f", "copy remote /f.old"}
	if !slices.Equal(got, want) {
		t.Errorf("bidi older: %q, want %q", got, want)
	}
}

func TestEqualContentIsRecordedNotSent(t *testing.T) {
	st := matrixStates(created, created)
	st[0].Cur[Remote].Hash = st[0].Cur[Local].Hash
	st[0].Cur[Remote].MTime = st[0].Cur[Local].MTime
	for _, d := range []Direction{Push, Pull, Bidi} {
		p := plan(st, Policy{Direction: d})
		if len(p.Actions) != 0 || len(p.Records) != 1 || p.Records[0].Report != ReportExists {
			t.Errorf("%s: %q %+v", d, render(p), p.Records)
		}
	}
}

func TestIgnoreDeleteAndMirror(t *testing.T) {
	p := plan(matrixStates(deleted, unchanged), Policy{Direction: Push, IgnoreDelete: true})
	if len(p.Actions) != 0 || len(p.Records) != 1 || !p.Records[0].Ops[Local].Drop || p.Records[0].Ops[Remote].Drop {
		t.Errorf("--ignore-delete: %q %+v", render(p), p.Records)
	}
	p = plan(matrixStates(unchanged, modified), Policy{Direction: Push, Mirror: true})
	if got := render(p); !slices.Equal(got, []string{"copy remote /f"}) {
		t.Errorf("--mirror, destination changed: %q", got)
	}
	only := []PathState{{Path: "x", Cur: [2]*Entry{nil, {Path: "x", Type: TypeFile, Size: 1}}}}
	if got := render(plan(only, Policy{Direction: Push, Mirror: true})); !slices.Equal(got, []string{"delete remote /x"}) {
		t.Errorf("--mirror, destination-only: %q", got)
	}
}

func TestTreeFixes(t *testing.T) {
	dir := func(p string) *Entry { return &Entry{Path: p, Type: TypeDir, Mode: 0o755} }
	file := func(p string) *Entry { return &Entry{Path: p, Type: TypeFile, Size: 1, MTime: t0} }
	rec := func(e *Entry) *Record { return &Record{Entry: *e} }
	// A deleted source directory whose destination holds an extra file:
	// the file stays, so does the directory.
	states := []PathState{
		{Path: "d", Base: [2]*Record{rec(dir("d")), rec(dir("d"))}, Cur: [2]*Entry{nil, dir("d")}},
		{Path: "d/a", Base: [2]*Record{rec(file("d/a")), rec(file("d/a"))}, Cur: [2]*Entry{nil, file("d/a")}},
		{Path: "d/extra", Cur: [2]*Entry{nil, file("d/extra")}},
	}
	p := plan(states, Policy{Direction: Push})
	if got := render(p); !slices.Equal(got, []string{"delete remote /d/a"}) {
		t.Errorf("dir with an extra file: %q", got)
	}
	// New files deep in new directories: parents first; deletions last,
	// deepest first.
	states = []PathState{
		{Path: "n", Cur: [2]*Entry{dir("n"), nil}},
		{Path: "n/m", Cur: [2]*Entry{dir("n/m"), nil}},
		{Path: "n/m/f", Cur: [2]*Entry{file("n/m/f"), nil}},
		{Path: "o", Base: [2]*Record{rec(dir("o")), rec(dir("o"))}, Cur: [2]*Entry{nil, dir("o")}},
		{Path: "o/p", Base: [2]*Record{rec(dir("o/p")), rec(dir("o/p"))}, Cur: [2]*Entry{nil, dir("o/p")}},
	}
	want := []string{"mkdir remote /n", "mkdir remote /n/m", "copy remote /n/m/f", "delete remote /o/p", "delete remote /o"}
	if got := render(plan(states, Policy{Direction: Push})); !slices.Equal(got, want) {
		t.Errorf("order: %q, want %q", got, want)
	}
	// The destination deleted a directory in which the source changes a
	// file: the directory is made again first.
	states = []PathState{
		{Path: "d", Base: [2]*Record{rec(dir("d")), rec(dir("d"))}, Cur: [2]*Entry{dir("d"), nil}},
		{Path: "d/f", Base: [2]*Record{rec(file("d/f")), rec(file("d/f"))}, Cur: [2]*Entry{{Path: "d/f", Type: TypeFile, Size: 5, MTime: t0}, nil}},
	}
	want = []string{"mkdir remote /d", "copy remote /d/f"}
	if got := render(plan(states, Policy{Direction: Push})); !slices.Equal(got, want) {
		t.Errorf("missing parent: %q, want %q", got, want)
	}
}

func TestComparePaths(t *testing.T) {
	paths := []string{"ab", "a.b", "a-b", "a/b", "a"}
	slices.SortFunc(paths, ComparePaths)
	if want := []string{"a", "a/b", "a-b", "a.b", "ab"}; !slices.Equal(paths, want) {
		t.Errorf("%q, want %q", paths, want)
	}
}
