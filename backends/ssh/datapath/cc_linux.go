package datapath

import "golang.org/x/sys/unix"

// setsockoptCC asks the kernel for a congestion control on a socket; an
// algorithm the kernel lacks or does not allow keeps the system's own.
func setsockoptCC(fd int, cc string) {
	unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
}

// getsockoptCC reports a socket's congestion control.
func getsockoptCC(fd int) string {
	s, err := unix.GetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	if err != nil {
		return ""
	}
	return s
}
