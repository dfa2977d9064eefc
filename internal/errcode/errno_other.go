//go:build !unix

package errcode

import (
	"errors"
	"syscall"
)

func noSpaceErrno(err error) bool { return errors.Is(err, syscall.ENOSPC) }

func transientErrno(err error) bool {
	return errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.ECONNRESET)
}
