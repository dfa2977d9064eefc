package ssh

import (
	"bufio"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultServerConfig is where the agent reads its configuration.
const DefaultServerConfig = "/etc/async/server.conf"

// ServerConfig is the agent's configuration file, parsed:
//
//	# comments start with '#'
//	[user morgan]            # settings for one login user; [user *] for all
//	docroot = /srv/sync      # shown to the client as "/"
//	db_dir  = /srv/async/db  # overrides -B
//	log_dir = /srv/async/log # overrides -R
//
//	[key AKID1]              # an access key for -W "Basic BASE64(AKID1:secret)"
//	secret = ...
//	root   = /srv/sync/projectA   # the token's session sees only this tree, as "/"
//	user   = morgan               # optional: the login users the key is valid for
type ServerConfig struct {
	Users map[string]UserConfig
	Keys  map[string]AccessKey
}

// UserConfig is one user's section.
type UserConfig struct {
	Docroot, DBDir, LogDir string
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
			kind, name = f[0], f[1]
			if kind == "user" {
				c.Users[name] = c.Users[name]
			} else {
				c.Keys[name] = c.Keys[name]
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || kind == "" {
			return nil, fmt.Errorf("line %d: want KEY = VALUE inside a section, got %q", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
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

// user returns the settings of a login user.
func (c *ServerConfig) user(name string) UserConfig {
	if u, ok := c.Users[name]; ok {
		return u
	}
	return c.Users["*"]
}

// checkToken returns the root a "Basic BASE64(id:secret)" token opens to
// the login user.
func (c *ServerConfig) checkToken(token, login string) (string, error) {
	b64, ok := strings.CutPrefix(token, "Basic ")
	if !ok {
		return "", fmt.Errorf("%w: token must be \"Basic BASE64(id:secret)\"", ErrAccess)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", fmt.Errorf("%w: token is not base64", ErrAccess)
	}
	id, secret, _ := strings.Cut(string(raw), ":")
	k, ok := c.Keys[id]
	if !ok || subtle.ConstantTimeCompare([]byte(k.Secret), []byte(secret)) != 1 {
		return "", fmt.Errorf("%w: unknown access key or wrong secret", ErrAccess)
	}
	if len(k.Users) > 0 && !contains(k.Users, login) {
		return "", fmt.Errorf("%w: access key %s is not valid for user %s", ErrAccess, id, login)
	}
	return k.Root, nil
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
	dir string
	// slash: paths are shown relative to dir ("/" is dir), as with a
	// configured docroot or a token; otherwise they are the server's own
	// absolute paths, which must lie inside dir.
	slash bool
}

// resolve maps a remote path, as the client gave it, to a path relative
// to the docroot ("." for the docroot itself). It refuses ".." and paths
// outside; symbolic links are the opener's job (os.Root).
func (d docroot) resolve(p string) (string, error) {
	p = filepath.ToSlash(p)
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("%s: %w (\"..\" is not allowed)", p, ErrOutsideDocroot)
		}
	}
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		p = strings.TrimPrefix(p[1:], "/")
	case strings.HasPrefix(p, "/") && !d.slash:
		root := filepath.ToSlash(d.dir)
		if p != root && !strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/") {
			return "", fmt.Errorf("%s: %w %s", p, ErrOutsideDocroot, d.dir)
		}
		p = strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
	}
	rel := path.Clean("/" + p)[1:]
	if rel == "" {
		rel = "."
	}
	return rel, nil
}
