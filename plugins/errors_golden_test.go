package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/errcode"
	"github.com/async-sync/async/plugins/pb"
)

// TestErrorCodesGolden pins the protocol code each error travels as, and
// the sentinel each code unwraps to.
func TestErrorCodesGolden(t *testing.T) {
	for _, c := range []struct {
		err  error
		code pb.ErrorCode
	}{
		{errors.New("x"), 0},
		{fs.ErrNotExist, 1},
		{fs.ErrExist, 2},
		{core.ErrPrecondition, 3},
		{core.ErrNotEmpty, 4},
		{core.ErrOwner, 5},
		{core.ErrUnsupported, 6},
		{fs.ErrPermission, 7},
		{core.ErrChangedWhileReading, 0},
		{errors.Join(core.ErrNotEmpty, fs.ErrExist), 4},
		{errors.Join(fs.ErrExist, core.ErrPrecondition), 3},
		{errors.Join(fs.ErrNotExist, core.ErrChangedWhileReading), 1},
		{core.ErrNoSpace, 8},
		{&fs.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}, 8},
		{core.ErrTransient, 9},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 9},
		{errcode.New(errcode.Transient, errors.New("SlowDown")), 9},
		{fmt.Errorf("eio: %w", syscall.EIO), 0},
	} {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("errorCode(%v) = %d, want %d", c.err, got, c.code)
		}
		if c.code == 0 {
			continue
		}
		// The host sees the sentinel, or for a system's error number one
		// of the same kind.
		if re := (&RemoteError{Code: c.code}); !errors.Is(c.err, re.Unwrap()) && errcode.Of(re) != errcode.Of(c.err) {
			t.Errorf("code %d unwraps to %v, want %v", c.code, re.Unwrap(), c.err)
		}
	}
	for _, code := range []pb.ErrorCode{0, 10, 200} { // 8 and 9 were added (no-space, transient)
		if err := (&RemoteError{Code: code}).Unwrap(); err != nil {
			t.Errorf("code %d unwraps to %v", code, err)
		}
	}
}
