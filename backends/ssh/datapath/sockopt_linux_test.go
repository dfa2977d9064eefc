package datapath

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Both ends' data sockets bound their unsent bytes.
func TestDataSocketsNotsentLowat(t *testing.T) {
	client, agent := connect(t, 2)
	for _, s := range append(client, agent...) {
		rc, err := s.c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		rc.Control(func(fd uintptr) { got, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT) })
		if err != nil {
			t.Fatal(err)
		}
		if got != notsentLowat {
			t.Errorf("stream %d: TCP_NOTSENT_LOWAT %d, want %d", s.ID, got, notsentLowat)
		}
	}
}
