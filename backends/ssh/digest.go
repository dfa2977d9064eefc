package ssh

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CachedDigest is BinaryDigest, kept in the file cache between runs:
// hashing the program (tens of MiB) costs every run tens of milliseconds
// of CPU, which the server and the agent starting beside it on a small
// machine would rather have. The file records the digest with the
// program's path and identity (device, inode, size, modification and
// change times, in nanoseconds); the digest is taken from it only while
// the program is that same file, unchanged: any write to it moves its
// change time, which no one can set back. Anything else (no record,
// another program, a platform whose change time is not read, a cache
// that cannot be read or written) hashes the program, as BinaryDigest.
func CachedDigest(bin, cache string) (string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return BinaryDigest(bin)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("agent binary: %w", err)
	}
	id, ok := fileIdentity(fi)
	if !ok {
		return BinaryDigest(abs)
	}
	key := id + " " + abs
	if b, err := os.ReadFile(cache); err == nil {
		if sum, rest, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), " "); ok && rest == key && isDigest(sum) {
			return sum, nil
		}
	}
	sum, err := BinaryDigest(abs)
	if err != nil {
		return "", err
	}
	// Only a digest of the file as it still is gets recorded.
	if fi2, err := os.Stat(abs); err == nil {
		if id2, ok := fileIdentity(fi2); ok && id2 == id {
			writeCache(cache, sum+" "+key+"\n")
		}
	}
	return sum, nil
}

// isDigest reports whether s is a SHA-256 in lower-case hex.
func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// writeCache replaces the cache file with text, atomically (a temporary
// file renamed over it); a cache that cannot be written is left as it is.
func writeCache(cache, text string) {
	dir := filepath.Dir(cache)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".agent-digest-*")
	if err != nil {
		return
	}
	_, werr := f.WriteString(text)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), cache) != nil {
		os.Remove(f.Name())
	}
}
