package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// Create starts a file in the plugin. A file that fits in one chunk is
// kept until Commit and sent whole with one Put; a larger one is streamed
// in chunks as it is written. A create naming a partial file asks the
// plugin at once whether it continues one, and returns a core.Resumer when
// it does.
func (c *client) Create(ctx context.Context, p string, opts core.CreateOptions) (core.Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{c: c, ctx: ctx, cancel: cancel, header: createToPB(p, opts)}
	if opts.Partial == "" {
		return w, nil
	}
	if err := w.send(nil, pb.Finish_FINISH_NONE); err != nil {
		cancel()
		return nil, err
	}
	reply, err := w.st.Recv()
	if err != nil {
		cancel()
		return nil, w.fail(err)
	}
	if o := reply.Opened; o != nil && o.Resumable {
		return &resumer{writer: w, offset: o.Offset}, nil
	}
	return w, nil
}

// writer streams a new file to the plugin.
type writer struct {
	c      *client
	ctx    context.Context
	cancel context.CancelFunc
	header *pb.CreateHeader // sent with the first message
	st     pb.Backend_CreateClient
	buf    []byte // content not sent yet
	done   bool   // committed, aborted or kept
	err    error  // the stream failed
}

var errFinished = errors.New("write after commit or abort")

func (w *writer) Write(p []byte) (int, error) {
	switch {
	case w.err != nil:
		return 0, w.err
	case w.done:
		return 0, errFinished
	}
	n := len(p)
	// A chunk is sent only when more follows, so that a file of up to one
	// chunk stays whole for Put.
	for len(w.buf)+len(p) > chunkSize {
		var chunk []byte
		if len(w.buf) == 0 { // a whole chunk goes straight from p
			chunk, p = p[:chunkSize], p[chunkSize:]
		} else {
			k := chunkSize - len(w.buf)
			w.buf = append(w.buf, p[:k]...)
			chunk, p = w.buf, p[k:]
		}
		if err := w.send(chunk, pb.Finish_FINISH_NONE); err != nil {
			return 0, err
		}
		w.buf = w.buf[:0]
	}
	if len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, bufSize(w.header.Size))
		}
		w.buf = append(w.buf, p...)
	}
	return n, nil
}

// send sends data and a finish, opening the stream with the header first.
func (w *writer) send(data []byte, finish pb.Finish) error {
	msg := &pb.CreateRequest{Data: data, Finish: finish}
	if w.st == nil {
		st, err := w.c.rpc.Create(w.ctx)
		if err != nil {
			return w.fail(err)
		}
		w.st, msg.Header = st, w.header
	}
	if err := w.st.Send(msg); err != nil {
		if err == io.EOF { // the plugin ended the stream: its status says why
			_, err = w.st.Recv()
			if err == nil || err == io.EOF {
				err = fmt.Errorf("plugin %s: create %s: the plugin ended the transfer", w.c.proc.path, core.DisplayPath(w.header.Path))
			}
		}
		return w.fail(err)
	}
	return nil
}

// fail records the stream's failure as the host sees it.
func (w *writer) fail(err error) error {
	if w.err == nil {
		w.err = w.c.fromStatus(w.ctx, "create "+core.DisplayPath(w.header.Path), err)
	}
	return w.err
}

// finish sends what is left with the finish and waits for the reply.
func (w *writer) finish(ctx context.Context, f pb.Finish) (*pb.CreateReply, error) {
	defer w.cancel()
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	w.done = true
	if err := w.send(w.buf, f); err != nil {
		return nil, err
	}
	w.buf = nil
	if err := w.st.CloseSend(); err != nil {
		return nil, w.fail(err)
	}
	reply, err := w.st.Recv()
	switch {
	case err == io.EOF && f != pb.Finish_FINISH_COMMIT:
		return nil, nil
	case err == io.EOF:
		return nil, fmt.Errorf("plugin %s: commit %s: no entry in the reply", w.c.proc.path, core.DisplayPath(w.header.Path))
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, w.fail(err)
	}
	if _, err := w.st.Recv(); err != io.EOF { // the status: the stream ends cleanly
		if err == nil {
			err = fmt.Errorf("plugin %s: create %s: more than one reply", w.c.proc.path, core.DisplayPath(w.header.Path))
		}
		return nil, w.fail(err)
	}
	return reply, nil
}

// Commit sends the rest of the content and the commit, and returns the
// entry the plugin committed. A file not streamed yet goes with one Put.
func (w *writer) Commit(ctx context.Context) (core.Entry, error) {
	if w.err != nil {
		w.Abort()
		return core.Entry{}, w.err
	}
	if w.done {
		return core.Entry{}, errFinished
	}
	if w.st == nil {
		return w.put(ctx)
	}
	reply, err := w.finish(ctx, pb.Finish_FINISH_COMMIT)
	if err != nil {
		return core.Entry{}, err
	}
	return entryFromPB(reply.Entry), nil
}

// put writes the whole file with one call.
func (w *writer) put(ctx context.Context) (core.Entry, error) {
	defer w.cancel()
	stop := context.AfterFunc(ctx, w.cancel)
	defer stop()
	w.done = true
	e, err := w.c.rpc.Put(w.ctx, &pb.PutRequest{Header: w.header, Data: w.buf})
	w.buf = nil
	if err != nil {
		if ctx.Err() != nil {
			return core.Entry{}, ctx.Err()
		}
		return core.Entry{}, w.fail(err)
	}
	return entryFromPB(e), nil
}

// bufSize is the capacity of the send buffer of a file of size bytes (-1:
// unknown).
func bufSize(size int64) int {
	if size < 0 || size > chunkSize {
		return chunkSize
	}
	return int(size)
}

// Abort drops the file. It is safe after Commit.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	if w.st == nil || w.err != nil { // nothing in the plugin, or the stream is gone
		w.done = true
		w.cancel()
		return nil
	}
	_, err := w.finish(context.Background(), pb.Finish_FINISH_ABORT)
	return err
}

// resumer is a writer continuing a partial file the plugin keeps.
type resumer struct {
	*writer
	offset int64
}

var _ core.Resumer = (*resumer)(nil)

// Offset is how much the partial file holds already.
func (r *resumer) Offset() int64 { return r.offset }

// Keep leaves the partial file in the plugin for a later run.
func (r *resumer) Keep() error {
	if r.done {
		return nil
	}
	if r.err != nil {
		return r.err
	}
	_, err := r.finish(context.Background(), pb.Finish_FINISH_KEEP)
	return err
}
