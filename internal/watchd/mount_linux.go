package watchd

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountSignature says which file systems make up the tree at root: the
// device and mount of the root, and every mount at or below it. A change
// means the tree was unmounted, remounted or had a file system mounted
// inside it: what the watches saw no longer covers it.
func mountSignature(root string) (string, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, root, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_MNT_ID, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", root, err)
	}
	parts := []string{fmt.Sprintf("%d:%d/%d/%d", st.Dev_major, st.Dev_minor, st.Mnt_id, st.Ino)}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return parts[0], nil // no mount table: the root's own identity
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == root || strings.HasPrefix(mp, root+"/") || root == "/" {
			parts = append(parts, fields[0]+" "+mp)
		}
	}
	sort.Strings(parts[1:])
	return strings.Join(parts, "\n"), nil
}

// unescapeMount undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// remoteFS names the file systems whose changes inotify cannot see all of
// (those made by other machines or by a user-space server), by statfs
// magic.
var remoteFS = map[int64]string{
	0x6969:     "nfs",
	0x517b:     "smb",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x65735546: "fuse",
	0x01021997: "9p",
	0x00c36400: "ceph",
	0x5346414f: "afs",
	0x47504653: "gpfs",
	0x0bd00bd0: "lustre",
}

// checkLocalFS refuses a tree on, or with a mount of, a network or
// user-space file system: changes made there by others raise no event.
func checkLocalFS(root string, mounts []string) error {
	for _, p := range append([]string{root}, mounts...) {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err != nil {
			continue // gone: the signature check tells
		}
		if name, ok := remoteFS[int64(st.Type)]; ok {
			return fmt.Errorf("%s is on a %s file system: changes made by other machines or processes behind it raise no event, so it cannot be journaled", p, name)
		}
	}
	return nil
}

// mountsBelow lists the mount points strictly below root.
func mountsBelow(root string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		if mp := unescapeMount(f[4]); strings.HasPrefix(mp, strings.TrimSuffix(root, "/")+"/") {
			out = append(out, mp)
		}
	}
	return out
}
