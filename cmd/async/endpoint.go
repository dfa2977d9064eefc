package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// endpoint is a parsed -d or -r.
type endpoint struct {
	scheme string // backend: "file" for a local directory, "ssh" for a server
	path   string // file: the absolute, cleaned root; ssh: the remote path as given
	user   string // ssh: login user
	host   string // ssh: host name or address
	port   int    // ssh: port
	sftp   bool   // ssh: plain SFTP instead of the agent (sftp:// or --sftp)
	// Object stores: scheme "s3" (bucket, path = the key prefix, s3
	// settings) or "blob" (raw: the gocloud.dev URL).
	bucket string
	s3     s3Settings
	raw    string
	plugin string  // the scheme a plugin serves
	kind   *scheme // what its kind does (set by the registry's parse)
}

// s3Settings are an s3:// URL's query parameters.
type s3Settings struct {
	endpoint, region string
	pathStyle        bool
}

// object reports whether the endpoint keeps no snapshot of its own (a
// bucket, or a plugin's store): its state lives on this machine.
func (e endpoint) object() bool { return e.kind != nil && e.kind.object }

// local reports whether the endpoint is a local directory.
func (e endpoint) local() bool { return e.kind != nil && e.kind.local }

// dataDir is the directory of this machine that holds a non-local
// endpoint's data (a blob+file:// bucket), "" for none.
func (e endpoint) dataDir() string {
	if e.kind == nil || e.kind.dataDir == nil {
		return ""
	}
	return e.kind.dataDir(e)
}

// URL returns the canonical form of the endpoint (its session identity).
func (e endpoint) URL() string {
	if e.kind == nil {
		return ""
	}
	return e.kind.canonical(e)
}

// Display is how messages name the endpoint: the path, or user@host:path.
func (e endpoint) Display() string {
	if e.kind == nil {
		return ""
	}
	return e.kind.display(e)
}

// sshURL is an SSH endpoint's canonical form. Through SFTP it keeps its
// snapshot elsewhere than through the agent, so the two are different
// identities.
func sshURL(e endpoint) string {
	scheme := "ssh"
	if e.sftp {
		scheme = "sftp"
	}
	p := e.path
	if !strings.HasPrefix(p, "/") {
		p = "/~/" + strings.TrimPrefix(strings.TrimPrefix(p, "~"), "/")
	}
	u := url.URL{Scheme: scheme, User: url.User(e.user), Host: net.JoinHostPort(e.host, strconv.Itoa(e.port)), Path: p}
	return u.String()
}

// s3Canonical is an s3:// endpoint's canonical form.
func s3Canonical(e endpoint) string {
	u := url.URL{Scheme: "s3", Host: e.bucket, Path: "/" + e.path}
	if e.s3.endpoint != "" {
		u.RawQuery = url.Values{"endpoint": {e.s3.endpoint}}.Encode()
	}
	return u.String()
}

// s3Display is how messages name an s3:// endpoint.
func s3Display(e endpoint) string {
	if e.s3.endpoint != "" {
		return fmt.Sprintf("s3://%s/%s (at %s)", e.bucket, e.path, e.s3.endpoint)
	}
	return fmt.Sprintf("s3://%s/%s", e.bucket, e.path)
}

// sshDefaults are what an SSH endpoint takes when it does not say: -P, the
// local user name, --sftp.
type sshDefaults struct {
	port int
	user string
	sftp bool
}

// parseFile parses a local directory: a path, or a file:// URL.
func parseFile(opt, raw, _, _ string, _ sshDefaults) (endpoint, error) {
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return endpoint{}, usagef("option %s: malformed URL %q", opt, raw)
		}
		if u.Host != "" && u.Host != "localhost" {
			return endpoint{}, usagef("option %s: a file:// URL names no host: write file:///abs/path", opt)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return endpoint{}, usagef("option %s: a file:// URL needs an absolute path", opt)
		}
		return endpoint{scheme: "file", path: filepath.Clean(u.Path)}, nil
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

// parsePluginURL parses a URL of a scheme async does not know: the plugin
// async-backend-SCHEME serves it.
func parsePluginURL(opt, raw, _, _ string, _ sshDefaults) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, usagef("option %s: malformed URL %q", opt, raw)
	}
	return endpoint{scheme: "plugin", raw: raw, plugin: u.Scheme}, nil
}

// parseSSH parses an SSH endpoint: an ssh:// or sftp:// URL, or the
// host:path forms.
func parseSSH(opt, raw, user, host string, def sshDefaults) (endpoint, error) {
	if strings.Contains(raw, "://") {
		return parseSSHURL(opt, raw, def)
	}
	return parseHostPath(opt, raw, user, host, def)
}

// parseBlob parses a gocloud.dev bucket URL; its canonical form has its
// query sorted.
func parseBlob(opt, raw, _, _ string, _ sshDefaults) (endpoint, error) {
	u, err := bucketURL(opt, raw)
	if err != nil {
		return endpoint{}, err
	}
	u.RawQuery = u.Query().Encode() // sorted: the canonical form
	return endpoint{scheme: "blob", raw: u.String()}, nil
}

// secretParams are query parameters that would put a secret in a URL,
// and so in logs.
var secretParams = []string{"secret", "password", "token", "key", "credential", "signature", "sig"}

// bucketURL parses a bucket URL, refused when it holds credentials.
func bucketURL(opt, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usagef("option %s: malformed URL %q", opt, raw)
	}
	if u.User != nil {
		return nil, usagef("option %s: a bucket URL must not hold credentials (they would reach logs); use the AWS environment or profile", opt)
	}
	for k := range u.Query() {
		lk := strings.ToLower(k)
		for _, s := range secretParams {
			if strings.Contains(lk, s) && lk != "path_style" {
				return nil, usagef("option %s: query parameter %q looks like a credential; secrets never go in URLs (they would reach logs)", opt, k)
			}
		}
	}
	return u, nil
}

// parseS3 parses s3://bucket[/prefix]?endpoint=URL&region=R&path_style=true.
func parseS3(opt, raw, _, _ string, _ sshDefaults) (endpoint, error) {
	u, err := bucketURL(opt, raw)
	if err != nil {
		return endpoint{}, err
	}
	if u.Host == "" {
		return endpoint{}, usagef("option %s: %s names no bucket (want s3://bucket[/prefix])", opt, raw)
	}
	e := endpoint{scheme: "s3", bucket: u.Host, path: strings.Trim(u.Path, "/")}
	for k, v := range u.Query() {
		switch k {
		case "endpoint":
			ep, err := url.Parse(v[0])
			if err != nil || ep.Scheme != "http" && ep.Scheme != "https" || ep.Host == "" {
				return endpoint{}, usagef("option %s: endpoint %q is not an http(s) URL", opt, v[0])
			}
			e.s3.endpoint = strings.TrimSuffix(v[0], "/")
		case "region":
			e.s3.region = v[0]
		case "path_style":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return endpoint{}, usagef("option %s: path_style=%q is not true or false", opt, v[0])
			}
			e.s3.pathStyle = b
		default:
			return endpoint{}, usagef("option %s: unknown s3:// parameter %q (want endpoint, region, path_style)", opt, k)
		}
	}
	if strings.Contains("/"+e.path+"/", "/../") {
		return endpoint{}, usagef("option %s: \"..\" in a bucket prefix", opt)
	}
	return e, nil
}

// parseSSHURL parses ssh://[user@]host[:port]/path and sftp://...; the
// path is absolute, and /~/dir is the home-relative form.
func parseSSHURL(opt, raw string, def sshDefaults) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return endpoint{}, usagef("option %s: malformed URL %q (want ssh://[user@]host[:port]/path)", opt, raw)
	}
	if _, hasPass := u.User.Password(); hasPass {
		return endpoint{}, usagef("option %s: a URL must not hold a password (it would reach logs); use ASPERA_SCP_PASS or a prompt", opt)
	}
	if len(u.Query()) > 0 {
		return endpoint{}, usagef("option %s: an SSH URL takes no query (%s)", opt, raw)
	}
	e := endpoint{scheme: "ssh", host: u.Hostname(), user: cmp.Or(u.User.Username(), def.user), port: def.port, sftp: def.sftp || u.Scheme == "sftp"}
	if ps := u.Port(); ps != "" {
		if e.port, err = strconv.Atoi(ps); err != nil || e.port < 1 || e.port > 65535 {
			return endpoint{}, usagef("option %s: invalid port %q", opt, ps)
		}
	}
	e.path = u.Path
	if rest, ok := strings.CutPrefix(e.path, "/~"); ok && (rest == "" || rest[0] == '/') {
		e.path = "~" + rest
	}
	return e.checkRemotePath(opt)
}

// parseHostPath parses [user@]host:path and [user@][::1]:path, or a path
// with --host (then a ':' in it is part of the path); --user makes an '@'
// part of the path.
func parseHostPath(opt, raw, user, host string, def sshDefaults) (endpoint, error) {
	e := endpoint{scheme: "ssh", user: cmp.Or(user, def.user), port: def.port, sftp: def.sftp}
	if host == "" && user == "" && holdsPassword(raw) {
		// The secret is not repeated: the message reaches terminals and logs.
		return endpoint{}, usagef("option %s: the endpoint has the form user:password@host:path; a password never goes on the command line (it shows in the process list): use ASPERA_SCP_PASS or the prompt (for a path that holds ':' and '@', give --host or an ssh:// URL)", opt)
	}
	if host != "" {
		e.host, e.path = host, raw
	} else {
		rest := raw
		if user == "" {
			if at := strings.LastIndexByte(hostPart(raw), '@'); at >= 0 {
				e.user, rest = raw[:at], raw[at+1:]
			}
		}
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]:")
			if end < 0 {
				return endpoint{}, usagef("option %s: malformed address in %q (want [user@][ADDR]:path)", opt, raw)
			}
			e.host, e.path = rest[1:end], rest[end+2:]
		} else {
			e.host, e.path, _ = strings.Cut(rest, ":")
		}
	}
	if e.host == "" || strings.ContainsAny(e.host, "/ ") {
		return endpoint{}, usagef("option %s: missing or malformed host in %q", opt, cmp.Or(raw, host))
	}
	if e.user == "" {
		return endpoint{}, usagef("option %s: empty user name in %q", opt, raw)
	}
	return e.checkRemotePath(opt)
}

// holdsPassword reports whether a host:path form is scp's
// user:password@host:path: a ':' before an '@' that is followed by
// another ':'. Read as async's form it would name the host "user" (and
// look that name up), with the password in the path.
func holdsPassword(raw string) bool {
	if strings.HasPrefix(raw, "[") {
		return false
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 || strings.IndexByte(raw[:colon], '@') >= 0 {
		return false
	}
	at := strings.LastIndexByte(raw, '@')
	if at < colon {
		return false
	}
	host, _, ok := strings.Cut(raw[at+1:], ":")
	return ok && host != "" && !strings.Contains(host, "/")
}

// hostPart is the part of a host:path form before the path.
func hostPart(s string) string {
	if strings.HasPrefix(s, "[") || strings.Contains(s, "@[") {
		if i := strings.Index(s, "]:"); i >= 0 {
			return s[:i]
		}
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkRemotePath cleans an SSH endpoint's path: "" is the docroot (or
// home), a relative path is relative to it.
func (e endpoint) checkRemotePath(opt string) (endpoint, error) {
	if strings.ContainsRune(e.path, 0) {
		return endpoint{}, usagef("option %s: the remote path holds a NUL byte", opt)
	}
	for _, c := range strings.Split(e.path, "/") {
		if c == ".." {
			return endpoint{}, usagef("option %s: \"..\" is not allowed in a remote path (%s): remote paths stay inside the docroot", opt, e.path)
		}
	}
	if e.path == "" {
		e.path = "~"
	}
	if e.path != "~" {
		e.path = path.Clean(e.path)
	}
	return e, nil
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
