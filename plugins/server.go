package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// scanBatch is how many entries one scan message carries.
const scanBatch = 512

// chunks recycles the read buffers of Open's streams.
var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// server serves one backend (the plugin side of the protocol).
type server struct {
	pb.UnimplementedBackendServer
	open func(ctx context.Context, rawURL string) (core.Backend, error)

	mu sync.Mutex
	b  core.Backend
}

var errNotOpen = status.Error(codes.FailedPrecondition, "no backend open (OpenBackend first)")

func (s *server) backend() (core.Backend, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil, errNotOpen
	}
	return s.b, nil
}

func (s *server) OpenBackend(ctx context.Context, req *pb.OpenBackendRequest) (*pb.BackendCaps, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b != nil {
		return nil, status.Error(codes.FailedPrecondition, "a backend is open already")
	}
	b, err := s.open(ctx, req.Url)
	if err != nil {
		return nil, toStatus(err)
	}
	s.b = b
	return describe(b), nil
}

// describe returns b's caps and optional interfaces.
func describe(b core.Backend) *pb.BackendCaps {
	c := capsToPB(b.Caps())
	setFeatures(c, core.FeaturesOf(b))
	if n, ok := b.(core.Networked); ok {
		c.InFlight = uint32(max(n.InFlight(), 1))
	}
	return c
}

func (s *server) Caps(context.Context, *pb.Empty) (*pb.BackendCaps, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	return describe(b), nil
}

func (s *server) Close(context.Context, *pb.Empty) (*pb.Empty, error) {
	s.mu.Lock()
	b := s.b
	s.b = nil
	s.mu.Unlock()
	if b == nil {
		return &pb.Empty{}, nil
	}
	return &pb.Empty{}, toStatus(b.Close())
}

// Scan sends the entries in batches as the backend reports them (from any
// number of goroutines).
func (s *server) Scan(req *pb.ScanRequest, stream pb.Backend_ScanServer) error {
	b, err := s.backend()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var batch []*pb.Entry
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pb.ScanBatch{Entries: batch})
		batch = nil
		return err
	}
	err = b.Scan(stream.Context(), scanFromPB(req), func(e core.Entry) error {
		mu.Lock()
		defer mu.Unlock()
		batch = append(batch, entryToPB(&e))
		if len(batch) < scanBatch {
			return nil
		}
		return flush()
	})
	if err == nil {
		mu.Lock()
		err = flush()
		mu.Unlock()
	}
	return toStatus(err)
}

func (s *server) Stat(ctx context.Context, req *pb.PathRequest) (*pb.Entry, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	return entryReply(b.Stat(ctx, req.Path))
}

func entryReply(e core.Entry, err error) (*pb.Entry, error) {
	if err != nil {
		return nil, toStatus(err)
	}
	return entryToPB(&e), nil
}

// Read answers with the entry and the content from the offset: up to
// chunkSize bytes and one more, which tells whether the file goes on.
func (s *server) Read(ctx context.Context, req *pb.OpenRequest) (*pb.ReadReply, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	rc, e, err := b.Open(ctx, req.Path, req.Offset)
	if err != nil {
		return nil, toStatus(err)
	}
	defer rc.Close()
	// The reply is encoded after Read returns, so its buffer is not pooled;
	// it is sized by the entry, but the content decides.
	size := int64(chunkSize)
	if rest := e.Size - req.Offset; rest >= 0 && rest < size {
		size = rest
	}
	buf := make([]byte, size+1)
	n, rerr := io.ReadFull(rc, buf)
	switch {
	case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
	case rerr != nil:
		return nil, toStatus(fmt.Errorf("read %s: %w", core.DisplayPath(req.Path), rerr))
	}
	return &pb.ReadReply{Entry: entryToPB(&e), Data: buf[:n], More: rerr == nil}, nil
}

// Open sends the content in chunks.
func (s *server) Open(req *pb.OpenRequest, stream pb.Backend_OpenServer) error {
	b, err := s.backend()
	if err != nil {
		return err
	}
	rc, e, err := b.Open(stream.Context(), req.Path, req.Offset)
	if err != nil {
		return toStatus(err)
	}
	defer rc.Close()
	if req.Expect != nil {
		if want := entryFromPB(req.Expect); !core.SameMeta(&want, &e, false) || want.FileID != e.FileID {
			return toStatus(fmt.Errorf("read %s: the file changed while it was read: %w", core.DisplayPath(req.Path), core.ErrPrecondition))
		}
	}
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	buf := *bp
	var msg pb.OpenChunk
	for {
		n, rerr := io.ReadFull(rc, buf)
		if n > 0 {
			msg.Data = buf[:n] // encoded by Send before it returns
			if err := stream.Send(&msg); err != nil {
				return err
			}
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return nil
		case rerr != nil:
			return toStatus(fmt.Errorf("read %s: %w", core.DisplayPath(req.Path), rerr))
		}
	}
}

// Put writes and commits a whole file.
func (s *server) Put(ctx context.Context, req *pb.PutRequest) (*pb.Entry, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	h := req.Header
	if h == nil {
		return nil, status.Error(codes.InvalidArgument, "put: no header")
	}
	w, err := b.Create(ctx, h.Path, createFromPB(h))
	if err != nil {
		return nil, toStatus(err)
	}
	if len(req.Data) > 0 {
		if _, err := w.Write(req.Data); err != nil {
			w.Abort()
			return nil, toStatus(err)
		}
	}
	e, err := w.Commit(ctx)
	if err != nil {
		w.Abort()
		return nil, toStatus(err)
	}
	return entryToPB(&e), nil
}

// Create receives a header, data and a finish, and answers with the
// committed entry (and first with Opened for a partial file).
func (s *server) Create(stream pb.Backend_CreateServer) error {
	b, err := s.backend()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	msg, err := stream.Recv()
	if err != nil {
		return err
	}
	h := msg.Header
	if h == nil {
		return status.Error(codes.InvalidArgument, "create: the first message has no header")
	}
	w, err := b.Create(ctx, h.Path, createFromPB(h))
	if err != nil {
		return toStatus(err)
	}
	finished := false
	defer func() {
		if !finished {
			w.Abort()
		}
	}()
	res, resumable := w.(core.Resumer)
	if h.Partial != "" {
		opened := &pb.Opened{Resumable: resumable}
		if resumable {
			opened.Offset = res.Offset()
		}
		if err := stream.Send(&pb.CreateReply{Opened: opened}); err != nil {
			return err
		}
	}
	for {
		if len(msg.Data) > 0 {
			if _, err := w.Write(msg.Data); err != nil {
				return toStatus(err)
			}
		}
		switch msg.Finish {
		case pb.Finish_FINISH_COMMIT:
			finished = true
			e, err := w.Commit(ctx)
			if err != nil {
				w.Abort()
				return toStatus(err)
			}
			return stream.Send(&pb.CreateReply{Entry: entryToPB(&e)})
		case pb.Finish_FINISH_ABORT:
			finished = true
			return toStatus(w.Abort())
		case pb.Finish_FINISH_KEEP:
			if !resumable {
				return toStatus(errors.New("create: keep of a writer that cannot resume"))
			}
			finished = true
			return toStatus(res.Keep())
		}
		if msg, err = stream.Recv(); err != nil {
			return err // the host went away: the deferred Abort drops the file
		}
	}
}

func (s *server) Mkdir(ctx context.Context, req *pb.MkdirRequest) (*pb.Entry, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	return entryReply(b.Mkdir(ctx, req.Path, fileMode(req.Mode)))
}

func (s *server) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.Empty, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, toStatus(b.Remove(ctx, req.Path, preFromPB(req.Pre)))
}

func (s *server) Rename(ctx context.Context, req *pb.RenameRequest) (*pb.Entry, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	return entryReply(b.Rename(ctx, req.From, req.To, preFromPB(req.Pre)))
}

func (s *server) SetAttr(ctx context.Context, req *pb.SetAttrRequest) (*pb.Entry, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	return entryReply(b.SetAttr(ctx, req.Path, attrsFromPB(req.Attrs)))
}

func (s *server) Symlink(ctx context.Context, req *pb.SymlinkRequest) (*pb.Entry, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	l, ok := b.(core.Linker)
	if !ok {
		return nil, toStatus(fmt.Errorf("symlink: %w", core.ErrUnsupported))
	}
	return entryReply(l.Symlink(ctx, req.Path, req.Target, preFromPB(req.Pre)))
}

func (s *server) Hash(ctx context.Context, req *pb.HashRequest) (*pb.HashReply, error) {
	b, err := s.backend()
	if err != nil {
		return nil, err
	}
	h, ok := b.(core.Hasher)
	if !ok {
		return nil, toStatus(fmt.Errorf("hash: %w", core.ErrUnsupported))
	}
	sum, e, err := h.Hash(ctx, req.Path, core.Checksum(req.Algo))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.HashReply{Sum: sum, Entry: entryToPB(&e)}, nil
}

// optional returns the open backend as T, or an error that says it lacks
// it (a host that heeds describe never asks).
func optional[T any](s *server, op string) (T, error) {
	var zero T
	b, err := s.backend()
	if err != nil {
		return zero, err
	}
	t, ok := b.(T)
	if !ok {
		return zero, toStatus(fmt.Errorf("%s: %w", op, core.ErrUnsupported))
	}
	return t, nil
}

func (s *server) Link(ctx context.Context, req *pb.LinkRequest) (*pb.Entry, error) {
	l, err := optional[core.HardLinker](s, "link")
	if err != nil {
		return nil, err
	}
	return entryReply(l.Link(ctx, req.Existing, req.Path, preFromPB(req.Pre)))
}

func (s *server) Xattrs(ctx context.Context, req *pb.PathRequest) (*pb.XattrsReply, error) {
	x, err := optional[core.Xattrer](s, "xattrs")
	if err != nil {
		return nil, err
	}
	m, err := x.Xattrs(ctx, req.Path)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.XattrsReply{Attrs: m}, nil
}

func (s *server) SetXattrs(ctx context.Context, req *pb.SetXattrsRequest) (*pb.Empty, error) {
	x, err := optional[core.Xattrer](s, "setxattrs")
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, toStatus(x.SetXattrs(ctx, req.Path, req.Attrs))
}

func (s *server) Copy(ctx context.Context, req *pb.CopyRequest) (*pb.Entry, error) {
	c, err := optional[core.Copier](s, "copy")
	if err != nil {
		return nil, err
	}
	return entryReply(c.Copy(ctx, req.From, req.To, preFromPB(req.Pre)))
}

// Watch sends the backend's batches of changed paths until the host ends
// the call.
func (s *server) Watch(_ *pb.Empty, stream pb.Backend_WatchServer) error {
	w, err := optional[core.Watcher](s, "watch")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	var sendErr error
	err = w.Watch(ctx, func(paths []string) {
		if sendErr != nil {
			return
		}
		if sendErr = stream.Send(&pb.WatchBatch{Paths: paths}); sendErr != nil {
			cancel()
		}
	})
	if sendErr != nil {
		return sendErr
	}
	if stream.Context().Err() != nil {
		return nil // the host ended the call
	}
	return toStatus(err)
}
