package client

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/async-sync/async/internal/errcode"
)

// TestErrorConnLostIsFatal: once the agent connection is gone every call
// fails with a fatal error, even when what ended it (a reset) would be
// transient for a new connection: retrying on this one cannot help.
func TestErrorConnLostIsFatal(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	if errcode.Of(reset) != errcode.Transient {
		t.Fatalf("a reset is %v, want transient", errcode.Of(reset))
	}
	c := &Client{err: reset}
	err := c.connErr()
	if k := errcode.Of(err); k != errcode.Fatal {
		t.Errorf("connErr is %v, want fatal", k)
	}
	if err.Error() != "agent connection: "+reset.Error() || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connErr = %v: the message or the cause changed", err)
	}
}
