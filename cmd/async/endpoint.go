package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// endpoint is a parsed -d or -r.
type endpoint struct {
	scheme string // backend: "file" for a local directory
	path   string // file: the absolute, cleaned root
}

// URL returns the canonical form of the endpoint (its session identity).
func (e endpoint) URL() string {
	return (&url.URL{Scheme: e.scheme, Path: filepath.ToSlash(e.path)}).String()
}

// parseEndpoint parses a -d or -r value (reference §2). user and host are
// --user and --host, for -r only.
func parseEndpoint(opt, raw, user, host string) (endpoint, error) {
	if raw == "" && host == "" {
		return endpoint{}, usagef("option %s: empty endpoint", opt)
	}
	if strings.Contains(raw, "://") {
		if user != "" || host != "" {
			return endpoint{}, usagef("option %s: --user and --host cannot be combined with a URL (%s)", opt, raw)
		}
		u, err := url.Parse(raw)
		if err != nil {
			return endpoint{}, usagef("option %s: malformed URL %q", opt, raw)
		}
		if _, hasPass := u.User.Password(); hasPass {
			return endpoint{}, usagef("option %s: a URL must not hold a password (it would reach logs); use ASPERA_SCP_PASS or a prompt", opt)
		}
		if u.Scheme != "file" {
			return endpoint{}, usagef("option %s: %s:// endpoints are not supported by this version of async (local paths and file:// are)", opt, u.Scheme)
		}
		if u.Host != "" && u.Host != "localhost" {
			return endpoint{}, usagef("option %s: a file:// URL names no host: write file:///abs/path", opt)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return endpoint{}, usagef("option %s: a file:// URL needs an absolute path", opt)
		}
		return endpoint{scheme: "file", path: filepath.Clean(u.Path)}, nil
	}
	if host != "" || isHostPath(raw) {
		return endpoint{}, usagef("option %s: SSH endpoints (%s) are not supported by this version of async", opt, cmp.Or(raw, host))
	}
	if user != "" {
		return endpoint{}, usagef("option --user: no remote host given (use --host or host:path in -r)")
	}
	p, err := expandHome(raw)
	if err != nil {
		return endpoint{}, usagef("option %s: %v", opt, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return endpoint{}, usagef("option %s: %v", opt, err)
	}
	return endpoint{scheme: "file", path: abs}, nil
}

// isHostPath reports whether s has async's [user@]host:path form: a colon
// before the first slash.
func isHostPath(s string) bool {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	return colon > 0 && (slash < 0 || colon < slash)
}

// expandHome expands a leading "~/" (or a lone "~").
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %s: %w", p, err)
	}
	return filepath.Join(home, p[1:]), nil
}

// checkRoot checks a local root: it must be a directory, or be missing
// with --create-dir (then missing is true and createRoot makes it).
func checkRoot(opt, root string, create bool) (missing bool, err error) {
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, usagef("option %s: directory %s does not exist (use --create-dir to create it)", opt, root)
	case err != nil:
		return false, usagef("option %s: %v", opt, err)
	case !fi.IsDir():
		return false, usagef("option %s: %s is not a directory", opt, root)
	}
	return false, nil
}

// createRoot makes a missing root (--create-dir).
func createRoot(opt, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return usagef("option %s: create %s: %v", opt, root, err)
	}
	return nil
}

// inside reports whether path p is dir or lies below it.
func inside(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// realPath resolves symlinks in the longest existing prefix of p, so that a
// path that does not exist yet can be compared with resolved roots.
func realPath(p string) string {
	rest := ""
	for cur := p; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(cur) == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}
