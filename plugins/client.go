package plugins

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// defaultInFlight is how many operations the pipeline keeps in flight on a
// plugin whose backend does not ask for more: each one is a round trip to
// another process.
const defaultInFlight = 8

// client is the host side: a core.Backend whose every call goes to the
// plugin process.
type client struct {
	proc     *process
	rpc      pb.BackendClient
	caps     core.Caps
	inFlight int

	closeOnce sync.Once
	closeErr  error
}

var (
	_ core.Backend    = (*client)(nil)
	_ core.Networked  = (*client)(nil)
	_ core.Linker     = (*client)(nil)
	_ core.Hasher     = (*client)(nil)
	_ core.HardLinker = (*client)(nil)
	_ core.Xattrer    = (*client)(nil)
	_ core.Copier     = (*client)(nil)
	_ core.Watcher    = (*client)(nil)
)

// typed returns c with exactly the optional interfaces the plugin's
// backend has (and Networked, the client's own), so that type assertions
// on the host tell the truth and nothing calls a method the plugin lacks.
func (c *client) typed(f core.Features) core.Backend {
	return core.Mask(c, f|core.FeatureNetworked)
}

// Caps reports the plugin backend's caps.
func (c *client) Caps() core.Caps { return c.caps }

// InFlight implements core.Networked.
func (c *client) InFlight() int { return max(c.inFlight, defaultInFlight) }

// Close closes the plugin's backend and ends the plugin process.
func (c *client) Close() error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.rpc.Close(ctx, &pb.Empty{}); err != nil {
			c.closeErr = c.fromStatus(ctx, "close", err)
		}
		c.proc.kill()
	})
	return c.closeErr
}

// Scan streams the plugin's scan; fn runs on the calling goroutine.
func (c *client) Scan(ctx context.Context, opts core.ScanOptions, fn func(core.Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the plugin's scan when fn fails
	st, err := c.rpc.Scan(ctx, scanToPB(opts))
	if err != nil {
		return c.fromStatus(ctx, "scan", err)
	}
	for {
		b, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return c.fromStatus(ctx, "scan", err)
		}
		for _, e := range b.Entries {
			if err := fn(entryFromPB(e)); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// entry finishes a call that answers with an entry.
func (c *client) entry(ctx context.Context, op string, e *pb.Entry, err error) (core.Entry, error) {
	if err != nil {
		return core.Entry{}, c.fromStatus(ctx, op, err)
	}
	return entryFromPB(e), nil
}

func (c *client) Stat(ctx context.Context, p string) (core.Entry, error) {
	e, err := c.rpc.Stat(ctx, &pb.PathRequest{Path: p})
	return c.entry(ctx, "stat "+core.DisplayPath(p), e, err)
}

func (c *client) Mkdir(ctx context.Context, p string, mode fs.FileMode) (core.Entry, error) {
	e, err := c.rpc.Mkdir(ctx, &pb.MkdirRequest{Path: p, Mode: uint32(mode)})
	return c.entry(ctx, "mkdir "+core.DisplayPath(p), e, err)
}

func (c *client) Remove(ctx context.Context, p string, pre core.Precondition) error {
	_, err := c.rpc.Remove(ctx, &pb.RemoveRequest{Path: p, Pre: preToPB(pre)})
	return c.fromStatus(ctx, "remove "+core.DisplayPath(p), err)
}

func (c *client) Rename(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	e, err := c.rpc.Rename(ctx, &pb.RenameRequest{From: from, To: to, Pre: preToPB(pre)})
	return c.entry(ctx, "rename "+core.DisplayPath(from), e, err)
}

func (c *client) SetAttr(ctx context.Context, p string, a core.Attrs) (core.Entry, error) {
	e, err := c.rpc.SetAttr(ctx, &pb.SetAttrRequest{Path: p, Attrs: attrsToPB(a)})
	return c.entry(ctx, "setattr "+core.DisplayPath(p), e, err)
}

// Symlink implements core.Linker.
func (c *client) Symlink(ctx context.Context, p, target string, pre core.Precondition) (core.Entry, error) {
	e, err := c.rpc.Symlink(ctx, &pb.SymlinkRequest{Path: p, Target: target, Pre: preToPB(pre)})
	return c.entry(ctx, "symlink "+core.DisplayPath(p), e, err)
}

// Hash implements core.Hasher.
func (c *client) Hash(ctx context.Context, p string, algo core.Checksum) (string, core.Entry, error) {
	r, err := c.rpc.Hash(ctx, &pb.HashRequest{Path: p, Algo: string(algo)})
	if err != nil {
		return "", core.Entry{}, c.fromStatus(ctx, "hash "+core.DisplayPath(p), err)
	}
	return r.Sum, entryFromPB(r.Entry), nil
}

// Link implements core.HardLinker.
func (c *client) Link(ctx context.Context, existing, p string, pre core.Precondition) (core.Entry, error) {
	e, err := c.rpc.Link(ctx, &pb.LinkRequest{Existing: existing, Path: p, Pre: preToPB(pre)})
	return c.entry(ctx, "link "+core.DisplayPath(p), e, err)
}

// Xattrs implements core.Xattrer.
func (c *client) Xattrs(ctx context.Context, p string) (map[string][]byte, error) {
	r, err := c.rpc.Xattrs(ctx, &pb.PathRequest{Path: p})
	if err != nil {
		return nil, c.fromStatus(ctx, "xattrs "+core.DisplayPath(p), err)
	}
	return r.Attrs, nil
}

// SetXattrs implements core.Xattrer.
func (c *client) SetXattrs(ctx context.Context, p string, attrs map[string][]byte) error {
	_, err := c.rpc.SetXattrs(ctx, &pb.SetXattrsRequest{Path: p, Attrs: attrs})
	return c.fromStatus(ctx, "setxattrs "+core.DisplayPath(p), err)
}

// Copy implements core.Copier.
func (c *client) Copy(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	e, err := c.rpc.Copy(ctx, &pb.CopyRequest{From: from, To: to, Pre: preToPB(pre)})
	return c.entry(ctx, "copy "+core.DisplayPath(from), e, err)
}

// Watch implements core.Watcher: the plugin's backend watches, and
// streams the changed paths until ctx ends.
func (c *client) Watch(ctx context.Context, fn func(paths []string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.rpc.Watch(ctx, &pb.Empty{})
	if err != nil {
		return c.fromStatus(ctx, "watch", err)
	}
	for {
		b, err := st.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF {
				return errors.New("watch: the plugin stopped watching")
			}
			return c.fromStatus(ctx, "watch", err)
		}
		if len(b.Paths) > 0 {
			fn(b.Paths)
		}
	}
}

// Open reads a file from offset: a small file comes whole with the entry in
// one round trip; the rest of a larger one is streamed, and the reader's
// Close ends the stream.
func (c *client) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, core.Entry, error) {
	first, err := c.rpc.Read(ctx, &pb.OpenRequest{Path: p, Offset: offset})
	if err != nil {
		return nil, core.Entry{}, c.fromStatus(ctx, "open "+core.DisplayPath(p), err)
	}
	e := entryFromPB(first.Entry)
	r := &reader{c: c, path: p, buf: first.Data, err: io.EOF}
	if first.More { // the rest, sent while the caller reads the first part
		r.ctx, r.cancel = context.WithCancel(ctx)
		rest := &pb.OpenRequest{Path: p, Offset: offset + int64(len(first.Data)), Expect: first.Entry}
		if r.st, r.err = c.rpc.Open(r.ctx, rest); r.err != nil {
			r.err = c.fromStatus(r.ctx, "read "+core.DisplayPath(p), r.err)
		}
	}
	return r, e, nil
}

// reader reads a file: the data of the first reply, then what the plugin
// streams.
type reader struct {
	c      *client
	ctx    context.Context    // nil without a stream
	cancel context.CancelFunc // ends the stream
	st     pb.Backend_OpenClient
	path   string
	buf    []byte
	err    error // io.EOF at the end
}

var _ io.WriterTo = (*reader)(nil)

// next waits for the next chunk of the stream.
func (r *reader) next() {
	if r.st == nil {
		return // no stream: r.err is set
	}
	msg, err := r.st.Recv()
	switch {
	case err == io.EOF:
		r.err = io.EOF
	case err != nil:
		r.err = r.c.fromStatus(r.ctx, "read "+core.DisplayPath(r.path), err)
	default:
		r.buf = msg.Data
		return
	}
	r.st = nil
	r.cancel()
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.st == nil {
			return 0, r.err
		}
		r.next()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// WriteTo writes the content to w chunk by chunk, without copying it
// through a caller's buffer (io.Copy uses it).
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.buf) == 0 {
			if r.st == nil {
				if r.err == io.EOF {
					return total, nil
				}
				return total, r.err
			}
			r.next()
		}
		n, err := w.Write(r.buf)
		total += int64(n)
		r.buf = r.buf[n:]
		if err == nil && len(r.buf) > 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return total, err
		}
	}
}

// Close ends the stream.
func (r *reader) Close() error {
	if r.cancel != nil {
		r.cancel()
	}
	return nil
}
