package s3

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
)

// TestListsInKeyOrder: the server lists keys in byte order, across pages,
// as ListsInKeyOrder claims; so the tree's ordered scan is in path order
// and holds what the whole listing holds.
func TestListsInKeyOrder(t *testing.T) {
	s := server(t)
	bucket := s.Bucket(t)
	b := open(t, s, bucket, Options{})
	if !b.ListsInKeyOrder() {
		t.Fatal("no key order claimed")
	}
	var keys []string
	for _, n := range []string{"a", "a b", "a-", "a.b", "a0", "a~", "é", "e"} {
		for _, m := range []string{"x.y", "x/y", "x-/z", "x y", "x0"} {
			keys = append(keys, "tree/"+n+"/"+m)
		}
		keys = append(keys, "tree/"+n+".f", "tree/"+n+"-f")
	}
	for i := range 1100 { // more than a page
		keys = append(keys, "tree/p/"+strings.Repeat("q", i%7)+"."+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)))
	}
	for _, k := range keys {
		if _, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
			Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	if err := b.List(context.Background(), "tree/", func(o objstore.Object) error {
		listed = append(listed, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if !slices.Equal(listed, keys) {
		t.Fatalf("listed %d keys, not in byte order or not all of %d", len(listed), len(keys))
	}
	scan := func(f *objstore.FS, ordered bool) []core.Entry {
		var out []core.Entry
		err := f.Scan(context.Background(), core.ScanOptions{Ordered: ordered}, func(e core.Entry) error {
			out = append(out, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := scan(objstore.New(b, "tree", objstore.Options{}), true)
	whole := scan(objstore.New(b, "tree", objstore.Options{Unordered: true}), false)
	slices.SortFunc(whole, func(a, b core.Entry) int { return core.ComparePaths(a.Path, b.Path) })
	if len(got) != len(whole) {
		t.Fatalf("ordered scan: %d entries, whole: %d", len(got), len(whole))
	}
	for i := range got {
		if got[i].Path != whole[i].Path || got[i].Type != whole[i].Type || got[i].Token != whole[i].Token {
			t.Fatalf("entry %d: ordered %+v, whole %+v", i, got[i], whole[i])
		}
	}
}
