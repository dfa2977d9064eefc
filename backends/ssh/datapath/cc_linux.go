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

// tcpRTT reports a socket's smoothed round-trip time and the smallest
// the kernel has seen on it (µs), and its last delivery rate (bytes/s).
func tcpRTT(fd int) (rtt, minRTT uint32, rate uint64, ok bool) {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil || ti.Rtt == 0 || ti.Min_rtt == 0 || ti.Min_rtt == ^uint32(0) {
		return 0, 0, 0, false
	}
	return ti.Rtt, ti.Min_rtt, ti.Delivery_rate, true
}

// setNotsentLowat bounds a socket's unsent bytes (see notsentLowat).
func setNotsentLowat(fd int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notsentLowat)
}
