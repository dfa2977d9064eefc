package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// ErrPluginExited: the plugin process ended while async still needed it.
var ErrPluginExited = errors.New("plugin process exited")

// sentinels maps the protocol's error codes to the errors they stand for,
// the specific before the general (a non-empty directory may also be
// reported as fs.ErrExist).
var sentinels = []struct {
	code pb.ErrorCode
	err  error
}{
	{pb.ErrorCode_ERROR_CODE_PRECONDITION, core.ErrPrecondition},
	{pb.ErrorCode_ERROR_CODE_NOT_EMPTY, core.ErrNotEmpty},
	{pb.ErrorCode_ERROR_CODE_OWNER, core.ErrOwner},
	{pb.ErrorCode_ERROR_CODE_UNSUPPORTED, core.ErrUnsupported},
	{pb.ErrorCode_ERROR_CODE_NOT_EXIST, fs.ErrNotExist},
	{pb.ErrorCode_ERROR_CODE_EXIST, fs.ErrExist},
	{pb.ErrorCode_ERROR_CODE_PERMISSION, fs.ErrPermission},
}

// RemoteError is an error the plugin's backend returned. It unwraps to the
// sentinel error of its code, so errors.Is(err, fs.ErrNotExist) and the
// like work on the host side.
type RemoteError struct {
	Code    pb.ErrorCode
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the sentinel error of the code (nil for other errors).
func (e *RemoteError) Unwrap() error {
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	return nil
}

// errorCode classifies err for the wire.
func errorCode(err error) pb.ErrorCode {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return pb.ErrorCode_ERROR_CODE_OTHER
}

// toStatus turns a backend's error into a gRPC status that carries the
// structured Error as a detail. Context errors keep their own codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	c := codes.Unknown
	switch {
	case errors.Is(err, context.Canceled):
		c = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		c = codes.DeadlineExceeded
	}
	st, derr := status.New(c, err.Error()).WithDetails(&pb.Error{Code: errorCode(err), Message: err.Error()})
	if derr != nil {
		return status.Error(c, err.Error())
	}
	return st.Err()
}

// fromStatus turns what a call returned into the error the host sees: the
// backend's error as a RemoteError, the caller's context error when that
// ended the call, and otherwise a transport failure naming the plugin.
func (c *client) fromStatus(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if ok {
		for _, d := range st.Details() {
			if e, ok := d.(*pb.Error); ok {
				return &RemoteError{Code: e.Code, Message: e.Message}
			}
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	switch st.Code() { // gRPC's own deadline timer may fire before ctx's
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	if c.proc.exited() || (ok && st.Code() == codes.Unavailable) {
		return fmt.Errorf("plugin %s: %s: %w (%v)", c.proc.path, op, ErrPluginExited, err)
	}
	return fmt.Errorf("plugin %s: %s: %w", c.proc.path, op, err)
}
