package protocol

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/errcode"
)

// goldenEntry has every field set, with values that need multi-byte
// varints and negative numbers.
var goldenEntry = core.Entry{
	Path: "dir/file", Type: core.TypeFile, Size: 300,
	MTime: time.Unix(1700000000, 123456789), ATime: time.Unix(-2, 5),
	Mode: 0o640 | fs.ModeSetgid, UID: 1000, GID: core.NoID,
	Target: "t", Hash: "sha1:ab", Token: "tok", FileID: "1:2",
}

// TestWireGolden pins the bytes of the wire encoding: a change here breaks
// agents and clients of other versions.
func TestWireGolden(t *testing.T) {
	var e Enc
	e.Entry(&goldenEntry)
	e.Record(&core.Record{Entry: goldenEntry, Status: core.Status(3), Note: "n"})
	e.Uint(1 << 63)
	e.Int(-1 << 63)
	e.Bytes([]byte{0, 1})
	e.time(time.Time{})
	const entry = "086469722f66696c6501d804aab4aed8c7bfce972ff5cfacf30ea0838002d00f01" +
		"017407736861313a616203746f6b03313a32"
	const want = entry + entry + "03016e" + "80808080808080808001" + "ffffffffffffffffff01" +
		"020001" + "ffffffffffffffffff01"
	if got := hex.EncodeToString(e.B); got != want {
		t.Errorf("wire bytes\n got %s\nwant %s", got, want)
	}
}

// TestFrameGolden pins a frame's header: length, op, uvarint id.
func TestFrameGolden(t *testing.T) {
	var out bytes.Buffer
	c := NewConn(bytes.NewReader(nil), &out)
	if err := c.Send(OpStat, 300, []byte("xy")); err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if got, want := hex.EncodeToString(out.Bytes()), "0000000504ac027879"; got != want {
		t.Errorf("frame bytes %s, want %s", got, want)
	}
	c = NewConn(bytes.NewReader(out.Bytes()), io.Discard)
	defer c.Stop()
	f, err := c.Recv()
	if err != nil || f.Op != OpStat || f.ID != 300 || string(f.Payload) != "xy" {
		t.Errorf("recv = %+v, %v", f, err)
	}
}

// TestErrorCodesGolden pins the number each error travels as, and the
// sentinel each number unwraps to.
func TestErrorCodesGolden(t *testing.T) {
	for _, c := range []struct {
		err  error
		code byte
	}{
		{errors.New("x"), 0},
		{fs.ErrNotExist, 1},
		{fs.ErrExist, 2},
		{core.ErrPrecondition, 3},
		{core.ErrUnsupported, 4},
		{core.ErrNotEmpty, 5},
		{core.ErrOwner, 6},
		{fs.ErrPermission, 7},
		{ErrCanceled, 8},
		{ErrOutsideDocroot, 9},
		{ErrAccess, 10},
		{core.ErrChangedWhileReading, 11},
		{ErrInsideTree, 12},
		{core.ErrNoSpace, 13},
		{&fs.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}, 13},
		{syscall.EDQUOT, 13},
		{core.ErrTransient, 14},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 14},
		{errcode.New(errcode.Transient, errors.New("503 Slow Down")), 14},
		{errcode.New(errcode.Fatal, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), 0},
		{fmt.Errorf("eio: %w", syscall.EIO), 0},
		{fmt.Errorf("copy: %w", context.DeadlineExceeded), 0},
		{errors.Join(core.ErrPrecondition, core.ErrTransient), 3},
		{errors.Join(core.ErrNotEmpty, fs.ErrExist), 5},
		{errors.Join(fs.ErrExist, core.ErrPrecondition), 3},
		{errors.Join(fs.ErrNotExist, core.ErrChangedWhileReading), 11},
		{errors.Join(fs.ErrNotExist, ErrOutsideDocroot), 9},
	} {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("errorCode(%v) = %d, want %d", c.err, got, c.code)
		}
		if c.code == 0 {
			continue
		}
		// The far side sees the sentinel, or for a system's error number
		// one of the same kind.
		if re := (&RemoteError{Code: c.code}); !errors.Is(c.err, re.Unwrap()) && errcode.Of(re) != errcode.Of(c.err) {
			t.Errorf("code %d unwraps to %v, want %v", c.code, re.Unwrap(), c.err)
		}
	}
	if err := (&RemoteError{Code: 0}).Unwrap(); err != nil {
		t.Errorf("code 0 unwraps to %v", err)
	}
	if err := (&RemoteError{Code: 15}).Unwrap(); err != nil { // the next code to be added
		t.Errorf("code 15 unwraps to %v", err)
	}
	if err := (&RemoteError{Code: 200}).Unwrap(); err != nil {
		t.Errorf("code 200 unwraps to %v", err)
	}
}
