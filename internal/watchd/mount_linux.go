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
