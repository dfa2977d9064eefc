package watchd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// readEvents reads a watcher's descriptor fd until ctx ends or parse says
// the tree cannot be watched any more. Each read's buffer goes to parse,
// which reports the changed paths through add; the distinct paths of one
// read reach s at once. kind names the mechanism in holes ("inotify").
// stall, in tests, holds the reader back so that the kernel's queue fills.
func readEvents(ctx context.Context, fd int, kind string, stall <-chan struct{}, s sink, parse func(buf []byte, add func(string)) (stop bool)) {
	buf := make([]byte, 256<<10)
	for ctx.Err() == nil {
		if stall != nil {
			select {
			case <-stall:
			case <-ctx.Done():
				return
			}
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 200)
		if err != nil && !errors.Is(err, unix.EINTR) {
			s.hole(fmt.Sprintf("%s poll: %v", kind, err), true)
			return
		}
		if n <= 0 {
			continue
		}
		n, err = unix.Read(fd, buf)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			s.hole(fmt.Sprintf("%s read: %v", kind, err), true)
			return
		}
		var paths []string
		seen := map[string]bool{}
		stop := parse(buf[:n], func(p string) {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		})
		if len(paths) > 0 {
			s.changed(paths)
		}
		if stop {
			return
		}
	}
}

// checkLinks reports a hole when the regular file p (relative to root),
// whose content or attributes changed, has other names: a change is
// reported under the name it was written through only.
func checkLinks(root, p string, s sink) {
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(root, filepath.FromSlash(p)), &st) == nil && st.Nlink > 1 && st.Mode&unix.S_IFMT == unix.S_IFREG {
		s.hole("a file with several hard links changed ("+p+"): its other names are not reported", false)
	}
}
