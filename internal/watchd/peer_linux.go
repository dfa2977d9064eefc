package watchd

import (
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// peer is who is on the other end of a connection.
type peer struct {
	self     bool // the service's own user, or root: answered about everything
	uid, gid uint32
}

// peerOf reads a connection's peer credentials (SO_PEERCRED). One that
// cannot be read is nobody: answered about world-readable directories
// only.
func peerOf(c net.Conn) peer {
	p := peer{uid: 65534, gid: 65534}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return p
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return p
	}
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			p.uid, p.gid = cred.Uid, cred.Gid
		}
	})
	p.self = p.uid == 0 || int(p.uid) == os.Geteuid()
	return p
}

// mayRead reports whether the peer may list dir: dir is absolute, names
// no symbolic link, every directory above it is searchable and dir itself
// readable and searchable by the peer's user and primary group (other
// groups are not looked at: a user who reads dir through one only is
// refused).
func (p peer) mayRead(dir string) bool {
	if p.self {
		return true
	}
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return false
	}
	if real, err := filepath.EvalSymlinks(dir); err != nil || real != dir {
		return false
	}
	parts := strings.Split(strings.TrimPrefix(dir, "/"), "/")
	cur := "/"
	if !p.may(cur, 1) {
		return false
	}
	for i, part := range parts {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		need := uint32(1)
		if i == len(parts)-1 {
			need = 5 // read and search
		}
		if !p.may(cur, need) {
			return false
		}
	}
	return true
}

// may reports whether the peer has the permission bits need (of r=4,
// w=2, x=1) on the directory p.
func (p peer) may(path string, need uint32) bool {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	bits := st.Mode & 7
	switch {
	case st.Uid == p.uid:
		bits = st.Mode >> 6 & 7
	case st.Gid == p.gid:
		bits = st.Mode >> 3 & 7
	}
	return bits&need == need
}
