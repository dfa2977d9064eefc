package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
)

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []core.Entry{
		{Path: "a/b", Type: core.TypeFile, Size: 7, MTime: time.Unix(1700000000, 123456789), Mode: 0o640 | fs.ModeSetgid,
			UID: 1000, GID: core.NoID, Hash: "sha1:ab", Token: "t", FileID: "1:2"},
		{Path: "l", Type: core.TypeSymlink, Target: "x/y", MTime: time.Unix(-5000000000, 1), ATime: time.Unix(3, 4)},
		{Type: core.TypeDir, UID: core.NoID, GID: core.NoID}, // zero times
	} {
		got := entryFromPB(entryToPB(&e))
		if !reflect.DeepEqual(got.MTime.UnixNano(), e.MTime.UnixNano()) || got.MTime.IsZero() != e.MTime.IsZero() {
			t.Errorf("mtime %v, want %v", got.MTime, e.MTime)
		}
		got.MTime, got.ATime, e.MTime, e.ATime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip: %+v, want %+v", got, e)
		}
	}
}

func TestOptionsRoundTrip(t *testing.T) {
	mt, mode, uid := time.Unix(1, 2), fs.FileMode(0o600), 5
	a := core.Attrs{MTime: &mt, Mode: &mode, UID: &uid}
	if got := attrsFromPB(attrsToPB(a)); !got.MTime.Equal(mt) || *got.Mode != mode || *got.UID != uid || got.ATime != nil || got.GID != nil {
		t.Errorf("attrs: %+v", got)
	}
	e := core.Entry{Path: "p", Type: core.TypeFile, Size: 1}
	for _, pre := range []core.Precondition{{Any: true}, core.MustNotExist, core.Expect(&e)} {
		got := preFromPB(preToPB(pre))
		if got.Any != pre.Any || (got.Expect == nil) != (pre.Expect == nil) || (got.Expect != nil && got.Expect.Size != 1) {
			t.Errorf("precondition %+v came back as %+v", pre, got)
		}
	}
	o := core.ScanOptions{
		Prune: core.Prune{
			Filter:   []filter.Rule{{Include: true, Pattern: "*.go"}, {Pattern: "*"}},
			Subtrees: []string{"old"},
			Settled:  map[string]time.Time{"a": time.Unix(9, 9)},
		},
		FollowLinks: true, Threads: 3, PartialMaxAge: time.Hour,
		Known: map[string]core.Entry{"k": {Path: "k", Type: core.TypeFile, UID: core.NoID, GID: core.NoID}},
	}
	got := scanFromPB(scanToPB(o))
	if !reflect.DeepEqual(got.Prune.Filter, o.Prune.Filter) || !reflect.DeepEqual(got.Prune.Subtrees, o.Prune.Subtrees) ||
		!got.Prune.Settled["a"].Equal(time.Unix(9, 9)) || !got.FollowLinks || got.Threads != 3 ||
		got.PartialMaxAge != time.Hour || got.Known["k"].Type != core.TypeFile {
		t.Errorf("scan options: %+v", got)
	}
	empty := scanFromPB(scanToPB(core.ScanOptions{Prune: core.Prune{Settled: map[string]time.Time{}}}))
	if empty.Prune.Settled == nil || empty.Known != nil {
		t.Errorf("an empty settled map or known set changed: %+v", empty)
	}
}

func TestErrorsKeepTheirMeaning(t *testing.T) {
	c := &client{proc: &process{path: "/p"}}
	for _, sentinel := range []error{fs.ErrNotExist, fs.ErrExist, core.ErrPrecondition, core.ErrNotEmpty,
		core.ErrOwner, core.ErrUnsupported, fs.ErrPermission} {
		err := c.fromStatus(context.Background(), "op", toStatus(fmt.Errorf("op /x: %w", sentinel)))
		if !errors.Is(err, sentinel) || err.Error() != "op /x: "+sentinel.Error() {
			t.Errorf("%v came back as %v", sentinel, err)
		}
	}
	err := c.fromStatus(context.Background(), "op", toStatus(errors.New("plain")))
	var re *RemoteError
	if !errors.As(err, &re) || re.Unwrap() != nil || err.Error() != "plain" {
		t.Errorf("a plain error came back as %#v", err)
	}
}
