//go:build linux

package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
)

// orderedTree makes names whose path order (core.ComparePaths) is not
// their byte order, a deep branch, a wide one, and links: one to a
// directory and one making a loop when links are followed.
func orderedTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dirs := []string{"a", "a/b", "a/b/c", "a-", "a.b", "a0", "A", "a b", "-", "ä", "日本", "z/y/x"}
	deep := "deep"
	for i := range 24 {
		deep = filepath.Join(deep, fmt.Sprint(i%3))
		dirs = append(dirs, deep)
	}
	for i := range 40 {
		dirs = append(dirs, fmt.Sprintf("wide/%02d/%d", 39-i, i%3))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"f", "f-", "f.x", "F", "é"} {
			if err := os.WriteFile(filepath.Join(root, d, f), []byte(d), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range [][2]string{{"a", "la"}, {"..", "a/b/loop"}, {"nowhere", "dangling"}} {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestOrderedScan: an ordered scan passes the entries of an unordered one,
// one at a time, in path order, whatever the threads, the links followed
// and what is pruned.
func TestOrderedScan(t *testing.T) {
	root := orderedTree(t)
	excludeA := core.Prune{Filter: []filter.Rule{{Pattern: "/a/b/"}, {Pattern: "*.x"}}}
	for _, tc := range []struct {
		name   string
		fsOpts Options
		prune  core.Prune
	}{
		{"plain", Options{}, core.Prune{}},
		{"pruned", Options{}, excludeA},
		{"subtrees", Options{}, core.Prune{Subtrees: []string{"deep/0/1", "wide"}}},
		{"shallow", Options{}, core.Prune{Shallow: true}},
		{"follow", Options{FollowLinks: true}, core.Prune{}},
		{"confined", Options{FollowLinks: true, Confined: true}, excludeA},
	} {
		for _, threads := range []int{1, 2, 16} {
			t.Run(fmt.Sprintf("%s/threads=%d", tc.name, threads), func(t *testing.T) {
				b, err := Open(root, tc.fsOpts)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				if !b.Caps().OrderedScan {
					t.Fatal("the local backend does not claim ordered scans")
				}
				var (
					mu         sync.Mutex
					badO, badU []string
				)
				unreadable := func(bad *[]string) func(string, error) error {
					return func(p string, _ error) error {
						mu.Lock()
						defer mu.Unlock()
						*bad = append(*bad, p)
						return nil
					}
				}
				var want []core.Entry
				err = b.Scan(ctx, core.ScanOptions{Threads: threads, Prune: tc.prune, Unreadable: unreadable(&badU)}, func(e core.Entry) error {
					mu.Lock()
					want = append(want, e)
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				slices.SortFunc(want, func(a, b core.Entry) int { return core.ComparePaths(a.Path, b.Path) })
				var (
					got []core.Entry
					in  atomic.Int32
				)
				err = b.Scan(ctx, core.ScanOptions{Threads: threads, Prune: tc.prune, Ordered: true, Unreadable: unreadable(&badO)}, func(e core.Entry) error {
					if in.Add(1) != 1 {
						t.Error("entries passed on at once")
					}
					defer in.Add(-1)
					if n := len(got); n > 0 && core.ComparePaths(got[n-1].Path, e.Path) >= 0 {
						t.Errorf("%q passed on after %q", e.Path, got[n-1].Path)
					}
					got = append(got, e)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) < 10 {
					t.Fatalf("only %d entries", len(got))
				}
				paths := func(es []core.Entry) string {
					var s []string
					for _, e := range es {
						s = append(s, e.Path)
					}
					return strings.Join(s, " ")
				}
				if g, w := paths(got), paths(want); g != w {
					t.Errorf("ordered scan:\n got %s\nwant %s", g, w)
				}
				for i := range min(len(got), len(want)) {
					g, w := got[i], want[i]
					g.ATime, w.ATime = time.Time{}, time.Time{} // a directory's moves as it is listed
					if g != w {
						t.Errorf("%s: ordered %+v, unordered %+v", got[i].Path, got[i], want[i])
					}
				}
				// Listers report what they cannot read as they list, ahead
				// of the walk: the same entries, in any order.
				slices.Sort(badU)
				slices.Sort(badO)
				if !slices.Equal(badO, badU) {
					t.Errorf("unreadable: ordered %v, unordered %v", badO, badU)
				}
				if tc.fsOpts.FollowLinks && len(badO) == 0 {
					t.Error("the link loop was not reported")
				}
			})
		}
	}
}

// TestOrderedScanStops: an ordered scan stopped by its callback ends with
// its error and leaves no directory open, whatever was read ahead.
func TestOrderedScanStops(t *testing.T) {
	root := orderedTree(t)
	b := open(t, root)
	defer b.Close()
	before := openFDs(t)
	stop := errors.New("stop")
	for _, threads := range []int{1, 3, 16} {
		for _, at := range []int{1, 40, 200} {
			n := 0
			err := b.Scan(ctx, core.ScanOptions{Threads: threads, Ordered: true}, func(core.Entry) error {
				if n++; n == at {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) {
				t.Fatalf("threads %d, stopped at %d: %v", threads, at, err)
			}
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before the scans, %d after", before, after)
	}
}
