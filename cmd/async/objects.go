package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/async-sync/async/backends/blob"
	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/backends/s3"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
)

// openObjects opens a bucket endpoint; its snapshot is local (reference
// §5.11).
func openObjects(ctx context.Context, p *prepared, side core.Side) (*opened, error) {
	e := p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	var (
		b      objstore.Bucket
		prefix string
		err    error
	)
	switch e.scheme {
	case "plugin":
		return openPlugin(ctx, p, side, e.plugin)
	case "s3":
		b, err = s3.Open(ctx, s3.Options{Bucket: e.bucket, Endpoint: e.s3.endpoint, Region: e.s3.region, PathStyle: e.s3.pathStyle})
		prefix = e.path
	default:
		if scheme := cloudScheme(e.raw); scheme != "" {
			// Served by async-backend-SCHEME: its driver would slow every start.
			return openPlugin(ctx, p, side, scheme)
		}
		b, prefix, err = blob.Open(ctx, e.raw)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &fatal{exitFailed, fmt.Errorf("option %s: bucket of %s does not exist", opt, e.Display())}
		}
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: %s: %w", opt, e.Display(), err)}
	}
	f := objstore.New(b, prefix, objstore.Options{Tags: p.s.tags, ChecksumSHA256: p.s.Policy.Checksum == core.ChecksumSHA256})
	return &opened{backend: f, snaps: &lifecycle.Dir{Path: p.dbDir[side], StoreDir: p.storeDir[side]},
		close: func() { f.Close() }}, nil
}

// cloudScheme returns the scheme of a gocloud URL whose driver lives in a
// plugin program (gs, azblob), "" for the drivers async links.
func cloudScheme(raw string) string {
	scheme, _, _ := strings.Cut(raw, "://")
	scheme = strings.TrimPrefix(strings.ToLower(scheme), "blob+")
	if scheme == "gs" || scheme == "azblob" {
		return scheme
	}
	return ""
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
