package core

import (
	"slices"
	"testing"
)

// TestJoinStates checks the merge join of gather: scans in any order,
// records in path order, one state per path in path order, and a lazy
// side's records standing for its entries except where over says.
func TestJoinStates(t *testing.T) {
	file := func(p string) Entry { return Entry{Path: p, Type: TypeFile, Size: 1} }
	rec := func(p string) Record { return Record{Entry: file(p)} }
	scans := [2][]Entry{
		{file("b"), file("a/x"), file("a"), file("a-b"), file("c")},
		{file("a/x")}, // the Stat of a changed path
	}
	none := rec("e")
	none.Type = TypeNone // an error record of a path that had no entry
	recs := [2][]Record{
		{rec("a"), rec("a/x"), rec("d")},
		{rec("a"), rec("a/x"), rec("a/y"), rec("a-b"), rec("d"), none},
	}
	over := [2]map[string]bool{nil, {"a/x": true, "d": true}}
	idx := [2][]int32{sortedIndex(scans[0]), sortedIndex(scans[1])}
	states := joinStates(&scans, idx, &recs, over)
	var paths []string
	for _, ps := range states {
		paths = append(paths, ps.Path)
	}
	if want := []string{"a", "a/x", "a/y", "a-b", "b", "c", "d", "e"}; !slices.Equal(paths, want) {
		t.Fatalf("paths %q, want %q", paths, want)
	}
	// have is what each state holds: Base and Cur per side, as letters.
	have := func(ps PathState) string {
		out := ""
		for s := range 2 {
			out += map[bool]string{true: "B", false: "-"}[ps.Base[s] != nil]
			switch c := ps.Cur[s]; {
			case c == nil:
				out += "-"
			case ps.Base[s] != nil && c == &ps.Base[s].Entry:
				out += "r" // the record stands for the entry
			default:
				out += "C"
			}
		}
		return out
	}
	want := map[string]string{
		"a":   "BCBr",
		"a/x": "BCBC", // over: the Stat's entry, not the record
		"a/y": "--Br",
		"a-b": "-CBr",
		"b":   "-C--",
		"c":   "-C--",
		"d":   "B-B-", // over, and gone at the Stat
		"e":   "--B-", // an error record stands for nothing
	}
	for _, ps := range states {
		if got := have(ps); got != want[ps.Path] {
			t.Errorf("%s: %s, want %s", ps.Path, got, want[ps.Path])
		}
		for s := range 2 {
			if c := ps.Cur[s]; c != nil && c.Path != ps.Path {
				t.Errorf("%s: side %d entry of %s", ps.Path, s, c.Path)
			}
		}
	}
}

func TestSortedIndex(t *testing.T) {
	en := []Entry{{Path: "a/b"}, {Path: "a"}, {Path: "a.b"}, {Path: ""}, {Path: "a/a"}}
	var got []string
	for _, i := range sortedIndex(en) {
		got = append(got, en[i].Path)
	}
	if want := []string{"", "a", "a/a", "a/b", "a.b"}; !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestSized(t *testing.T) {
	if s := sized[Entry](0); s != nil {
		t.Errorf("sized(0) = %v, want nil", s)
	}
	if s := sized[Record](1000); len(s) != 0 || cap(s) < 1000 {
		t.Errorf("sized(1000): len %d cap %d", len(s), cap(s))
	}
}

func TestRecordsSorted(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  bool
	}{
		{nil, true},
		{[]string{"a", "a/b", "a.b"}, true},
		{[]string{"a", "a.b", "a/b"}, false},
		{[]string{"b", "a"}, false},
	} {
		recs := make([]Record, len(tc.paths))
		for i, p := range tc.paths {
			recs[i].Path = p
		}
		if got := recordsSorted(recs); got != tc.want {
			t.Errorf("recordsSorted(%q) = %v, want %v", tc.paths, got, tc.want)
		}
	}
}
