//go:build !linux

package datapath

// setsockoptCC does nothing where TCP_CONGESTION is not known.
func setsockoptCC(int, string) {}

// getsockoptCC reports nothing where TCP_CONGESTION is not known.
func getsockoptCC(int) string { return "" }

// tcpRTT is not known here.
func tcpRTT(int) (rtt, minRTT uint32, rate uint64, ok bool) { return 0, 0, 0, false }

// setNotsentLowat leaves the system's send buffering.
func setNotsentLowat(int) {}
