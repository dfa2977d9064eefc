package ssh

import (
	"fmt"
	"os"
	"syscall"
)

// fileIdentity is what names fi's file as it is now: device, inode,
// size, modification and change times (nanoseconds).
func fileIdentity(fi os.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d %d %d %d %d", st.Dev, st.Ino, st.Size, fi.ModTime().UnixNano(),
		st.Ctim.Sec*1e9+st.Ctim.Nsec), true
}
