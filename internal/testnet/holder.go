package testnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PortHolder returns the id of a process other than this one that holds a
// TCP or UDP socket on 127.0.0.1:port, or 0 when none does: the agent serving a
// test's data path, for a test that kills it. It reads /proc (Linux).
func PortHolder(t T, port int) int {
	t.Helper()
	suffix := fmt.Sprintf(":%04X", port)
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/udp"} {
		b, err := os.ReadFile(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(l); len(f) > 9 && strings.HasSuffix(f[1], suffix) && f[9] != "0" {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); inodes[l] {
				return pid
			}
		}
	}
	return 0
}

// Listens reports whether process pid holds a TCP socket listening on
// 127.0.0.1:port. A server started on a port found free is ready when it
// does: a connection that succeeds may have reached another process that
// took the same port meanwhile (another test process), while this
// server's bind is about to fail. It reads /proc (Linux).
func Listens(pid, port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	const listen = "0A"
	local := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 9 && f[1] == local && f[3] == listen {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		if l, _ := os.Readlink(filepath.Join(dir, fd.Name())); inodes[l] {
			return true
		}
	}
	return false
}
