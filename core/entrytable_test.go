package core

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEntryTableRoundTrip(t *testing.T) {
	// The table encodes each of Entry's fields; a new one must be added
	// to its encoding, or the streaming join would drop it.
	if n := reflect.TypeFor[Entry]().NumField(); n != 12 {
		t.Fatalf("Entry has %d fields, the entry table encodes 12: encode the new one (entrytable.go) and update this count", n)
	}
	local := time.Unix(1_700_000_000, 123_456_789)
	utc := time.Date(2024, 2, 29, 12, 0, 0, 5, time.UTC)
	other := time.Date(2024, 2, 29, 12, 0, 0, 5, time.FixedZone("X", 3600))
	old := time.Unix(-5_000_000_000, 7) // before 1970
	file := func(mut func(*Entry)) Entry {
		e := Entry{Path: "d/f.txt", Size: 42, MTime: local, ATime: local.Add(time.Second), Mode: 0o644, Type: TypeFile,
			UID: 1000, GID: 100, Token: "1700000001000000000", FileID: "2049:123456"}
		mut(&e)
		return e
	}
	tests := []struct {
		name string
		e    Entry
		big  bool // kept whole aside
	}{
		{"local file", file(func(*Entry) {}), false},
		{"root dir", Entry{Type: TypeDir, Mode: 0o755, UID: NoID, GID: NoID, MTime: local, ATime: local}, false},
		{"no times", file(func(e *Entry) { e.MTime, e.ATime = time.Time{}, time.Time{} }), false},
		{"no access time", file(func(e *Entry) { e.ATime = time.Time{} }), false},
		{"utc", file(func(e *Entry) { e.MTime, e.ATime = utc, utc }), false},
		{"mixed kinds", file(func(e *Entry) { e.ATime = utc }), false},
		{"before 1970", file(func(e *Entry) { e.MTime = old; e.Token = "12" }), false},
		{"access before 1970", file(func(e *Entry) { e.ATime = old }), false},
		{"token below mtime", file(func(e *Entry) { e.Token = "5" }), false},
		{"largest token", file(func(e *Entry) { e.Token = "18446744073709551615" }), false},
		{"token too large", file(func(e *Entry) { e.Token = "18446744073709551616" }), false},
		{"token zero", file(func(e *Entry) { e.Token = "0" }), false},
		{"token leading zero", file(func(e *Entry) { e.Token = "0123" }), false},
		{"token sign", file(func(e *Entry) { e.Token = "+123" }), false},
		{"etag token", file(func(e *Entry) { e.Token = `"9b2cf535f27731c974343645a3985328"` }), false},
		{"no token no id", file(func(e *Entry) { e.Token, e.FileID = "", "" }), false},
		{"odd file id", file(func(e *Entry) { e.FileID = "a:1" }), false},
		{"file id three parts", file(func(e *Entry) { e.FileID = "1:2:3" }), false},
		{"symlink", Entry{Path: "l", Type: TypeSymlink, MTime: local, ATime: local, Target: "../x y", UID: -1, GID: -1}, false},
		{"hash and setuid", file(func(e *Entry) { e.Hash = "sha1:abc"; e.Mode |= 1 << 23 }), false},
		{"negative size", file(func(e *Entry) { e.Size = -1 }), false},
		{"other zone", file(func(e *Entry) { e.MTime = other }), true},
		{"monotonic", file(func(e *Entry) { e.ATime = time.Now() }), true},
		{"far future", file(func(e *Entry) { e.MTime = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }), true},
		{"long path", file(func(e *Entry) { e.Path = strings.Repeat("p", tableChunk/4) }), true},
	}
	tab := newEntryTable(0)
	for _, tt := range tests {
		tab.add(&tt.e)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Entry
			tab.at(i, &got)
			if got != tt.e {
				t.Errorf("at = %+v, want %+v", got, tt.e)
			}
			if p := tab.path(i); p != tt.e.Path {
				t.Errorf("path = %q, want %q", p, tt.e.Path)
			}
			if big := tab.refs[i]&bigRef != 0; big != tt.big {
				t.Errorf("kept whole = %v, want %v", big, tt.big)
			}
		})
	}
	if all := tab.entries(); len(all) != len(tests) || all[0] != tests[0].e {
		t.Errorf("entries: %d entries, first %+v", len(all), all[0])
	}
}

func TestEntryTableSortFind(t *testing.T) {
	paths := []string{"b", "a/c", "a", "a.b", "", "a/b/c", "z", "a/b"}
	tab := newEntryTable(len(paths))
	// Enough entries to fill several chunks.
	for i := range 40_000 {
		paths = append(paths, fmt.Sprintf("d%02d/%s-%06d", i%97, strings.Repeat("n", 20), i))
	}
	for _, p := range paths {
		tab.add(&Entry{Path: p, Type: TypeFile, MTime: time.Unix(int64(len(p)), 0)})
	}
	if len(tab.chunks) < 2 {
		t.Fatalf("%d chunks, want several", len(tab.chunks))
	}
	tab.sort()
	want := slices.Clone(paths)
	slices.SortFunc(want, ComparePaths)
	var got []string
	for e := range tab.all() {
		got = append(got, e.Path)
		if !e.MTime.Equal(time.Unix(int64(len(e.Path)), 0)) {
			t.Fatalf("%q: mtime %v, its entry's fields moved apart", e.Path, e.MTime)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sorted paths differ: first %q", got[:8])
	}
	for i, p := range want {
		if at, ok := tab.find(p); !ok || at != i {
			t.Errorf("find(%q) = %d, %v; want %d, true", p, at, ok, i)
		}
	}
	for _, p := range []string{"a/", "c", "a/b/d", "zz"} {
		if _, ok := tab.find(p); ok {
			t.Errorf("find(%q) found it", p)
		}
	}
	var none *entryTable
	if _, ok := none.find("a"); ok || none.len() != 0 {
		t.Error("an absent table holds something")
	}
}
