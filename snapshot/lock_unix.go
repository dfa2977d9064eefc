//go:build unix

package snapshot

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes the lock Badger's Open takes on a snapshot directory (an
// exclusive flock of the directory itself), failing with a *LockedError
// while another process, or another DB of this one, holds it.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: holderPID(dir)}
		}
		return nil, fmt.Errorf("snapshot %s: lock: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing the descriptor drops the lock
}
