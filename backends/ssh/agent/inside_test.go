package agent

import "testing"

func TestInsideTree(t *testing.T) {
	for _, tc := range []struct {
		p, tree string
		want    bool
	}{
		{"/srv/data/db", "/srv/data", true},
		{"/srv/data", "/srv/data", true},
		{"/srv/data/.private-asp/x", "/srv/data", false}, // the private area
		{"/srv/data/.private-asp", "/srv/data", false},
		{"/srv/database", "/srv/data", false},
		{"/srv/other/db", "/srv/data", false},
		{"/srv", "/srv/data", false},
		{"/home/u/db", "/home/u", true},
	} {
		if got := insideTree(tc.p, tc.tree); got != tc.want {
			t.Errorf("insideTree(%q, %q) = %v, want %v", tc.p, tc.tree, got, tc.want)
		}
	}
}
