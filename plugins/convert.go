package plugins

import (
	"io/fs"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
	"github.com/async-sync/async/plugins/pb"
)

// The conversions between core's types and their protocol messages. Each
// pair is exact: what goes through comes back equal.

func timeToPB(t time.Time) *pb.Time {
	if t.IsZero() {
		return nil
	}
	return &pb.Time{Sec: t.Unix(), Nsec: int32(t.Nanosecond())}
}

func timeFromPB(t *pb.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(t.Sec, int64(t.Nsec))
}

func entryToPB(e *core.Entry) *pb.Entry {
	return &pb.Entry{
		Path:   e.Path,
		Type:   pb.EntryType(e.Type),
		Size:   e.Size,
		Mtime:  timeToPB(e.MTime),
		Atime:  timeToPB(e.ATime),
		Mode:   uint32(e.Mode),
		Uid:    int64(e.UID),
		Gid:    int64(e.GID),
		Target: e.Target,
		Hash:   e.Hash,
		Token:  e.Token,
		FileId: e.FileID,
	}
}

func entryFromPB(e *pb.Entry) core.Entry {
	if e == nil {
		return core.Entry{UID: core.NoID, GID: core.NoID}
	}
	return core.Entry{
		Path:   e.Path,
		Type:   core.Type(e.Type),
		Size:   e.Size,
		MTime:  timeFromPB(e.Mtime),
		ATime:  timeFromPB(e.Atime),
		Mode:   fs.FileMode(e.Mode),
		UID:    int(e.Uid),
		GID:    int(e.Gid),
		Target: e.Target,
		Hash:   e.Hash,
		Token:  e.Token,
		FileID: e.FileId,
	}
}

func capsToPB(c core.Caps) *pb.BackendCaps {
	return &pb.BackendCaps{
		Dirs: c.Dirs, Rename: c.Rename, SetMtime: c.SetMTime, SetMode: c.SetMode,
		Owners: c.Owners, Symlinks: c.Symlinks, FileIds: c.FileIDs,
		Filesystem: c.Filesystem, MtimeFromFs: c.MTimeFromFS,
	}
}

// featureBits pairs each optional interface with its BackendCaps field.
func featureBits(c *pb.BackendCaps) []struct {
	f   core.Features
	has *bool
} {
	return []struct {
		f   core.Features
		has *bool
	}{
		{core.FeatureLinker, &c.Linker}, {core.FeatureHasher, &c.Hasher},
		{core.FeatureHardLinker, &c.HardLinker}, {core.FeatureXattrer, &c.Xattrer},
		{core.FeatureCopier, &c.Copier}, {core.FeatureWatcher, &c.Watcher},
	}
}

// setFeatures marks in c the optional interfaces of f the protocol carries.
func setFeatures(c *pb.BackendCaps, f core.Features) {
	for _, b := range featureBits(c) {
		*b.has = f.Has(b.f)
	}
}

// featuresFromPB returns the optional interfaces c reports (an older
// plugin reports only Linker and Hasher: it has no others).
func featuresFromPB(c *pb.BackendCaps) core.Features {
	var f core.Features
	for _, b := range featureBits(c) {
		if *b.has {
			f |= b.f
		}
	}
	return f
}

func capsFromPB(c *pb.BackendCaps) core.Caps {
	return core.Caps{
		Dirs: c.Dirs, Rename: c.Rename, SetMTime: c.SetMtime, SetMode: c.SetMode,
		Owners: c.Owners, Symlinks: c.Symlinks, FileIDs: c.FileIds,
		Filesystem: c.Filesystem, MTimeFromFS: c.MtimeFromFs,
	}
}

func preToPB(p core.Precondition) *pb.Precondition {
	switch {
	case p.Any:
		return &pb.Precondition{Kind: &pb.Precondition_Any{Any: true}}
	case p.Expect != nil:
		return &pb.Precondition{Kind: &pb.Precondition_Expect{Expect: entryToPB(p.Expect)}}
	}
	return &pb.Precondition{Kind: &pb.Precondition_MustNotExist{MustNotExist: true}}
}

func preFromPB(p *pb.Precondition) core.Precondition {
	switch k := p.GetKind().(type) {
	case *pb.Precondition_Any:
		return core.Precondition{Any: k.Any}
	case *pb.Precondition_Expect:
		e := entryFromPB(k.Expect)
		return core.Precondition{Expect: &e}
	}
	return core.MustNotExist
}

func attrsToPB(a core.Attrs) *pb.Attrs {
	out := &pb.Attrs{}
	if a.MTime != nil {
		out.Mtime = &pb.Time{Sec: a.MTime.Unix(), Nsec: int32(a.MTime.Nanosecond())}
	}
	if a.ATime != nil {
		out.Atime = &pb.Time{Sec: a.ATime.Unix(), Nsec: int32(a.ATime.Nanosecond())}
	}
	if a.Mode != nil {
		m := uint32(*a.Mode)
		out.Mode = &m
	}
	if a.UID != nil {
		id := int64(*a.UID)
		out.Uid = &id
	}
	if a.GID != nil {
		id := int64(*a.GID)
		out.Gid = &id
	}
	return out
}

func attrsFromPB(a *pb.Attrs) core.Attrs {
	var out core.Attrs
	if a == nil {
		return out
	}
	if a.Mtime != nil {
		t := timeFromPB(a.Mtime)
		out.MTime = &t
	}
	if a.Atime != nil {
		t := timeFromPB(a.Atime)
		out.ATime = &t
	}
	if a.Mode != nil {
		m := fs.FileMode(*a.Mode)
		out.Mode = &m
	}
	if a.Uid != nil {
		id := int(*a.Uid)
		out.UID = &id
	}
	if a.Gid != nil {
		id := int(*a.Gid)
		out.GID = &id
	}
	return out
}

func createToPB(p string, o core.CreateOptions) *pb.CreateHeader {
	return &pb.CreateHeader{Path: p, Size: o.Size, Attrs: attrsToPB(o.Attrs), Replace: preToPB(o.Replace), Partial: o.Partial}
}

func createFromPB(h *pb.CreateHeader) core.CreateOptions {
	return core.CreateOptions{Size: h.Size, Attrs: attrsFromPB(h.Attrs), Replace: preFromPB(h.Replace), Partial: h.Partial}
}

func scanToPB(o core.ScanOptions) *pb.ScanRequest {
	p := &pb.Prune{Subtrees: o.Prune.Subtrees, Shallow: o.Prune.Shallow, HasSettled: o.Prune.Settled != nil}
	for _, r := range o.Prune.Filter {
		p.Filter = append(p.Filter, &pb.FilterRule{Include: r.Include, Pattern: r.Pattern})
	}
	if len(o.Prune.Settled) > 0 {
		p.Settled = make(map[string]*pb.Time, len(o.Prune.Settled))
		for d, t := range o.Prune.Settled {
			p.Settled[d] = &pb.Time{Sec: t.Unix(), Nsec: int32(t.Nanosecond())}
		}
	}
	req := &pb.ScanRequest{
		Prune: p, FollowLinks: o.FollowLinks, Threads: int32(o.Threads),
		PartialMaxAgeNs: int64(o.PartialMaxAge), PauseNs: int64(o.Pause), PauseEvery: int32(o.PauseEvery),
	}
	for _, e := range o.Known {
		req.Known = append(req.Known, entryToPB(&e))
	}
	return req
}

func scanFromPB(r *pb.ScanRequest) core.ScanOptions {
	o := core.ScanOptions{
		FollowLinks: r.FollowLinks, Threads: int(r.Threads),
		PartialMaxAge: time.Duration(r.PartialMaxAgeNs), Pause: time.Duration(r.PauseNs), PauseEvery: int(r.PauseEvery),
	}
	if p := r.Prune; p != nil {
		o.Prune.Subtrees, o.Prune.Shallow = p.Subtrees, p.Shallow
		for _, f := range p.Filter {
			o.Prune.Filter = append(o.Prune.Filter, filter.Rule{Include: f.Include, Pattern: f.Pattern})
		}
		if p.HasSettled {
			o.Prune.Settled = make(map[string]time.Time, len(p.Settled))
			for d, t := range p.Settled {
				o.Prune.Settled[d] = timeFromPB(t)
			}
		}
	}
	if len(r.Known) > 0 {
		o.Known = make(map[string]core.Entry, len(r.Known))
		for _, e := range r.Known {
			o.Known[e.Path] = entryFromPB(e)
		}
	}
	return o
}

func fileMode(m uint32) fs.FileMode { return fs.FileMode(m) }
