package client

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/core"
)

// SetLog makes the client write a trace record (core.LevelTrace) for
// every request that gets an answer: what it was, how large, how long the
// answer took. Records are written only when l has that level enabled.
func (c *Client) SetLog(l *slog.Logger) {
	if l != nil && l.Enabled(context.Background(), core.LevelTrace) {
		c.log = l
	} else {
		c.log = nil
	}
}

// traceRequest writes the trace record of one request (deferred by the
// request, hence the pointer to its error).
func (c *Client) traceRequest(ctx context.Context, op byte, id uint64, size int, start time.Time, err *error) {
	attrs := []any{"op", protocol.RequestName(op), "id", id, "bytes", size, "took", time.Since(start)}
	if *err != nil {
		attrs = append(attrs, "err", (*err).Error())
	}
	c.log.Log(ctx, core.LevelTrace, "agent request", attrs...)
}

// dataCall is cd.call with the trace record Client.call writes, so that
// -DD shows the requests that went over the data path too.
func (c *Client) dataCall(ctx context.Context, cd *clientData, op byte, payload []byte) (id uint64, f protocol.Frame, err error) {
	start := time.Now()
	id, f, err = cd.call(ctx, op, payload)
	if c.log != nil && !errors.Is(err, errTooLarge) {
		c.traceRequest(ctx, op, id, len(payload), start, &err)
	}
	return id, f, err
}

// dataCallFrame is cd.callFrame with dataCall's trace record.
func (c *Client) dataCallFrame(ctx context.Context, cd *clientData, op byte, frame []byte, head int, rec datapath.Recycler) (id uint64, f protocol.Frame, err error) {
	start := time.Now()
	id, f, err = cd.callFrame(ctx, op, frame, head, rec)
	if c.log != nil && !errors.Is(err, errTooLarge) {
		c.traceRequest(ctx, op, id, len(frame)-head, start, &err)
	}
	return id, f, err
}
