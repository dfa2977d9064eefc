package core

import (
	"errors"
	"slices"
	"testing"
)

func TestUnreadablesLeaveOut(t *testing.T) {
	paths := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Path)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		unreadable []string // on the local side
		want       []string // left in both sides' scans and records
		reported   []string
	}{
		{"none", nil, []string{"a", "a/b", "a/b/c", "ab", "z"}, nil},
		{"a subtree", []string{"a/b"}, []string{"a", "ab", "z"}, []string{"a/b"}},
		{"not a prefix of a sibling", []string{"a"}, []string{"ab", "z"}, []string{"a"}},
		{"nested: the outermost is reported", []string{"a/b/c", "a/b", "a"}, []string{"ab", "z"}, []string{"a"}},
		{"a leaf", []string{"z"}, []string{"a", "a/b", "a/b/c", "ab"}, []string{"z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := []string{"a", "a/b", "a/b/c", "ab", "z"}
			var scans [2][]Entry
			var recs [2][]Record
			for s := range 2 {
				for _, p := range all {
					scans[s] = append(scans[s], Entry{Path: p})
					recs[s] = append(recs[s], Record{Entry: Entry{Path: p}})
				}
			}
			var u unreadables
			for _, p := range tc.unreadable {
				u.add(Local, p, errors.New("denied"))
			}
			u.leaveOut(&scans, &recs)
			for s := range 2 {
				if got := paths(scans[s]); !slices.Equal(got, tc.want) {
					t.Errorf("scan %d = %v, want %v", s, got, tc.want)
				}
				var got []string
				for _, r := range recs[s] {
					got = append(got, r.Path)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("records %d = %v, want %v", s, got, tc.want)
				}
			}
			var rep []string
			for _, x := range u.list {
				rep = append(rep, x.path)
			}
			if !slices.Equal(rep, tc.reported) {
				t.Errorf("reported %v, want %v", rep, tc.reported)
			}
		})
	}
}
