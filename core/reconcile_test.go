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

// ---- Table tests of Reconcile against docs/reference.md §5.2–§5.4 ----

// tFile is a file entry; its change token follows its content and mtime,
// as a ctime would.
func tFile(p string, size int64, mt time.Time, hash string) *Entry {
	return &Entry{Path: p, Type: TypeFile, Size: size, MTime: mt, Mode: 0o644, UID: NoID, GID: NoID,
		Hash: hash, Token: fmt.Sprintf("%d/%d/%s", size, mt.Unix(), hash)}
}

func tDir(p string) *Entry {
	return &Entry{Path: p, Type: TypeDir, Mode: 0o755, MTime: t0, UID: NoID, GID: NoID, Token: "d:" + p}
}

func tRec(e *Entry) *Record {
	if e == nil {
		return nil
	}
	return &Record{Entry: *e}
}

// tState builds one path's state from the source's and destination's
// records and entries.
func tState(p string, src Side, bs, bd *Record, cs, cd *Entry) PathState {
	ps := PathState{Path: p}
	ps.Base[src], ps.Base[src.Other()] = bs, bd
	ps.Cur[src], ps.Cur[src.Other()] = cs, cd
	return ps
}

// synced is a path agreed on both sides and unchanged since.
func synced(e *Entry) PathState {
	return PathState{Path: e.Path, Base: [2]*Record{tRec(e), tRec(e)}, Cur: [2]*Entry{e, e}}
}

// tPlan resolves the policy (sha1_sparse and permission bits by default)
// and reconciles.
func tPlan(t *testing.T, states []PathState, p Policy) *Plan {
	t.Helper()
	if p.Checksum == "" {
		p.Checksum = ChecksumSHA1Sparse
	}
	p.SetMode = true
	if err := p.Resolve(); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return Reconcile(states, p)
}

// tRender renders actions as "op side /path [-> /to] [early]".
func tRender(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		s := fmt.Sprintf("%s %s %s", a.Op, a.Side, DisplayPath(a.Path))
		if a.To != "" {
			s += " -> " + DisplayPath(a.To)
		}
		if a.Op == OpDelete && a.Early {
			s += " early"
		}
		out = append(out, s)
	}
	return out
}

// tRecords renders record updates as "/path report local:op remote:op",
// op being put (synced), confl (conflict), drop or -.
func tRecords(p *Plan) []string {
	var out []string
	for _, u := range p.Records {
		s := DisplayPath(u.Path) + " " + cmpOr(u.Report, "-")
		for side, op := range u.Ops {
			k := "-"
			switch {
			case op.Drop:
				k = "drop"
			case op.Put != nil && op.Put.Status == StatusConflict:
				k = "confl"
			case op.Put != nil:
				k = "put"
			}
			s += fmt.Sprintf(" %s:%s", Side(side), k)
		}
		out = append(out, s)
	}
	return out
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sideName(s Side) string { return s.String() }

// TestOverwritePolicyTable covers every row of the table of docs/reference.md §5.2
// (and the push/pull deletion rules of §5.4) for -o always, older and
// conflict, in push and in pull.
func TestOverwritePolicyTable(t *testing.T) {
	agreed := tFile("f", 10, t0, "sha1_sparse:a0")
	srcNew := t0.Add(2 * time.Hour)
	older, newer := t0.Add(time.Hour), t0.Add(3*time.Hour)
	source := map[string]func() (*Record, *Entry){
		"created":   func() (*Record, *Entry) { return nil, tFile("f", 30, srcNew, "sha1_sparse:c1") },
		"modified":  func() (*Record, *Entry) { return tRec(agreed), tFile("f", 20, srcNew, "sha1_sparse:m1") },
		"deleted":   func() (*Record, *Entry) { return tRec(agreed), nil },
		"unchanged": func() (*Record, *Entry) { return tRec(agreed), agreed },
	}
	dest := map[string]func() (*Record, *Entry){
		"absent":         func() (*Record, *Entry) { return nil, nil },
		"unchanged":      func() (*Record, *Entry) { return tRec(agreed), agreed },
		"modified-older": func() (*Record, *Entry) { return tRec(agreed), tFile("f", 40, older, "sha1_sparse:d2") },
		"modified-newer": func() (*Record, *Entry) { return tRec(agreed), tFile("f", 40, newer, "sha1_sparse:d2") },
		"deleted":        func() (*Record, *Entry) { return tRec(agreed), nil },
		// Created only at the destination: never in its snapshot.
		"only-older": func() (*Record, *Entry) { return nil, tFile("f", 50, older, "sha1_sparse:o2") },
		"only-newer": func() (*Record, *Entry) { return nil, tFile("f", 50, newer, "sha1_sparse:o2") },
	}
	// Outcome per policy: always, older, conflict.
	type outcome [3]string
	changed := map[string]outcome{
		"absent":         {"copy", "copy", "copy"},
		"unchanged":      {"copy", "copy", "copy"},
		"modified-older": {"copy", "copy", "conflict"},
		"modified-newer": {"copy", "skip", "conflict"},
		"deleted":        {"copy", "copy", "copy"}, // recreated: nothing is lost
		"only-older":     {"copy", "copy", "conflict"},
		"only-newer":     {"copy", "skip", "conflict"},
	}
	want := map[string]map[string]outcome{
		"created":  changed,
		"modified": changed,
		"deleted": {
			"absent":         {"forget", "forget", "forget"},
			"unchanged":      {"delete", "delete", "delete"},
			"modified-older": {"delete", "conflict", "conflict"},
			"modified-newer": {"delete", "conflict", "conflict"},
			"deleted":        {"forget", "forget", "forget"},
			"only-older":     {"delete", "conflict", "conflict"},
			"only-newer":     {"delete", "conflict", "conflict"},
		},
		"unchanged": {
			"absent":         {"forget", "forget", "forget"},
			"unchanged":      {"none", "none", "none"},
			"modified-older": {"none", "none", "none"},
			"modified-newer": {"none", "none", "none"},
			"deleted":        {"forget", "forget", "forget"},
			"only-older":     {"none", "none", "none"},
			"only-newer":     {"none", "none", "none"},
		},
	}
	for _, dir := range []Direction{Push, Pull} {
		src := Local
		if dir == Pull {
			src = Remote
		}
		dst := src.Other()
		for sc, sf := range source {
			for dc, df := range dest {
				for i, o := range []Overwrite{OverwriteAlways, OverwriteOlder, OverwriteConflict} {
					w := want[sc][dc][i]
					t.Run(fmt.Sprintf("%s/%s/src-%s/dst-%s", dir, o, sc, dc), func(t *testing.T) {
						bs, cs := sf()
						bd, cd := df()
						ps := tState("f", src, bs, bd, cs, cd)
						p := tPlan(t, []PathState{ps}, Policy{Direction: dir, Overwrite: o})
						checkOutcome(t, p, w, dst, cs, cd)
					})
				}
			}
		}
	}
}

// checkOutcome checks a one-path plan against a named outcome.
func checkOutcome(t *testing.T, p *Plan, w string, dst Side, cs, cd *Entry) {
	t.Helper()
	got, recs := tRender(p), tRecords(p)
	var want []string
	switch w {
	case "copy":
		want = []string{"copy " + sideName(dst) + " /f"}
	case "delete":
		want = []string{"delete " + sideName(dst) + " /f"}
	case "conflict":
		want = []string{"conflict " + sideName(dst) + " /f"}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("plan %q, want %q (records %q)", got, want, recs)
	}
	switch w {
	case "copy":
		if a := p.Actions[0]; a.Source != cs || a.Dest != cd {
			t.Errorf("copy: source %v dest %v, want %v %v", a.Source, a.Dest, cs, cd)
		}
		for _, u := range p.Records {
			if u.Report != "" || u.Ops != [2]RecordOp{} {
				t.Errorf("copy also records %q", recs)
			}
		}
	case "delete":
		if a := p.Actions[0]; a.Dest != cd || a.Early {
			t.Errorf("delete: dest %v early %v", a.Dest, a.Early)
		}
	case "conflict":
		// Recorded as a conflict on both sides where the entry is, so
		// that it is examined again; never as synchronized.
		wantRec := "/f -"
		for s := Local; s <= Remote; s++ {
			k := "-"
			if (s == dst && cd != nil) || (s != dst && cs != nil) {
				k = "confl"
			}
			wantRec += fmt.Sprintf(" %s:%s", s, k)
		}
		if !slices.Equal(recs, []string{wantRec}) {
			t.Errorf("conflict records %q, want %q", recs, wantRec)
		}
		if a := p.Actions[0]; a.Source != cs || a.Dest != cd || a.Reason == "" {
			t.Errorf("conflict action: source %v dest %v reason %q", a.Source, a.Dest, a.Reason)
		}
	case "skip":
		// SYNCHRONIZED(skp), not recorded as synchronized.
		if !slices.Equal(recs, []string{"/f " + ReportSkipped + " local:- remote:-"}) {
			t.Errorf("skip records %q", recs)
		}
	case "forget":
		// Nothing to do; gone records are dropped, a surviving entry kept.
		for _, u := range p.Records {
			for s, op := range u.Ops {
				if op.Put != nil && op.Put.Status != StatusSynced {
					t.Errorf("forget: %s record %+v", Side(s), op.Put)
				}
			}
		}
		if len(p.Records) != 1 {
			t.Errorf("forget: records %q", recs)
		}
	case "none":
		for _, u := range p.Records {
			if u.Report != "" {
				t.Errorf("none: records %q", recs)
			}
		}
	}
}

// With --mirror, a destination change is overwritten when the source did
// not change, and destination-only entries are deleted (docs/reference.md §5.2, §5.4).
func TestMirrorTable(t *testing.T) {
	agreed := tFile("f", 10, t0, "sha1_sparse:a0")
	other := tFile("f", 40, t0.Add(time.Hour), "sha1_sparse:d2")
	for _, dir := range []Direction{Push, Pull} {
		src := Local
		if dir == Pull {
			src = Remote
		}
		dst := src.Other()
		d := " " + sideName(dst) + " "
		for _, tc := range []struct {
			name   string
			states []PathState
			want   []string
		}{
			{"dest modified", []PathState{tState("f", src, tRec(agreed), tRec(agreed), agreed, other)}, []string{"copy" + d + "/f"}},
			{"dest deleted", []PathState{tState("f", src, tRec(agreed), tRec(agreed), agreed, nil)}, []string{"copy" + d + "/f"}},
			{"dest record lost", []PathState{tState("f", src, tRec(agreed), nil, agreed, nil)}, []string{"copy" + d + "/f"}},
			{"dest-only file", []PathState{tState("f", src, nil, nil, nil, other)}, []string{"delete" + d + "/f"}},
			{"dest changed back to equal", []PathState{tState("f", src, tRec(agreed), tRec(other), agreed, agreed)}, nil},
			{"dest-only tree, deepest first", []PathState{
				tState("x", src, nil, nil, nil, tDir("x")),
				tState("x/y", src, nil, nil, nil, tDir("x/y")),
				tState("x/y/z", src, nil, nil, nil, tFile("x/y/z", 1, t0, "sha1_sparse:z")),
				tState("x/w", src, nil, nil, nil, tFile("x/w", 1, t0, "sha1_sparse:w")),
			}, []string{"delete" + d + "/x/y/z", "delete" + d + "/x/w", "delete" + d + "/x/y", "delete" + d + "/x"}},
			{"unchanged", []PathState{synced(agreed)}, nil},
		} {
			t.Run(dir.String()+"/"+tc.name, func(t *testing.T) {
				got := tRender(tPlan(t, tc.states, Policy{Direction: dir, Mirror: true}))
				if !slices.Equal(got, tc.want) {
					t.Errorf("plan %q, want %q", got, tc.want)
				}
			})
		}
		// Without --mirror, the same destination-only entries are left alone.
		states := []PathState{tState("f", src, nil, nil, nil, other), tState("x", src, nil, nil, nil, tDir("x"))}
		if got := tRender(tPlan(t, states, Policy{Direction: dir})); got != nil {
			t.Errorf("%s without --mirror: %q", dir, got)
		}
	}
	if err := (&Policy{Direction: Bidi, Mirror: true}).Resolve(); err == nil {
		t.Errorf("--mirror accepted in bidi")
	}
	if err := (&Policy{Direction: Bidi, Overwrite: OverwriteAlways}).Resolve(); err == nil {
		t.Errorf("-o always accepted in bidi")
	}
	for d, w := range map[Direction]Overwrite{Push: OverwriteAlways, Pull: OverwriteAlways, Bidi: OverwriteConflict} {
		p := Policy{Direction: d}
		if err := p.Resolve(); err != nil || p.Overwrite != w || p.ConflictSuffix == "" {
			t.Errorf("%s: default -o %s (%v), suffix %q", d, p.Overwrite, err, p.ConflictSuffix)
		}
	}
}

// First run (no snapshot) with equal content on both sides: recorded as
// SYNCHRONIZED(exs), nothing transferred (docs/reference.md §5.2, §5.6).
func TestFirstRunEqualContent(t *testing.T) {
	const big = 5 << 20
	later := t0.Add(time.Minute)
	for _, tc := range []struct {
		name  string
		algo  Checksum
		a, b  *Entry
		ptime bool
		want  map[Overwrite][]string // nil entry: recorded as exs
	}{
		{"small file, same hash, other mtimes", ChecksumSHA1Sparse,
			tFile("f", 10, t0, "sha1_sparse:aa"), tFile("f", 10, later, "sha1_sparse:aa"), false, nil},
		{"small file, same hash, other mtimes, -t", ChecksumSHA1Sparse,
			tFile("f", 10, later, "sha1_sparse:aa"), tFile("f", 10, t0, "sha1_sparse:aa"), true,
			map[Overwrite][]string{OverwriteAlways: {"setattr DST /f"}, OverwriteOlder: {"setattr DST /f"}, OverwriteConflict: {"setattr DST /f"}}},
		{"big file, size, mtime and sparse hash", ChecksumSHA1Sparse,
			tFile("f", big, t0, "sha1_sparse:aa"), tFile("f", big, t0, "sha1_sparse:aa"), false, nil},
		{"big file, sparse hash, other mtimes", ChecksumSHA1Sparse,
			tFile("f", big, later, "sha1_sparse:aa"), tFile("f", big, t0, "sha1_sparse:aa"), false,
			map[Overwrite][]string{OverwriteAlways: {"copy DST /f"}, OverwriteOlder: {"copy DST /f"}, OverwriteConflict: {"conflict DST /f"}}},
		{"full hash, other mtimes", ChecksumSHA1,
			tFile("f", big, later, "sha1:aa"), tFile("f", big, t0, "sha1:aa"), false, nil},
		{"-k none, size and mtime", ChecksumNone,
			tFile("f", 10, t0, ""), tFile("f", 10, t0, ""), false, nil},
		{"-k none, other mtime", ChecksumNone,
			tFile("f", 10, later, ""), tFile("f", 10, t0, ""), false,
			map[Overwrite][]string{OverwriteAlways: {"copy DST /f"}, OverwriteOlder: {"copy DST /f"}, OverwriteConflict: {"conflict DST /f"}}},
		{"missing fingerprint: different", ChecksumSHA1Sparse,
			tFile("f", 10, later, "sha1_sparse:aa"), tFile("f", 10, t0, ""), false,
			map[Overwrite][]string{OverwriteAlways: {"copy DST /f"}, OverwriteOlder: {"copy DST /f"}, OverwriteConflict: {"conflict DST /f"}}},
		{"directories", ChecksumSHA1Sparse, tDir("f"), tDir("f"), false, nil},
	} {
		for _, dir := range []Direction{Push, Pull, Bidi} {
			for _, o := range []Overwrite{OverwriteAlways, OverwriteOlder, OverwriteConflict} {
				if dir == Bidi && o == OverwriteAlways {
					continue
				}
				src := Local
				if dir == Pull {
					src = Remote
				}
				t.Run(fmt.Sprintf("%s/%s/%s", tc.name, dir, o), func(t *testing.T) {
					ps := tState("f", src, nil, nil, tc.a, tc.b)
					p := tPlan(t, []PathState{ps}, Policy{Direction: dir, Overwrite: o, Checksum: tc.algo, PreserveTime: tc.ptime})
					got := tRender(p)
					var want []string
					if tc.want != nil {
						// In bidi a is the local, newer side: -t raises
						// the remote mtime; different contents conflict
						// (-o older keeps the loser: see TestBidiRows).
						dst := src.Other()
						for _, w := range tc.want[o] {
							if dir == Bidi && strings.HasPrefix(w, "copy") {
								if o == OverwriteOlder {
									return
								}
								w = "conflict DST /f"
							}
							want = append(want, strings.Replace(w, "DST", sideName(dst), 1))
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("plan %q, want %q", got, want)
					}
					if tc.want == nil {
						if recs := tRecords(p); !slices.Equal(recs, []string{"/f " + ReportExists + " local:put remote:put"}) {
							t.Errorf("records %q, want exs on both sides", recs)
						}
						if tt := p.Totals(); tt.Equal != 1 {
							t.Errorf("Totals().Equal = %d", tt.Equal)
						}
					}
				})
			}
		}
	}
}

// --ignore-delete: a deletion at the source is not propagated; the source's
// record is forgotten so that it is not seen again.
func TestIgnoreDeleteTable(t *testing.T) {
	agreed := tFile("d/f", 10, t0, "sha1_sparse:a0")
	for _, dir := range []Direction{Push, Pull, Bidi} {
		src := Local
		if dir == Pull {
			src = Remote
		}
		states := []PathState{
			tState("d", src, tRec(tDir("d")), tRec(tDir("d")), nil, tDir("d")),
			tState("d/f", src, tRec(agreed), tRec(agreed), nil, agreed),
		}
		p := tPlan(t, states, Policy{Direction: dir, IgnoreDelete: true})
		if got := tRender(p); got != nil {
			t.Errorf("%s: plan %q, want nothing", dir, got)
		}
		wantRec := []string{"/d - local:- remote:-", "/d/f - local:- remote:-"}
		for i := range wantRec {
			wantRec[i] = strings.Replace(wantRec[i], sideName(src)+":-", sideName(src)+":drop", 1)
		}
		if got := tRecords(p); !slices.Equal(got, wantRec) {
			t.Errorf("%s: records %q, want %q", dir, got, wantRec)
		}
	}
}

// Attribute-only changes are sent as setattr, never as a copy (§5.2).
func TestAttrOnlyChanges(t *testing.T) {
	agreed := tFile("f", 10, t0, "sha1_sparse:a0")
	chmod := *agreed
	chmod.Mode, chmod.Token = 0o600, "chmod"
	touched := tFile("f", 10, t0.Add(time.Minute), "sha1_sparse:a0")
	bigAgreed := tFile("f", 5<<20, t0, "sha1_sparse:b0")
	bigTouched := tFile("f", 5<<20, t0.Add(time.Minute), "sha1_sparse:b0")
	dirChmod := *tDir("f")
	dirChmod.Mode = 0o700
	for _, tc := range []struct {
		name string
		base *Entry
		cur  *Entry
		pol  Policy
		want []string
		recs []string
	}{
		{"mode", agreed, &chmod, Policy{}, []string{"setattr DST /f"}, nil},
		{"mode, --ignore-mode", agreed, &chmod, Policy{IgnoreMode: true}, nil, nil},
		{"touched small file, -t", agreed, touched, Policy{PreserveTime: true}, []string{"setattr DST /f"}, nil},
		{"touched small file, no -t", agreed, touched, Policy{}, nil, []string{"/f - local:put remote:put"}},
		{"touched big file, -t", bigAgreed, bigTouched, Policy{PreserveTime: true}, []string{"copy DST /f"}, nil},
		{"touched big file, -k sha1", &Entry{Path: "f", Type: TypeFile, Size: 5 << 20, MTime: t0, Mode: 0o644, Hash: "sha1:b0", Token: "1"},
			&Entry{Path: "f", Type: TypeFile, Size: 5 << 20, MTime: t0.Add(time.Minute), Mode: 0o644, Hash: "sha1:b0", Token: "2"},
			Policy{PreserveTime: true, Checksum: ChecksumSHA1}, []string{"setattr DST /f"}, nil},
		{"dir mode", tDir("f"), &dirChmod, Policy{}, []string{"setattr DST /f"}, nil},
	} {
		for _, dir := range []Direction{Push, Pull, Bidi} {
			src := Local
			if dir == Pull {
				src = Remote
			}
			t.Run(tc.name+"/"+dir.String(), func(t *testing.T) {
				ps := tState("f", src, tRec(tc.base), tRec(tc.base), tc.cur, tc.base)
				pol := tc.pol
				pol.Direction = dir
				p := tPlan(t, []PathState{ps}, pol)
				var want []string
				for _, w := range tc.want {
					want = append(want, strings.Replace(w, "DST", sideName(src.Other()), 1))
				}
				if got := tRender(p); !slices.Equal(got, want) {
					t.Fatalf("plan %q, want %q", got, want)
				}
				if len(p.Actions) == 1 && p.Actions[0].Op == OpSetAttr {
					if a := p.Actions[0]; a.Source != tc.cur || a.Dest != tc.base {
						t.Errorf("setattr from %+v onto %+v", a.Source, a.Dest)
					}
				}
				if tc.recs != nil {
					if got := tRecords(p); !slices.Equal(got, tc.recs) {
						t.Errorf("records %q, want %q", got, tc.recs)
					}
				}
			})
		}
	}
}

// A file that became a directory at the source, or the reverse: the
// destination entry is deleted early, then the new one created; deletions
// of the old directory's children are early too, deepest first.
func TestTypeChangeAtSource(t *testing.T) {
	f := tFile("d", 10, t0, "sha1_sparse:a0")
	for _, dir := range []Direction{Push, Pull} {
		src := Local
		if dir == Pull {
			src = Remote
		}
		d := " " + sideName(src.Other()) + " "
		t.Run(dir.String()+"/file to dir", func(t *testing.T) {
			states := []PathState{
				tState("d", src, tRec(f), tRec(f), tDir("d"), f),
				tState("d/new", src, nil, nil, tFile("d/new", 3, t0, "sha1_sparse:n"), nil),
			}
			want := []string{"delete" + d + "/d early", "mkdir" + d + "/d", "copy" + d + "/d/new"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir})); !slices.Equal(got, want) {
				t.Errorf("plan %q, want %q", got, want)
			}
		})
		t.Run(dir.String()+"/dir to file", func(t *testing.T) {
			a := tFile("d/a", 1, t0, "sha1_sparse:1")
			z := tFile("d/e/z", 1, t0, "sha1_sparse:2")
			states := []PathState{
				tState("d", src, tRec(tDir("d")), tRec(tDir("d")), f, tDir("d")),
				tState("d/a", src, tRec(a), tRec(a), nil, a),
				tState("d/e", src, tRec(tDir("d/e")), tRec(tDir("d/e")), nil, tDir("d/e")),
				tState("d/e/z", src, tRec(z), tRec(z), nil, z),
				tState("other", src, nil, nil, tFile("other", 1, t0, "sha1_sparse:3"), nil),
			}
			want := []string{"delete" + d + "/d/e/z early", "delete" + d + "/d/a early", "delete" + d + "/d/e early",
				"delete" + d + "/d early", "copy" + d + "/d", "copy" + d + "/other"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir})); !slices.Equal(got, want) {
				t.Errorf("plan %q, want %q", got, want)
			}
		})
		t.Run(dir.String()+"/dir to file, extra file at the destination", func(t *testing.T) {
			states := []PathState{
				tState("d", src, tRec(tDir("d")), tRec(tDir("d")), f, tDir("d")),
				tState("d/extra", src, nil, nil, nil, tFile("d/extra", 1, t0, "sha1_sparse:x")),
			}
			want := []string{"conflict" + d + "/d"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir})); !slices.Equal(got, want) {
				t.Errorf("plan %q, want %q", got, want)
			}
		})
		t.Run(dir.String()+"/file to a tree", func(t *testing.T) {
			states := []PathState{
				tState("d", src, tRec(f), tRec(f), tDir("d"), f),
				tState("d/b", src, nil, nil, tDir("d/b"), nil),
				tState("d/b/c", src, nil, nil, tFile("d/b/c", 3, t0, "sha1_sparse:c"), nil),
			}
			want := []string{"delete" + d + "/d early", "mkdir" + d + "/d", "mkdir" + d + "/d/b", "copy" + d + "/d/b/c"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir})); !slices.Equal(got, want) {
				t.Errorf("plan %q, want %q", got, want)
			}
		})
		t.Run(dir.String()+"/dir to file, destination changed a file in it", func(t *testing.T) {
			x := tFile("d/x", 1, t0, "sha1_sparse:1")
			y := tFile("d/y", 1, t0, "sha1_sparse:2")
			states := []PathState{
				tState("d", src, tRec(tDir("d")), tRec(tDir("d")), f, tDir("d")),
				tState("d/x", src, tRec(x), tRec(x), nil, tFile("d/x", 2, t0.Add(time.Hour), "sha1_sparse:3")),
				tState("d/y", src, tRec(y), tRec(y), nil, y),
			}
			// -o conflict: d/x stays, so d cannot be replaced.
			want := []string{"conflict" + d + "/d", "conflict" + d + "/d/x", "delete" + d + "/d/y"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir, Overwrite: OverwriteConflict})); !slices.Equal(got, want) {
				t.Errorf("-o conflict: plan %q, want %q", got, want)
			}
			want = []string{"delete" + d + "/d/x early", "delete" + d + "/d/y early", "delete" + d + "/d early", "copy" + d + "/d"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir})); !slices.Equal(got, want) {
				t.Errorf("-o always: plan %q, want %q", got, want)
			}
		})
		t.Run(dir.String()+"/file to link", func(t *testing.T) {
			l := &Entry{Path: "d", Type: TypeSymlink, Target: "x", MTime: t0, Mode: 0o777}
			states := []PathState{tState("d", src, tRec(f), tRec(f), l, f)}
			want := []string{"copy" + d + "/d"}
			if got := tRender(tPlan(t, states, Policy{Direction: dir})); !slices.Equal(got, want) {
				t.Errorf("plan %q, want %q", got, want)
			}
		})
	}
}

// A source directory deleted while the destination holds an extra file in
// it: the file stays, so does the directory (§5.4: destination-only
// entries are left alone).
func TestDeletedDirWithExtraFile(t *testing.T) {
	a := tFile("d/a", 1, t0, "sha1_sparse:1")
	b := tFile("d/e/b", 1, t0, "sha1_sparse:2")
	extra := tFile("d/e/extra", 1, t0, "sha1_sparse:x")
	for _, dir := range []Direction{Push, Pull} {
		src := Local
		if dir == Pull {
			src = Remote
		}
		d := " " + sideName(src.Other()) + " "
		states := []PathState{
			tState("d", src, tRec(tDir("d")), tRec(tDir("d")), nil, tDir("d")),
			tState("d/a", src, tRec(a), tRec(a), nil, a),
			tState("d/e", src, tRec(tDir("d/e")), tRec(tDir("d/e")), nil, tDir("d/e")),
			tState("d/e/b", src, tRec(b), tRec(b), nil, b),
			tState("d/e/extra", src, nil, nil, nil, extra),
			tState("g", src, tRec(tDir("g")), tRec(tDir("g")), nil, tDir("g")),
		}
		p := tPlan(t, states, Policy{Direction: dir})
		want := []string{"delete" + d + "/d/e/b", "delete" + d + "/d/a", "delete" + d + "/g"}
		if got := tRender(p); !slices.Equal(got, want) {
			t.Errorf("%s: plan %q, want %q", dir, got, want)
		}
		for _, u := range p.Records {
			if (u.Path == "d" || u.Path == "d/e") && u.Ops != [2]RecordOp{} {
				t.Errorf("%s: kept directory %s recorded as synced: %q", dir, u.Path, tRecords(p))
			}
		}
		// With --mirror the extra file goes too, and so does the directory.
		p = tPlan(t, states, Policy{Direction: dir, Mirror: true})
		want = []string{"delete" + d + "/d/e/b", "delete" + d + "/d/e/extra", "delete" + d + "/d/a", "delete" + d + "/d/e", "delete" + d + "/d", "delete" + d + "/g"}
		if got := tRender(p); !slices.Equal(got, want) {
			t.Errorf("%s --mirror: plan %q, want %q", dir, got, want)
		}
	}
}

// Execution order: renames/keeps, early deletes, mkdirs parents first,
// copies, conflicts, then deletions deepest first (§5.4).
func TestPlanOrder(t *testing.T) {
	f := func(p string) *Entry { return tFile(p, 1, t0, "sha1_sparse:"+p) }
	t.Run("deep new file with its directories", func(t *testing.T) {
		states := []PathState{
			tState("n", Local, nil, nil, tDir("n"), nil),
			tState("n/m", Local, nil, nil, tDir("n/m"), nil),
			tState("n/m/k", Local, nil, nil, tDir("n/m/k"), nil),
			tState("n/m/k/f", Local, nil, nil, f("n/m/k/f"), nil),
			tState("a", Local, nil, nil, f("a"), nil),
			tState("z", Local, tRec(tDir("z")), tRec(tDir("z")), nil, tDir("z")),
			tState("z/y", Local, tRec(tDir("z/y")), tRec(tDir("z/y")), nil, tDir("z/y")),
			tState("z/y/x", Local, tRec(f("z/y/x")), tRec(f("z/y/x")), nil, f("z/y/x")),
			tState("b", Local, tRec(f("b")), tRec(f("b")), nil, f("b")),
		}
		want := []string{
			"mkdir remote /n", "mkdir remote /n/m", "mkdir remote /n/m/k",
			"copy remote /a", "copy remote /n/m/k/f",
			"delete remote /z/y/x", "delete remote /z/y", "delete remote /b", "delete remote /z",
		}
		// The scan order of the states does not matter.
		rev := slices.Clone(states)
		slices.Reverse(rev)
		for _, st := range [][]PathState{states, rev} {
			if got := tRender(tPlan(t, st, Policy{Direction: Push})); !slices.Equal(got, want) {
				t.Errorf("plan %q, want %q", got, want)
			}
		}
	})
	t.Run("missing parents not in the states", func(t *testing.T) {
		states := []PathState{tState("p/q/f", Remote, nil, nil, f("p/q/f"), nil)}
		p := tPlan(t, states, Policy{Direction: Pull})
		want := []string{"mkdir local /p", "mkdir local /p/q", "copy local /p/q/f"}
		if got := tRender(p); !slices.Equal(got, want) {
			t.Fatalf("plan %q, want %q", got, want)
		}
		for _, a := range p.Actions[:2] {
			if a.Source == nil || a.Source.Type != TypeDir || a.Source.Path != a.Path {
				t.Errorf("mkdir %s from %+v", a.Path, a.Source)
			}
		}
	})
	t.Run("destination deleted the directory, source modifies a file in it", func(t *testing.T) {
		old := f("d/e/f")
		states := []PathState{
			tState("d", Local, tRec(tDir("d")), tRec(tDir("d")), tDir("d"), nil),
			tState("d/e", Local, tRec(tDir("d/e")), tRec(tDir("d/e")), tDir("d/e"), nil),
			tState("d/e/f", Local, tRec(old), tRec(old), tFile("d/e/f", 2, t0.Add(time.Hour), "sha1_sparse:new"), nil),
			tState("d/e/g", Local, tRec(f("d/e/g")), tRec(f("d/e/g")), f("d/e/g"), nil),
		}
		for _, o := range []Overwrite{OverwriteAlways, OverwriteOlder, OverwriteConflict} {
			p := tPlan(t, states, Policy{Direction: Push, Overwrite: o})
			want := []string{"mkdir remote /d", "mkdir remote /d/e", "copy remote /d/e/f"}
			if got := tRender(p); !slices.Equal(got, want) {
				t.Errorf("%s: plan %q, want %q", o, got, want)
			} else if p.Actions[0].Source != states[0].Cur[Local] {
				t.Errorf("%s: mkdir /d not made from the source's directory", o)
			}
		}
	})
	t.Run("parent is a file at the destination", func(t *testing.T) {
		states := []PathState{
			tState("d", Local, nil, nil, tDir("d"), f("d")),
			tState("d/f", Local, nil, nil, f("d/f"), nil),
		}
		// -o conflict: d conflicts, its subtree is left alone.
		if got := tRender(tPlan(t, states, Policy{Direction: Push, Overwrite: OverwriteConflict})); !slices.Equal(got, []string{"conflict remote /d"}) {
			t.Errorf("plan %q", got)
		}
		// -o always: the file d makes room for the directory.
		want := []string{"delete remote /d early", "mkdir remote /d", "copy remote /d/f"}
		if got := tRender(tPlan(t, states, Policy{Direction: Push})); !slices.Equal(got, want) {
			t.Errorf("plan %q, want %q", got, want)
		}
	})
}

// Bidi rows of docs/reference.md §5.3.
func TestBidiRows(t *testing.T) {
	agreed := tFile("f", 10, t0, "sha1_sparse:a0")
	mod := func(size int64, mt time.Time, h string) *Entry { return tFile("f", size, mt, h) }
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	both := func(l, r *Entry) PathState {
		return PathState{Path: "f", Base: [2]*Record{tRec(agreed), tRec(agreed)}, Cur: [2]*Entry{l, r}}
	}
	for _, tc := range []struct {
		name  string
		ps    PathState
		pol   Policy
		want  []string
		recs  []string
		extra []PathState
	}{
		{"local modified", both(mod(20, t1, "sha1_sparse:l"), agreed), Policy{}, []string{"copy remote /f"}, nil, nil},
		{"remote modified", both(agreed, mod(20, t1, "sha1_sparse:r")), Policy{}, []string{"copy local /f"}, nil, nil},
		{"local deleted", both(nil, agreed), Policy{}, []string{"delete remote /f"}, nil, nil},
		{"remote deleted", both(agreed, nil), Policy{}, []string{"delete local /f"}, nil, nil},
		{"local created", PathState{Path: "f", Cur: [2]*Entry{agreed, nil}}, Policy{}, []string{"copy remote /f"}, nil, nil},
		{"remote created", PathState{Path: "f", Cur: [2]*Entry{nil, agreed}}, Policy{}, []string{"copy local /f"}, nil, nil},
		{"both deleted", both(nil, nil), Policy{}, nil, []string{"/f - local:drop remote:drop"}, nil},
		{"both changed differently", both(mod(20, t1, "sha1_sparse:l"), mod(30, t2, "sha1_sparse:r")), Policy{},
			[]string{"conflict remote /f"}, []string{"/f - local:confl remote:confl"}, nil},
		{"both created differently", PathState{Path: "f", Cur: [2]*Entry{mod(20, t1, "sha1_sparse:l"), mod(30, t2, "sha1_sparse:r")}}, Policy{},
			[]string{"conflict remote /f"}, []string{"/f - local:confl remote:confl"}, nil},
		{"file vs directory", PathState{Path: "f", Cur: [2]*Entry{mod(20, t1, "sha1_sparse:l"), tDir("f")}}, Policy{Overwrite: OverwriteOlder},
			[]string{"conflict remote /f"}, []string{"/f - local:confl remote:confl"}, nil},
		{"local modified, remote deleted", both(mod(20, t1, "sha1_sparse:l"), nil), Policy{}, []string{"copy remote /f"}, nil, nil},
		{"local deleted, remote modified", both(nil, mod(20, t1, "sha1_sparse:r")), Policy{}, []string{"copy local /f"}, nil, nil},
		{"local deleted, remote chmod", both(nil, &Entry{Path: "f", Type: TypeFile, Size: 10, MTime: t0, Mode: 0o600, Hash: "sha1_sparse:a0", Token: "x"}), Policy{}, []string{"copy local /f"}, nil, nil},
		{"same change on both sides", both(mod(20, t1, "sha1_sparse:s"), mod(20, t1, "sha1_sparse:s")), Policy{},
			nil, []string{"/f " + ReportExists + " local:put remote:put"}, nil},
		{"same content, other mtimes", both(mod(20, t1, "sha1_sparse:s"), mod(20, t2, "sha1_sparse:s")), Policy{},
			nil, []string{"/f " + ReportExists + " local:put remote:put"}, nil},
		{"same content, other mtimes, -t raises the older", both(mod(20, t1, "sha1_sparse:s"), mod(20, t2, "sha1_sparse:s")), Policy{PreserveTime: true},
			[]string{"setattr local /f"}, nil, nil},
		{"-o older: local newer", both(mod(20, t2, "sha1_sparse:l"), mod(30, t1, "sha1_sparse:r")), Policy{Overwrite: OverwriteOlder, ConflictSuffix: ".old"},
			[]string{"keep remote /f -> /f.old", "copy remote /f", "copy local /f.old"}, nil, nil},
		{"-o older: remote newer", both(mod(20, t1, "sha1_sparse:l"), mod(30, t2, "sha1_sparse:r")), Policy{Overwrite: OverwriteOlder, ConflictSuffix: ".old"},
			[]string{"keep local /f -> /f.old", "copy local /f", "copy remote /f.old"}, nil, nil},
		{"-o older: kept name taken", both(mod(20, t1, "sha1_sparse:l"), mod(30, t2, "sha1_sparse:r")), Policy{Overwrite: OverwriteOlder, ConflictSuffix: ".old"},
			[]string{"keep local /f -> /f.old-2", "copy local /f", "copy remote /f.old-2"}, nil,
			[]PathState{synced(tFile("f.old", 1, t0, "sha1_sparse:o"))}},
		{"-o older: keep dir", both(mod(20, t1, "sha1_sparse:l"), mod(30, t2, "sha1_sparse:r")), Policy{Overwrite: OverwriteOlder, ConflictSuffix: ".old", KeepDir: [2]string{"K", ""}},
			[]string{"keep local /f -> /K/f", "copy local /f"}, nil, nil},
		{"-o older: equal mtimes", both(mod(20, t1, "sha1_sparse:l"), mod(30, t1, "sha1_sparse:r")), Policy{Overwrite: OverwriteOlder},
			[]string{"conflict remote /f"}, []string{"/f - local:confl remote:confl"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.pol
			pol.Direction = Bidi
			p := tPlan(t, append([]PathState{tc.ps}, tc.extra...), pol)
			if got := tRender(p); !slices.Equal(got, tc.want) {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
			if tc.recs != nil {
				if got := tRecords(p); !slices.Equal(got, tc.recs) {
					t.Errorf("records %q, want %q", got, tc.recs)
				}
			}
		})
	}
}

// A conflict on a directory leaves its subtree alone.
func TestBidiDirConflictSkipsSubtree(t *testing.T) {
	states := []PathState{
		{Path: "d", Cur: [2]*Entry{tDir("d"), tFile("d", 3, t0, "sha1_sparse:r")}},
		{Path: "d/a", Cur: [2]*Entry{tFile("d/a", 1, t0, "sha1_sparse:a"), nil}},
		{Path: "e", Cur: [2]*Entry{tFile("e", 1, t0, "sha1_sparse:e"), nil}},
	}
	if got, want := tRender(tPlan(t, states, Policy{Direction: Bidi})), []string{"copy remote /e", "conflict remote /d"}; !slices.Equal(got, want) {
		t.Errorf("plan %q, want %q", got, want)
	}
}

func TestPlanTotals(t *testing.T) {
	agreed := tFile("s", 10, t0, "sha1_sparse:s")
	chmod := *tFile("m", 10, t0, "sha1_sparse:m")
	chmod.Mode = 0o600
	states := []PathState{
		tState("n", Local, nil, nil, tDir("n"), nil),
		tState("n/big", Local, nil, nil, tFile("n/big", 1000, t0, "sha1_sparse:b"), nil),
		tState("n/small", Local, nil, nil, tFile("n/small", 24, t0, "sha1_sparse:c"), nil),
		tState("n/link", Local, nil, nil, &Entry{Path: "n/link", Type: TypeSymlink, Target: "big", Size: 3}, nil),
		tState("m", Local, tRec(tFile("m", 10, t0, "sha1_sparse:m")), tRec(tFile("m", 10, t0, "sha1_sparse:m")), &chmod, tFile("m", 10, t0, "sha1_sparse:m")),
		tState("gone", Local, tRec(agreed), tRec(agreed), nil, agreed),
		tState("x", Local, nil, nil, tFile("x", 5, t0, "sha1_sparse:x1"), tFile("x", 6, t0, "sha1_sparse:x2")),
		tState("eq", Local, nil, nil, tFile("eq", 5, t0, "sha1_sparse:e"), tFile("eq", 5, t0, "sha1_sparse:e")),
		synced(tFile("u1", 1, t0, "sha1_sparse:u1")),
		synced(tFile("u2", 1, t0, "sha1_sparse:u2")),
		synced(tDir("u3")),
	}
	p := tPlan(t, states, Policy{Direction: Push, Overwrite: OverwriteConflict})
	got := p.Totals()
	want := Totals{Mkdir: 1, Copy: 3, SetAttr: 1, Delete: 1, Conflict: 1, CopyBytes: 1024, Unchanged: 3, Equal: 1}
	if got != want {
		t.Errorf("Totals %+v, want %+v (plan %q)", got, want, tRender(p))
	}
	if p.Empty() {
		t.Errorf("Empty() on a plan with copies")
	}
	onlyConflict := &Plan{Actions: []Action{{Op: OpConflict}}}
	if !onlyConflict.Empty() || !(&Plan{}).Empty() {
		t.Errorf("a plan of conflicts only is empty")
	}
}

func TestComparePathsTable(t *testing.T) {
	ordered := []string{"", "a", "a/b", "a/b/c", "a/b-c", "a/bc", "a!", "a-b", "a.b", "a0", "ab", "b"}
	for i := range ordered {
		for j := range ordered {
			got := ComparePaths(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	shuffled := []string{"ab", "a.b", "a-b", "a/b", "a"}
	slices.SortFunc(shuffled, ComparePaths)
	if want := []string{"a", "a/b", "a-b", "a.b", "ab"}; !slices.Equal(shuffled, want) {
		t.Errorf("%q, want %q", shuffled, want)
	}
}

// Bidi deletions of a directory against content added or modified in it on
// the other side: the content is never lost, the directory is made again
// on the side that deleted it (docs/reference.md §5.3).
func TestBidiDeletedDirAgainstContent(t *testing.T) {
	a := tFile("d/a", 1, t0, "sha1_sparse:a")
	b := tFile("d/b", 1, t0, "sha1_sparse:b")
	for _, tc := range []struct {
		name   string
		states []PathState
		want   []string
	}{
		{"other side modified a file in it", []PathState{
			{Path: "d", Base: [2]*Record{tRec(tDir("d")), tRec(tDir("d"))}, Cur: [2]*Entry{nil, tDir("d")}},
			{Path: "d/a", Base: [2]*Record{tRec(a), tRec(a)}, Cur: [2]*Entry{nil, tFile("d/a", 2, t0.Add(time.Hour), "sha1_sparse:a2")}},
			{Path: "d/b", Base: [2]*Record{tRec(b), tRec(b)}, Cur: [2]*Entry{nil, b}},
		}, []string{"mkdir local /d", "copy local /d/a", "delete remote /d/b"}},
		{"other side created a file in it", []PathState{
			{Path: "d", Base: [2]*Record{tRec(tDir("d")), tRec(tDir("d"))}, Cur: [2]*Entry{tDir("d"), nil}},
			{Path: "d/a", Base: [2]*Record{tRec(a), tRec(a)}, Cur: [2]*Entry{a, nil}},
			{Path: "d/new", Cur: [2]*Entry{tFile("d/new", 1, t0, "sha1_sparse:n"), nil}},
		}, []string{"mkdir remote /d", "copy remote /d/new", "delete local /d/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tRender(tPlan(t, tc.states, Policy{Direction: Bidi})); !slices.Equal(got, tc.want) {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
		})
	}
}

// --mirror with a destination that turned a file into a directory: the
// directory and its contents go early, then the source file is copied.
func TestMirrorDestTypeChange(t *testing.T) {
	f := tFile("f", 10, t0, "sha1_sparse:a0")
	states := []PathState{
		tState("f", Local, tRec(f), tRec(f), f, tDir("f")),
		tState("f/x", Local, nil, nil, nil, tFile("f/x", 1, t0, "sha1_sparse:x")),
	}
	want := []string{"delete remote /f/x early", "delete remote /f early", "copy remote /f"}
	if got := tRender(tPlan(t, states, Policy{Direction: Push, Mirror: true})); !slices.Equal(got, want) {
		t.Errorf("plan %q, want %q", got, want)
	}
	if got := tRender(tPlan(t, states, Policy{Direction: Push})); got != nil {
		t.Errorf("without --mirror: %q", got)
	}
}

// Push with --ignore-mode: a chmod of a big source file sends nothing.
func TestIgnoreModeChmodSendsNothing(t *testing.T) {
	f := tFile("f", 5<<20, t0, "sha1_sparse:b0")
	chmod := *f
	chmod.Mode, chmod.Token, chmod.Hash = 0o600, "moved", ""
	states := []PathState{tState("f", Local, tRec(f), tRec(f), &chmod, f)}
	if got := tRender(tPlan(t, states, Policy{Direction: Push, IgnoreMode: true})); got != nil {
		t.Errorf("plan %q, want nothing", got)
	}
}

// Interrupted runs and resolved conflicts (docs/reference.md §5.3, §5.13).
func TestRecordsOutOfStepAndResolvedConflicts(t *testing.T) {
	old := tFile("f", 10, t0, "sha1_sparse:a0")
	cur := tFile("f", 20, t0.Add(time.Hour), "sha1_sparse:n1")
	other := tFile("f", 30, t0.Add(2*time.Hour), "sha1_sparse:o1")
	confl := func(e *Entry) *Record {
		return &Record{Entry: *e, Status: StatusConflict, Note: "changed on both sides"}
	}
	for _, tc := range []struct {
		name string
		dir  Direction
		ps   PathState
		want []string
		recs []string
	}{
		// The copy finished and the destination's record was committed,
		// not the source's.
		{"push: destination record committed", Push, tState("f", Local, tRec(old), tRec(cur), cur, cur), nil,
			[]string{"/f " + ReportExists + " local:put remote:put"}},
		// The copy finished, no record was committed.
		{"push: no record committed", Push, tState("f", Local, tRec(old), tRec(old), cur, cur), nil,
			[]string{"/f " + ReportExists + " local:put remote:put"}},
		{"pull: no record committed, -o conflict", Pull, tState("f", Remote, tRec(old), tRec(old), cur, cur), nil,
			[]string{"/f " + ReportExists + " local:put remote:put"}},
		{"bidi: conflict made identical", Bidi, PathState{Path: "f", Base: [2]*Record{confl(cur), confl(other)}, Cur: [2]*Entry{cur, cur}}, nil,
			[]string{"/f " + ReportExists + " local:put remote:put"}},
		{"bidi: conflict still open", Bidi, PathState{Path: "f", Base: [2]*Record{confl(cur), confl(other)}, Cur: [2]*Entry{cur, other}},
			[]string{"conflict remote /f"}, []string{"/f - local:confl remote:confl"}},
		{"bidi: conflict resolved by deleting the local copy", Bidi, PathState{Path: "f", Base: [2]*Record{confl(cur), confl(other)}, Cur: [2]*Entry{nil, other}},
			[]string{"copy local /f"}, nil},
		{"push: conflict resolved by deleting the destination copy", Push, PathState{Path: "f", Base: [2]*Record{confl(cur), confl(other)}, Cur: [2]*Entry{cur, nil}},
			[]string{"copy remote /f"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := Policy{Direction: tc.dir}
			if tc.dir != Bidi && strings.Contains(tc.name, "-o conflict") {
				pol.Overwrite = OverwriteConflict
			}
			p := tPlan(t, []PathState{tc.ps}, pol)
			if got := tRender(p); !slices.Equal(got, tc.want) {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
			if tc.recs != nil {
				if got := tRecords(p); !slices.Equal(got, tc.recs) {
					t.Errorf("records %q, want %q", got, tc.recs)
				}
			}
		})
	}
}

func TestUnrecorded(t *testing.T) {
	e, r := &Entry{Path: "a"}, &Record{}
	for _, c := range []struct {
		name  string
		state PathState
		want  int
	}{
		{"new on the local side", PathState{Cur: [2]*Entry{e, nil}}, 1},
		{"new on the remote side", PathState{Cur: [2]*Entry{nil, e}}, 1},
		{"on both sides, no record", PathState{Cur: [2]*Entry{e, e}}, 0},
		{"recorded on one side", PathState{Base: [2]*Record{r, nil}, Cur: [2]*Entry{e, nil}}, 0},
		{"recorded on the other side", PathState{Base: [2]*Record{nil, r}, Cur: [2]*Entry{e, nil}}, 0},
		{"nowhere", PathState{}, 0},
	} {
		if got := unrecorded([]PathState{c.state, c.state}); got != 2*c.want {
			t.Errorf("%s: unrecorded = %d, want %d", c.name, got, 2*c.want)
		}
	}
}
