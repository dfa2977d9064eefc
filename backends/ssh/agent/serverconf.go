package agent

import (
	"bufio"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
)

// DefaultServerConfig is where the agent reads its configuration.
const DefaultServerConfig = "/etc/async/server.conf"

// ServerConfig is the agent's configuration file, parsed:
//
//	# comments start with '#'
//	data_ports = 33001-33100 # before any section: the data path's ports
//	[user morgan]            # settings for one login user; [user *] for all
//	docroot = /srv/sync      # shown to the client as "/"
//	db_dir  = /srv/async/db  # overrides -B
//	log_dir = /srv/async/log # overrides -R
//	watchd_socket = /run/async/watchd.sock # the change journal (default: the user's own)
//
//	[key AKID1]              # an access key for -W "Basic BASE64(AKID1:secret)"
//	secret = ...
//	root   = /srv/sync/projectA   # the token's session sees only this tree, as "/"
//	user   = morgan               # optional: the login users the key is valid for
type ServerConfig struct {
	Users map[string]UserConfig
	Keys  map[string]AccessKey
	// DataPorts are the ports the agent may listen on for the data path
	// (unset: any port the system gives, or the client's -O).
	DataPorts datapath.PortRange
}

// UserConfig is one user's section.
type UserConfig struct {
	Docroot, DBDir, LogDir string
	// WatchdSocket is the change journal service's socket (async watchd
	// --shared, run by root for the users' trees); unset: the user's own
	// service, STATE/watchd/watchd.sock.
	WatchdSocket string
}

// AccessKey is one [key ID] section.
type AccessKey struct {
	Secret, Root string
	Users        []string
}

// LoadServerConfig reads a configuration file; a missing default file is
// an empty configuration.
func LoadServerConfig(file string) (*ServerConfig, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) && file == DefaultServerConfig {
		return &ServerConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	defer f.Close()
	c, err := ParseServerConfig(f)
	if err != nil {
		return nil, fmt.Errorf("server config %s: %w", file, err)
	}
	return c, nil
}

// ParseServerConfig parses the configuration format (see ServerConfig).
func ParseServerConfig(r io.Reader) (*ServerConfig, error) {
	c := &ServerConfig{Users: map[string]UserConfig{}, Keys: map[string]AccessKey{}}
	var kind, name string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			f := strings.Fields(line[1 : len(line)-1])
			if len(f) != 2 || f[0] != "user" && f[0] != "key" {
				return nil, fmt.Errorf("line %d: want [user NAME] or [key ID], got %s", n, line)
			}
			if f[0] == "key" && !validSession(f[1]) {
				return nil, fmt.Errorf("line %d: key id %q: want letters, digits, '-' and '_'", n, f[1])
			}
			kind, name = f[0], f[1]
			if kind == "user" {
				c.Users[name] = c.Users[name]
			} else {
				c.Keys[name] = c.Keys[name]
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if ok && kind == "" && k == "data_ports" {
			r, err := datapath.ParsePortRange(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			c.DataPorts = r
			continue
		}
		if !ok || kind == "" {
			return nil, fmt.Errorf("line %d: want KEY = VALUE inside a section (or data_ports before any), got %q", n, line)
		}
		if err := c.set(kind, name, k, v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for id, k := range c.Keys {
		if k.Secret == "" || k.Root == "" {
			return nil, fmt.Errorf("key %s: needs secret and root", id)
		}
	}
	return c, nil
}

func (c *ServerConfig) set(kind, name, k, v string) error {
	abs := func() error {
		if !filepath.IsAbs(v) {
			return fmt.Errorf("%s must be an absolute path, got %q", k, v)
		}
		return nil
	}
	if kind == "user" {
		u := c.Users[name]
		switch k {
		case "docroot":
			u.Docroot = filepath.Clean(v)
		case "db_dir":
			u.DBDir = v
		case "log_dir":
			u.LogDir = v
		case "watchd_socket":
			u.WatchdSocket = v
		default:
			return fmt.Errorf("unknown user setting %q", k)
		}
		c.Users[name] = u
		return abs()
	}
	key := c.Keys[name]
	switch k {
	case "secret":
		key.Secret = v
	case "root":
		key.Root = filepath.Clean(v)
		if err := abs(); err != nil {
			return err
		}
	case "user":
		key.Users = strings.Fields(strings.ReplaceAll(v, ",", " "))
	default:
		return fmt.Errorf("unknown key setting %q", k)
	}
	c.Keys[name] = key
	return nil
}

// User returns the settings of a login user (its own section, else
// [user *]).
func (c *ServerConfig) User(name string) UserConfig {
	return c.user(name)
}

// user returns the settings of a login user.
func (c *ServerConfig) user(name string) UserConfig {
	if u, ok := c.Users[name]; ok {
		return u
	}
	return c.Users["*"]
}

// checkToken returns the root a "Basic BASE64(id:secret)" token opens to
// the login user.
func (c *ServerConfig) checkToken(token, login string) (root, id string, err error) {
	b64, ok := strings.CutPrefix(token, "Basic ")
	if !ok {
		return "", "", fmt.Errorf("%w: token must be \"Basic BASE64(id:secret)\"", protocol.ErrAccess)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", "", fmt.Errorf("%w: token is not base64", protocol.ErrAccess)
	}
	id, secret, _ := strings.Cut(string(raw), ":")
	k, ok := c.Keys[id]
	if !ok || subtle.ConstantTimeCompare([]byte(k.Secret), []byte(secret)) != 1 {
		return "", "", fmt.Errorf("%w: unknown access key or wrong secret", protocol.ErrAccess)
	}
	if len(k.Users) > 0 && !contains(k.Users, login) {
		return "", "", fmt.Errorf("%w: access key %s is not valid for user %s", protocol.ErrAccess, id, login)
	}
	return k.Root, id, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// docroot is where a session's remote paths live.
type docroot struct {
	// dir is the docroot (a configured one, or a token's key root),
	// shown to the client as "/": every path is resolved inside it. Empty:
	// no docroot, remote paths are the server's own (relative ones
	// relative to home), reachable as the user's permissions allow, as
	// with ssh, scp and rsync.
	dir  string
	home string // the user's home directory ("~" and relative paths)
}

// confined reports whether the session is held inside a docroot.
func (d docroot) confined() bool { return d.dir != "" }

// resolve maps a remote path, as the client gave it, to a path relative
// to the docroot ("." for the docroot itself). It refuses "..", NUL and
// names no system can hold; symbolic links are the opener's job
// (os.Root). Only for a confined session.
func (d docroot) resolve(p string) (string, error) {
	if err := checkRemote(p); err != nil {
		return "", err
	}
	p = strings.TrimPrefix(strings.TrimPrefix(p, "~"), "/")
	rel := path.Clean("/" + p)[1:]
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// checkRemote refuses remote paths that are no path: "..", NUL, and
// lengths past what a system holds.
func checkRemote(p string) error {
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%w (a NUL byte in a path)", protocol.ErrOutsideDocroot)
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("a path of %d bytes: %w (longer than %d)", len(p), protocol.ErrOutsideDocroot, maxPathLen)
	}
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		if c == ".." {
			return fmt.Errorf("%w (\"..\" is not allowed)", protocol.ErrOutsideDocroot)
		}
	}
	return nil
}

// maxPathLen bounds a remote path (Linux's PATH_MAX).
const maxPathLen = 4096

// abs maps a remote path of an unconfined session to the server's
// absolute path: "~", "~/x" and relative paths are relative to home.
func (d docroot) abs(p string) (string, error) {
	if err := checkRemote(p); err != nil {
		return "", err
	}
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		p = filepath.Join(d.home, p[1:])
	case !filepath.IsAbs(p):
		p = filepath.Join(d.home, p)
	}
	return filepath.Clean(p), nil
}

// openDir opens the directory p (a remote path as the client gave it),
// creating it and its parents with perm when create is set. In a
// confined session every step stays inside the docroot (os.Root: a link
// that leads out is refused, ErrOutsideDocroot); otherwise p is the
// server's own path.
func (d docroot) openDir(p string, create bool, perm fs.FileMode) (*os.Root, error) {
	if !d.confined() {
		abs, err := d.abs(p)
		if err != nil {
			return nil, err
		}
		if create {
			if err := os.MkdirAll(abs, perm); err != nil {
				return nil, err
			}
		}
		return os.OpenRoot(abs)
	}
	rel, err := d.resolve(p)
	if err != nil {
		return nil, err
	}
	doc, err := os.OpenRoot(d.dir)
	if err != nil {
		return nil, fmt.Errorf("docroot %s: %w", d.dir, err)
	}
	defer doc.Close()
	if create {
		if err := doc.MkdirAll(rel, perm); err != nil {
			return nil, confinedErr(err)
		}
	}
	r, err := doc.OpenRoot(rel)
	if err != nil {
		return nil, confinedErr(err)
	}
	return r, nil
}
