package main

import (
	"context"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/async-sync/async/core"
)

// scheme is one kind of endpoint (docs/reference.md §2): how a -d or -r
// value of that kind is parsed, its canonical form (the session identity),
// how messages show it, and how a side of that kind is opened. Everything
// that depends on an endpoint's kind is said here; the rest of the command
// asks the endpoint's scheme.
type scheme struct {
	// name is endpoint.scheme for endpoints of this kind.
	name string
	// urls are the URL schemes (before "://", as written) it serves.
	urls []string
	// parse parses a value of this kind; user and host are --user and
	// --host (-r only), which the registry allows with plain forms only.
	parse func(opt, raw, user, host string, def sshDefaults) (endpoint, error)
	// canonical is the endpoint's canonical URL: its identity in the
	// session's snapshots.
	canonical func(e endpoint) string
	// display is how messages name the endpoint.
	display func(e endpoint) string
	// open opens a side of this kind (the method expression form of
	// (*app).openSSH and its kin: the app comes first).
	open func(a *app, ctx context.Context, in *instance, p *prepared, side core.Side, log *slog.Logger) (*opened, error)
	// dataDir is the directory of this machine that holds the endpoint's
	// data when it is not a local side (a blob+file:// bucket): none of
	// async's state may lie in it. Nil: none.
	dataDir func(e endpoint) string
	// local: a directory of this machine, opened by this process.
	local bool
	// object: the endpoint keeps no snapshot of its own (a bucket, a
	// plugin's store); its state lives on this machine.
	object bool
	// remoteOnly names the kind in the refusal of a -d of it ("": -d
	// may be of this kind).
	remoteOnly string
	// driver: opening the kind needs the bucket drivers or the plugin
	// host, which a lean build leaves to async-full (lean.go).
	driver bool
}

// registry is the endpoint kinds a build knows, built once by main and
// handed to what parses endpoints.
type registry struct {
	byURL map[string]*scheme // by URL scheme, as written
	file  *scheme            // plain paths and file:// URLs
	ssh   *scheme            // [user@]host:path, or a path with --host
	other *scheme            // any other URL scheme: a plugin's
}

// newRegistry builds the registry of this build's endpoint kinds.
func newRegistry() *registry {
	bucket := func(e endpoint) string { return e.raw }
	file := &scheme{name: "file", parse: parseFile, local: true,
		canonical: func(e endpoint) string {
			return (&url.URL{Scheme: "file", Path: filepath.ToSlash(e.path)}).String()
		},
		display: func(e endpoint) string { return e.path },
		open:    (*app).openDir,
	}
	ssh := &scheme{name: "ssh", urls: []string{"ssh", "sftp"}, parse: parseSSH, canonical: sshURL,
		display:    func(e endpoint) string { return e.user + "@" + e.host + ":" + e.path },
		open:       (*app).openSSH,
		remoteOnly: "an SSH endpoint",
	}
	s3 := &scheme{name: "s3", urls: []string{"s3"}, parse: parseS3, canonical: s3Canonical, display: s3Display,
		open: openS3, object: true, driver: true}
	blob := &scheme{name: "blob", urls: []string{"mem", "blob+file"}, parse: parseBlob, canonical: bucket, display: bucket,
		open: openBlob, object: true, dataDir: fileBucketDir, driver: true}
	// The gocloud drivers of these live in plugin programs: linked in,
	// they would slow every start.
	cloud := &scheme{name: "blob", urls: []string{"gs", "azblob"}, parse: parseBlob, canonical: bucket, display: bucket,
		open: openCloud, object: true, driver: true}
	plugin := &scheme{name: "plugin", parse: parsePluginURL, canonical: bucket, display: bucket,
		open: openPluginSide, object: true, driver: true}
	r := &registry{byURL: map[string]*scheme{}, file: file, ssh: ssh, other: plugin}
	for _, k := range []*scheme{file, ssh, s3, blob, cloud, plugin} {
		for _, u := range k.urls {
			r.byURL[u] = k
		}
	}
	return r
}

// parse parses a -d or -r value (docs/reference.md §2) by the scheme of
// its form. user and host are --user and --host, for -r only.
func (r *registry) parse(opt, raw, user, host string, def sshDefaults) (endpoint, error) {
	if raw == "" && host == "" {
		return endpoint{}, usagef("option %s: empty endpoint", opt)
	}
	k, err := r.kindOf(opt, raw, user, host)
	if err != nil {
		return endpoint{}, err
	}
	e, err := k.parse(opt, raw, user, host, def)
	if err != nil {
		return endpoint{}, err
	}
	e.kind = k
	return e, nil
}

// kindOf finds the scheme of a -d or -r value: its URL scheme's, else
// the SSH form's, else a path's.
func (r *registry) kindOf(opt, raw, user, host string) (*scheme, error) {
	if name, _, ok := strings.Cut(raw, "://"); ok {
		if user != "" || host != "" {
			return nil, usagef("option %s: --user and --host cannot be combined with a URL (%s)", opt, raw)
		}
		if k := r.byURL[name]; k != nil {
			return k, nil
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, usagef("option %s: malformed URL %q", opt, raw)
		}
		if _, hasPass := u.User.Password(); hasPass {
			return nil, usagef("option %s: a URL must not hold a password (it would reach logs); use ASPERA_SCP_PASS or a prompt", opt)
		}
		if u.Scheme == "file" { // in any case
			return r.file, nil
		}
		return r.other, nil // served by the plugin async-backend-SCHEME
	}
	if host != "" || isHostPath(raw) {
		return r.ssh, nil
	}
	if user != "" {
		return nil, usagef("option --user: no remote host given (use --host or host:path in -r)")
	}
	return r.file, nil
}

// needsDrivers reports whether a session has a side of a kind that needs
// the bucket drivers or the plugin host (a value that does not parse:
// no, its error is reported by whoever parses it).
func (r *registry) needsDrivers(s *session) bool {
	for _, e := range [2]struct{ opt, raw, user, host string }{
		{"-d", s.local, "", ""}, {"-r", s.remote, s.user, s.host}} {
		if k, err := r.kindOf(e.opt, e.raw, e.user, e.host); err == nil && k.driver {
			return true
		}
	}
	return false
}

// needsFull reports whether a session needs what only async-full has
// (lean.go): a bucket or plugin side, or the data path's experimental UDP
// or QUIC transport.
func (r *registry) needsFull(s *session) bool {
	return r.needsDrivers(s) || s.ssh.dataPath == "udp" || s.ssh.dataPath == "quic"
}

// isSSH reports whether a -r value (with --host) names an SSH endpoint,
// without parsing it: for the warnings about SSH options.
func (r *registry) isSSH(raw, host string) bool {
	if host != "" {
		return true
	}
	k, err := r.kindOf("-r", raw, "", "")
	return err == nil && k == r.ssh
}
