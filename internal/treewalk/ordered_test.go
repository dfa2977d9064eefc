package treewalk

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

// pathOf names node n as a path of its ancestors' indexes, so that the
// depth-first order is the order of the names as compared by cmpPath.
func cmpPath(a, b []int) int { return slices.Compare(a, b) }

// fanTree lists a synthetic tree: each directory above depth 3 has fan
// entries, every other one a directory.
func fanTree(fan int, fail []int) func(j []int, _ func() bool) ([]Item[[]int, string], error) {
	return func(j []int, _ func() bool) ([]Item[[]int, string], error) {
		if fail != nil && slices.Equal(j, fail) {
			return nil, fmt.Errorf("list %v: boom", j)
		}
		var items []Item[[]int, string]
		for k := range fan {
			sub := append(slices.Clip(j), k)
			it := Item[[]int, string]{Value: fmt.Sprint(sub), Sub: sub}
			it.Descend = len(j) < 3 && k%2 == 0
			items = append(items, it)
		}
		return items, nil
	}
}

// depthFirst is the order Ordered must emit fanTree in.
func depthFirst(fan int, j []int, out []string) []string {
	items, _ := fanTree(fan, nil)(j, nil)
	for _, it := range items {
		out = append(out, it.Value)
		if it.Descend {
			out = depthFirst(fan, it.Sub, out)
		}
	}
	return out
}

func TestOrderedEmitsDepthFirst(t *testing.T) {
	want := depthFirst(5, nil, nil)
	for _, tc := range []struct{ workers, ahead int }{{1, 1}, {2, 1}, {4, 3}, {16, 64}} {
		t.Run(fmt.Sprintf("workers=%d,ahead=%d", tc.workers, tc.ahead), func(t *testing.T) {
			var got []string
			left, err := Ordered([]int(nil), Options{Workers: tc.workers}, tc.ahead, cmpPath, fanTree(5, nil),
				func(v string) error { got = append(got, v); return nil })
			if err != nil || len(left) != 0 {
				t.Fatalf("err %v, left %v", err, left)
			}
			if !slices.Equal(got, want) {
				t.Errorf("emitted %d values out of order:\n got %v\nwant %v", len(got), got, want)
			}
		})
	}
}

func TestOrderedStopsAtErrors(t *testing.T) {
	boom := errors.New("emit boom")
	want := depthFirst(5, nil, nil)
	for _, tc := range []struct {
		name     string
		fail     []int  // a directory whose listing fails
		failEmit string // a value whose emit fails
		upTo     string // the last value emitted
	}{
		{"list", []int{2, 0}, "", "[2 0]"},
		{"emit", nil, "[2 0 4]", "[2 0 3]"},
	} {
		for _, workers := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s,workers=%d", tc.name, workers), func(t *testing.T) {
				var got []string
				var listed atomic.Int32
				list := fanTree(5, tc.fail)
				_, err := Ordered([]int(nil), Options{Workers: workers}, 4, cmpPath,
					func(j []int, stopped func() bool) ([]Item[[]int, string], error) {
						listed.Add(1)
						return list(j, stopped)
					},
					func(v string) error {
						if v == tc.failEmit {
							return boom
						}
						got = append(got, v)
						return nil
					})
				if err == nil {
					t.Fatal("no error")
				}
				n := slices.Index(want, tc.upTo) + 1
				if !slices.Equal(got, want[:n]) {
					t.Errorf("emitted %v, want the %d values before the error", got, n)
				}
			})
		}
	}
}

func TestOrderedReturnsWhatIsNeverListed(t *testing.T) {
	// Every directory is a resource: each one listed or left is counted
	// once, whatever the error stops.
	for _, workers := range []int{1, 3, 8} {
		var listed, found atomic.Int32
		list := fanTree(6, nil)
		left, err := Ordered([]int(nil), Options{Workers: workers}, 8, cmpPath,
			func(j []int, stopped func() bool) ([]Item[[]int, string], error) {
				listed.Add(1)
				items, err := list(j, stopped)
				for _, it := range items {
					if it.Descend {
						found.Add(1)
					}
				}
				return items, err
			},
			func(v string) error {
				if v == "[1]" {
					return errors.New("stop")
				}
				return nil
			})
		if err == nil {
			t.Fatal("no error")
		}
		if got, want := int(listed.Load())-1+len(left), int(found.Load()); got != want {
			t.Errorf("%d workers: %d listed (root aside) + %d left, want the %d found", workers, listed.Load()-1, len(left), want)
		}
	}
}

// TestOrderedStartsWorkersAsDirectoriesWait: a worker goroutine is started
// for each directory found, up to Workers-1, so that the walk of a single
// directory (a no-op run's tree) starts none.
func TestOrderedStartsWorkersAsDirectoriesWait(t *testing.T) {
	for _, tc := range []struct{ workers, subdirs, want int }{
		{8, 0, 0}, {8, 3, 3}, {2, 3, 1}, {1, 3, 0}, {4, 40, 3},
	} {
		t.Run(fmt.Sprintf("workers=%d,subdirs=%d", tc.workers, tc.subdirs), func(t *testing.T) {
			var listed atomic.Int64
			list := func(j []int, _ func() bool) ([]Item[[]int, string], error) {
				listed.Add(1)
				var items []Item[[]int, string]
				if len(j) == 0 {
					for k := range tc.subdirs {
						items = append(items, Item[[]int, string]{Value: fmt.Sprint(k), Sub: []int{k}, Descend: true})
					}
				}
				return items, nil
			}
			w := newOrdered(Options{Workers: tc.workers}, 64, cmpPath, list, func(string) error { return nil })
			if _, err := w.run(nil); err != nil {
				t.Fatal(err)
			}
			if w.started != tc.want {
				t.Errorf("%d worker goroutines started, want %d", w.started, tc.want)
			}
			if n := listed.Load(); n != int64(1+tc.subdirs) {
				t.Errorf("%d directories listed, want %d", n, 1+tc.subdirs)
			}
		})
	}
}
