package testnet

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

func TestPortHolderFindsTheChildHoldingAPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	// This process holding the port does not count.
	if pid := PortHolder(t, port); pid != 0 {
		t.Errorf("only this process holds port %d, PortHolder says %d", port, pid)
	}
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	f.Close()
	l.Close()
	if pid := PortHolder(t, port); pid != cmd.Process.Pid {
		t.Errorf("PortHolder(%d) = %d, want the child %d", port, pid, cmd.Process.Pid)
	}
}

func TestListensNamesTheListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if !Listens(os.Getpid(), port) {
		t.Errorf("this process listens on %d, Listens says no", port)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if Listens(cmd.Process.Pid, port) {
		t.Errorf("a child holding nothing listens on %d, says Listens", port)
	}
	// A connection accepted on the port is not a listener.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if Listens(os.Getpid(), c.LocalAddr().(*net.TCPAddr).Port) {
		t.Error("a connected socket counted as a listener")
	}
}
