package plugins

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/async-sync/async/internal/errcode"
	"github.com/async-sync/async/plugins/pb"
)

// ErrPluginExited: the plugin process ended while async still needed it.
var ErrPluginExited = errors.New("plugin process exited")

// errCodes are the protocol's numbers of the error kinds it carries.
var errCodes = errcode.Table[pb.ErrorCode]{
	errcode.Precondition: pb.ErrorCode_ERROR_CODE_PRECONDITION,
	errcode.NotEmpty:     pb.ErrorCode_ERROR_CODE_NOT_EMPTY,
	errcode.Owner:        pb.ErrorCode_ERROR_CODE_OWNER,
	errcode.Unsupported:  pb.ErrorCode_ERROR_CODE_UNSUPPORTED,
	errcode.NotExist:     pb.ErrorCode_ERROR_CODE_NOT_EXIST,
	errcode.Exist:        pb.ErrorCode_ERROR_CODE_EXIST,
	errcode.Permission:   pb.ErrorCode_ERROR_CODE_PERMISSION,
	errcode.NoSpace:      pb.ErrorCode_ERROR_CODE_NO_SPACE,
	errcode.Transient:    pb.ErrorCode_ERROR_CODE_TRANSIENT,
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
func (e *RemoteError) Unwrap() error { return errCodes.Err(e.Code) }

// errorCode classifies err for the wire.
func errorCode(err error) pb.ErrorCode {
	if c, ok := errCodes.Code(err); ok {
		return c
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
