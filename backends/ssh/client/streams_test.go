package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/core"
)

// TestStreamsFlowSideBySide: a stream whose reader does not read (a scan
// the join waits with) holds up neither the connection nor another stream
// (the snapshot's records) on it: each has a window of its own.
func TestStreamsFlowSideBySide(t *testing.T) {
	t.Parallel()
	c, root := rootedPipeClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Far more than a window of 64 KiB frames on each stream.
	const n = 20000
	long := strings.Repeat("x", 120)
	for i := range n {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("%s-%05d", long, i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.OpenStore(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range n {
		r := core.Record{Entry: core.Entry{Path: fmt.Sprintf("%s/%05d", long, i), Type: core.TypeFile}}
		if err := st.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	scan := func(fn func() error) (int, error) {
		count := 0
		err := c.Scan(ctx, core.ScanOptions{}, func(core.Entry) error { count++; return fn() })
		return count, err
	}
	load := func(fn func() error) (int, error) {
		count := 0
		err := st.Load(ctx, func(core.Record) error { count++; return fn() })
		return count, err
	}
	for _, tc := range []struct {
		name          string
		stuck, flowed func(func() error) (int, error)
	}{
		{"scan waits", scan, load},
		{"records wait", load, scan},
	} {
		release := make(chan struct{})
		stuck := make(chan int, 1)
		go func() {
			first := true
			count, err := tc.stuck(func() error {
				if first {
					first = false
					<-release // the reader stops at the first item
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			stuck <- count
		}()
		time.Sleep(200 * time.Millisecond) // the stuck stream fills what it may
		count, err := tc.flowed(func() error { return nil })
		if err != nil || count != n {
			t.Errorf("%s: the other stream passed %d of %d items: %v", tc.name, count, n, err)
		}
		close(release)
		if got := <-stuck; got != n {
			t.Errorf("%s: the waiting stream passed %d of %d items", tc.name, got, n)
		}
	}
}

// TestOrderedScanOverSSH: an agent whose filesystem scans in path order
// says so, and an ordered scan reaches the client one entry at a time in
// core.ComparePaths order.
func TestOrderedScanOverSSH(t *testing.T) {
	t.Parallel()
	c, root := rootedPipeClient(t)
	if !c.Caps().OrderedScan {
		t.Fatal("the agent's local filesystem does not claim an ordered scan")
	}
	for _, p := range []string{"a/b/c", "a.b/x", "a-/y", "A/z", "a b/w", "é/v", "a/b.c/d", "a/b-c/e"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p, "f"), []byte("f"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := c.Scan(context.Background(), core.ScanOptions{Ordered: true, Threads: 4}, func(e core.Entry) error {
		got = append(got, e.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(got, core.ComparePaths) {
		t.Errorf("an ordered scan out of path order: %q", got)
	}
	want := slices.Clone(got)
	slices.SortFunc(want, core.ComparePaths)
	if len(got) != 25 || !slices.Equal(got, want) {
		t.Errorf("ordered scan: %d entries %q", len(got), got)
	}
}
