package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
)

// openBucket makes the side's tree over an opened bucket (err: the
// failure to open it).
func openBucket(p *prepared, side core.Side, b objstore.Bucket, prefix string, err error) (*opened, error) {
	e := p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &fatal{exitFailed, fmt.Errorf("option %s: bucket of %s does not exist", opt, e.Display())}
		}
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: %s: %w", opt, e.Display(), err)}
	}
	f := objstore.New(b, prefix, objstore.Options{Tags: p.s.tags, ChecksumSHA256: p.s.Policy.Checksum == core.ChecksumSHA256,
		Unordered: os.Getenv(unorderedEnv) == "1"})
	return &opened{backend: f, snaps: &lifecycle.Dir{Path: p.dbDir[side], StoreDir: p.storeDir[side]},
		close: func() { f.Close() }}, nil
}

// unorderedEnv names the test hook that lists buckets whole before a
// scan passes anything on, as for buckets that do not list in key order
// (objstore.Options.Unordered): tests and benchmarks compare the two.
const unorderedEnv = "ASYNC_TEST_UNORDERED_BUCKETS"

// openCloud opens a bucket of a gocloud.dev driver that lives in a plugin
// program (gs, azblob): async-backend-SCHEME serves it.
func openCloud(_ *app, ctx context.Context, _ *instance, p *prepared, side core.Side, _ *slog.Logger) (*opened, error) {
	scheme, _, _ := strings.Cut(p.ends[side].raw, "://")
	return openPlugin(ctx, p, side, scheme, true)
}

// openPluginSide opens an endpoint of a scheme async does not know:
// async-backend-SCHEME serves it.
func openPluginSide(_ *app, ctx context.Context, _ *instance, p *prepared, side core.Side, _ *slog.Logger) (*opened, error) {
	return openPlugin(ctx, p, side, p.ends[side].plugin, false)
}

// objectWarnings says which asked-for preservations a bucket side cannot
// keep (docs/reference.md §5.11): they do nothing for that side.
func objectWarnings(s *session, ends [2]endpoint) []string {
	var side string
	for i, e := range ends {
		if e.object() {
			side = [2]string{"-d", "-r"}[i]
		}
	}
	if side == "" {
		return nil
	}
	var out []string
	add := func(cond bool, what string) {
		if cond {
			out = append(out, fmt.Sprintf("warning: %s: a bucket (%s) cannot keep them; nothing is done for that side", what, side))
		}
	}
	add(s.Policy.PreserveUID || s.Policy.PreserveGID || s.Policy.WriteUID != nil || s.Policy.WriteGID != nil, "owners (-u, -j, --write-uid/gid)")
	add(s.Policy.PreserveXattrs, "extended attributes (--preserve-xattrs)")
	add(s.Policy.PreserveACLs, "ACLs (--preserve-acls)")
	add(s.Policy.Dedup == core.DedupHardlink || s.Policy.Dedup == core.DedupInode, "hard links (--dedup hardlink/inode)")
	add(s.linksSet && s.Links == core.LinksCopy, "symbolic links (-n copy): they are skipped")
	return out
}
