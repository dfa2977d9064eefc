//go:build unix

package errcode

import (
	"errors"
	"syscall"
)

// noSpaceErrno reports ENOSPC and EDQUOT.
func noSpaceErrno(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// transientErrnos are the system's errors of a network that may recover.
// EIO is not one: a failing disk is not helped by asking again.
var transientErrnos = []syscall.Errno{
	syscall.ETIMEDOUT, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.ECONNREFUSED,
	syscall.ENETRESET, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EHOSTUNREACH,
	syscall.EPIPE, syscall.EAGAIN,
}

func transientErrno(err error) bool {
	var en syscall.Errno
	if !errors.As(err, &en) {
		return false
	}
	for _, t := range transientErrnos {
		if en == t {
			return true
		}
	}
	return false
}
