package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Prefix starts the name of every plugin executable: the plugin for the
// URL scheme "bbolt" is async-backend-bbolt.
const Prefix = "async-backend-"

// ErrNotFound: no plugin for a scheme in the directories searched.
var ErrNotFound = errors.New("no backend plugin")

// Dirs returns the directories plugins are looked for in, in order: flagDir
// (--plugin-dir), the directories in envPath ($ASYNC_PLUGIN_DIR, a path
// list, read by the caller), ~/.config/async/plugins, and the directory of
// the running executable. Empty ones are left out.
func Dirs(flagDir, envPath string) []string {
	var dirs []string
	add := func(d string) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	add(flagDir)
	for _, d := range filepath.SplitList(envPath) {
		add(d)
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, ".config", "async", "plugins"))
	}
	if exe, err := os.Executable(); err == nil {
		add(filepath.Dir(exe))
	}
	return dirs
}

// Find returns the path of the executable async-backend-SCHEME in the first
// of dirs that has one, or an error wrapping ErrNotFound that lists the
// directories searched.
func Find(scheme string, dirs []string) (string, error) {
	if !validScheme(scheme) {
		return "", fmt.Errorf("invalid URL scheme %q for a plugin: %w", scheme, ErrNotFound)
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, executable(scheme))
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w for %s: URLs: no %s in %s", ErrNotFound, scheme, executable(scheme), strings.Join(dirs, ", "))
}

// Info describes an installed plugin.
type Info struct {
	Scheme string // the URL scheme it serves
	Path   string // its executable
	// ProtocolVersion is the version the plugin announced in its handshake
	// (0 when it did not start).
	ProtocolVersion int
	// Err says why the plugin cannot be used (nil: it can).
	Err error
}

// List returns the plugins found in dirs, one per scheme (the first found,
// as Find would), sorted by scheme. It learns each plugin's protocol
// version by starting it for the handshake only (no backend is opened)
// and stopping it again.
func List(dirs []string) []Info {
	seen := map[string]bool{}
	var out []Info
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, de := range ents {
			scheme, ok := schemeOf(de.Name())
			if !ok || seen[scheme] || !isExecutable(filepath.Join(d, de.Name())) {
				continue
			}
			seen[scheme] = true
			out = append(out, probe(scheme, filepath.Join(d, de.Name())))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scheme < out[j].Scheme })
	return out
}

// probe starts a plugin for the handshake and reports its version.
func probe(scheme, path string) Info {
	in := Info{Scheme: scheme, Path: path}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, _, err := start(ctx, path, OpenOptions{StartTimeout: 10 * time.Second}, ProtocolVersion)
	if err != nil {
		in.Err = err
		var inc *IncompatibleError
		if errors.As(err, &inc) {
			in.ProtocolVersion = inc.Plugin
		}
		return in
	}
	in.ProtocolVersion = p.pc.NegotiatedVersion()
	p.kill()
	return in
}

// executable returns the file name of the plugin for scheme.
func executable(scheme string) string {
	if runtime.GOOS == "windows" {
		return Prefix + scheme + ".exe"
	}
	return Prefix + scheme
}

// schemeOf returns the scheme of a plugin's file name.
func schemeOf(name string) (string, bool) {
	s, ok := strings.CutPrefix(name, Prefix)
	if runtime.GOOS == "windows" {
		s, ok = strings.CutSuffix(s, ".exe")
	}
	return s, ok && validScheme(s)
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, "+", "-" and ".").
func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// isExecutable reports whether p is a regular file someone may execute.
func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return runtime.GOOS == "windows" || fi.Mode()&0o111 != 0
}
