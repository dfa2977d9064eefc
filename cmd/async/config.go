package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
	"github.com/async-sync/async/internal/cli"
	"github.com/async-sync/async/internal/logfile"
	"github.com/async-sync/async/rate"
)

// instance holds the options that set up the process.
type instance struct {
	help, version bool
	debug         int
	quiet         bool
	logDir        string
	logMB         int
	dryRun        bool
	planJSON      bool
	progress      string
	verbose       bool     // -v: every per-entry line on a terminal
	events        string   // --events: "json" or ""
	knownHosts    []string // --known-hosts, repeatable
	pluginDir     string   // --plugin-dir
	watchd        string   // --watchd: the journal service's socket ("": not asked)
	warnings      []string // warnings about instance options, for every session
}

// session holds one -N's options.
type session struct {
	name           string
	local, remote  string // endpoints as given
	user, host     string
	createDir      bool
	localDB        string
	remoteDB       string
	reset          bool
	policy         core.Policy
	links          core.LinkMode
	deleteBefore   bool
	forceDeletes   bool
	maxDeletes     string // N or N%; "" none
	checksumSet    bool
	threads        []core.ThreadClass
	scanThreads    [2]int
	checksumThread [2]int
	targetRate     int64
	noLogStats     bool
	keepDir        [2]string // as given
	removeAfter    bool
	rules          []filter.Rule // -I, -E and rule files, in command-line order
	filter         *filter.Filter
	cleanExcluded  bool
	mountSig       [2]string     // --local/remote-mount-signature
	oldDirs        time.Time     // --exclude-dirs-older-than
	scanPause      scanPause     // --scan-intensity
	storeDir       [2]string     // --local/remote-db-store-dir, as given
	supportResume  int64         // --support-resume MINSIZE; 0: off
	metafileWarn   bool          // metafile asked where native applies
	assumeNoMods   bool          // --assume-no-mods
	resumeAge      time.Duration // --resume-age-days
	stdinUsed      *bool         // "-" as a rule file reads standard input once per process
	ssh            sshSettings
	warnings       []string // about option values, printed once the session is checked
	linksSet       bool     // -n given
	follow         followSettings
	tags           map[string]string // --tags: metadata of every object written to a bucket
	minRate        int64             // -m, bits per second
	ratePolicy     rate.Policy       // -a
}

// followSettings are continuous mode's options.
type followSettings struct {
	on                     bool          // -C
	scanEvery, remoteEvery time.Duration // --scan-interval, --remote-scan-interval (0: default)
	cooloff                time.Duration // --cooloff
	cooloffMax             time.Duration // --cooloff-max (0: never give up)
}

// sshSettings are a session's SSH options.
type sshSettings struct {
	port     int      // -P (0: 22)
	keyFiles []string // -i
	password string   // -w
	token    string   // -W
	cookie   string   // --cookie
	sftp     bool     // --sftp
	logDir   string   // -R
	logMB    int
	ciphers  []string // -c
	given    []string // the SSH options given, as spelled
	// compression is --compression on the agent transport ("none" or "":
	// off).
	compression string
	dataPath    string // --data-path: "auto" (""), "tcp" or "ssh"
	dataPort    int    // -O (0: the agent's choice)
	dataStreams int    // --data-streams (0: the default)
}

// openRules opens a rule file; "-" is standard input, once.
func (s *session) openRules(name string) (io.ReadCloser, error) {
	if name != "-" {
		p, err := expandHome(name)
		if err != nil {
			return nil, err
		}
		return os.Open(p)
	}
	if *s.stdinUsed {
		return nil, fmt.Errorf("standard input (-) can be read only once")
	}
	*s.stdinUsed = true
	return io.NopCloser(os.Stdin), nil
}

// usagef returns a usage error: a bad command line or configuration,
// found before anything is touched. It is a fatal with exitUsage (exit 2),
// the command's one error type that carries an exit code.
func usagef(format string, args ...any) error {
	return &fatal{exitUsage, errors.New(fmt.Sprintf(format, args...))}
}

// isUsage reports whether err ends the command with exitUsage: a usage
// error, or the engine's core.ConfigError.
func isUsage(err error) bool { return err != nil && exitCode(err) == exitUsage }

// oneOf returns v when it is one of choices, else the usage error of option
// as: unknown what "v" (want a, b or c).
func oneOf(as, what, v string, choices ...string) (string, error) {
	if slices.Contains(choices, v) {
		return v, nil
	}
	want := choices[len(choices)-1]
	if len(choices) > 1 {
		want = strings.Join(choices[:len(choices)-1], ", ") + " or " + want
	}
	return "", usagef("option %s: unknown %s %q (want %s)", as, what, v, want)
}

var sessionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// config turns the parsed command line into the instance settings and the
// sessions, warning about options that have no effect. warn gets each
// warning with the session it concerns (nil: the instance, every session).
func config(p *cli.Parsed, byLong map[string]option, warn func(s *session, msg string)) (*instance, []*session, error) {
	if len(p.Positional) > 0 {
		return nil, nil, usagef("unexpected argument %q (endpoints are given with -d and -r)", p.Positional[0])
	}
	in := &instance{logMB: 10, progress: "auto"}
	var sessions []*session
	stdinUsed := false
	all := [][]cli.Opt{p.Instance}
	all = append(all, p.Sessions...)
	for i, opts := range all {
		var s *session
		if i > 0 {
			s = &session{stdinUsed: &stdinUsed, scanPause: scanIntensities["medium"], follow: followSettings{cooloff: 3 * time.Second}}
			sessions = append(sessions, s)
		}
		for _, op := range opts {
			o := byLong[op.Spec.Long]
			switch o.support {
			case refused:
				return nil, nil, usagef("option %s %s", op.As, o.why)
			case warned:
				warn(s, fmt.Sprintf("warning: option %s %s; ignored", op.As, o.why))
				continue
			}
			if err := in.set(op); err == nil {
				continue
			} else if err != errNotInstance {
				return nil, nil, err
			}
			if s == nil {
				return nil, nil, usagef("option %s belongs to a session: give it after -N NAME", op.As)
			}
			if err := s.set(op); err != nil {
				return nil, nil, err
			}
			for _, w := range s.warnings {
				warn(s, fmt.Sprintf("warning: option %s: %s", op.As, w))
			}
			s.warnings = nil
		}
	}
	if in.help || in.version {
		return in, sessions, nil
	}
	for _, w := range in.warnings {
		warn(nil, w)
	}
	if len(sessions) == 0 {
		return nil, nil, usagef("missing -N/--name: give a session name (async -h for help)")
	}
	if in.events != "" && in.dryRun {
		return nil, nil, usagef("option --events reports a run; --dry-run prints a plan instead (--plan-format=json for a machine-readable one)")
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if s.follow.on && in.dryRun {
			return nil, nil, usagef("session %s: --dry-run shows one plan; it cannot be combined with -C", s.name)
		}
		if err := s.check(); err != nil {
			return nil, nil, err
		}
		for _, w := range s.warnings {
			warn(s, w)
		}
		if seen[s.name] {
			return nil, nil, usagef("session name %q given twice", s.name)
		}
		seen[s.name] = true
	}
	return in, sessions, nil
}

var errNotInstance = fmt.Errorf("not an instance option")

func (in *instance) set(op cli.Opt) error {
	v := op.Value
	switch op.Spec.Long {
	case "help":
		in.help = true
	case "version":
		in.version = true
	case "debug":
		in.debug++
	case "quiet":
		in.quiet = true
	case "alt-logdir":
		if strings.Contains(v, "://") {
			return usagef("option %s: %s is a URL, and a bucket cannot hold a log (a log is appended to line by line, which an object store cannot do); give a local directory, outside the synchronized trees, as DIR[:MB]", op.As, v)
		}
		dir, mb, err := logfile.ParseDir(v)
		if err != nil {
			return usagef("option %s: %v", op.As, err)
		}
		in.logDir, in.logMB = dir, mb
	case "dry-run":
		in.dryRun = true
	case "plan-format":
		switch v {
		case "text", "json":
			in.planJSON = v == "json"
		default:
			return usagef("option %s: unknown plan format %q (want text or json)", op.As, v)
		}
	case "watchd":
		sock, warning, err := watchdSocket(op.As, v)
		if err != nil {
			return err
		}
		in.watchd = sock
		if warning != "" {
			in.warnings = append(in.warnings, warning)
		}
	case "plugin-dir":
		p, err := expandHome(v)
		if err != nil {
			return usagef("option %s: %v", op.As, err)
		}
		in.pluginDir = p
	case "known-hosts":
		p, err := expandHome(v)
		if err != nil {
			return usagef("option %s: %v", op.As, err)
		}
		in.knownHosts = append(in.knownHosts, p)
	case "verbose":
		in.verbose = true
	case "events":
		if v != "json" {
			return usagef("option %s: unknown event format %q (want json)", op.As, v)
		}
		in.events = v
	case "progress":
		p, err := oneOf(op.As, "progress mode", v, "auto", "bar", "plain", "none")
		if err != nil {
			return err
		}
		in.progress = p
	default:
		return errNotInstance
	}
	return nil
}

func (s *session) set(op cli.Opt) error {
	v := op.Value
	bad := func(err error) error { return usagef("option %s: %v", op.As, err) }
	var err error
	switch op.Spec.Long {
	case "name":
		if !sessionName.MatchString(v) {
			return usagef("option %s: invalid session name %q (use 1 to 128 of A-Z a-z 0-9 _ -)", op.As, v)
		}
		s.name = v
	case "local-dir":
		s.local = v
	case "remote-dir":
		s.remote = v
	case "user":
		s.user = v
	case "host":
		s.host = v
	case "create-dir":
		s.createDir = true
	case "local-db-dir":
		s.localDB = v
	case "remote-db-dir":
		if strings.Contains(v, "://") {
			return usagef("option %s: %s is a URL, and a bucket cannot hold a snapshot database; give a directory: on the server for an SSH -r, on this machine (outside the synchronized trees) otherwise", op.As, v)
		}
		s.remoteDB = v
	case "reset":
		s.reset = true
	case "direction":
		if s.policy.Direction, err = core.ParseDirection(v); err != nil {
			return bad(err)
		}
	case "overwrite":
		if s.policy.Overwrite, err = core.ParseOverwrite(v); err != nil {
			return bad(err)
		}
	case "mirror":
		s.policy.Mirror = true
	case "scan-threads", "remote-scan-threads", "local-checksum-threads", "remote-checksum-threads",
		"local-fs-threads", "remote-fs-threads":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 99 {
			return usagef("option %s: %q is not a number from 1 to 99", op.As, v)
		}
		side := core.Local
		if strings.HasPrefix(op.Spec.Long, "remote-") {
			side = core.Remote
		}
		switch {
		case strings.Contains(op.Spec.Long, "checksum"):
			s.checksumThread[side] = n
		case strings.Contains(op.Spec.Long, "scan"):
			s.scanThreads[side] = n
		}
		// fs threads: metadata operations run on the transfer workers here.
	case "scan-file-rename":
		s.policy.RenameFiles = true
	case "scan-dir-rename":
		s.policy.RenameDirs = true
	case "keep-dir-local":
		s.keepDir[core.Local] = v
	case "keep-dir-remote":
		s.keepDir[core.Remote] = v
	case "remove-after-transfer":
		s.removeAfter = true
	case "include", "exclude":
		s.rules = append(s.rules, filter.Rule{Include: op.Spec.Long == "include", Pattern: v})
	case "include-from", "exclude-from":
		rs, err := filter.ReadFile(v, op.Spec.Long == "include-from", s.openRules)
		if err != nil {
			return bad(err)
		}
		s.rules = append(s.rules, rs...)
	case "local-mount-signature":
		s.mountSig[core.Local] = v
	case "remote-mount-signature":
		s.mountSig[core.Remote] = v
	case "scan-intensity":
		sp, ok := scanIntensities[v]
		if !ok {
			return usagef("option %s: unknown intensity %q (want vlow, low, medium, high or vhigh)", op.As, v)
		}
		s.scanPause = sp
	case "exclude-dirs-older-than":
		if s.oldDirs, err = parseTime(v, time.Now()); err != nil {
			return bad(err)
		}
	case "clean-excluded":
		s.cleanExcluded = true
	case "ignore-delete":
		s.policy.IgnoreDelete = true
	case "delete-delay":
		// Deletions already run after all transfers.
	case "delete-before":
		s.deleteBefore = true
	case "max-deletes":
		if _, _, err := parseCount(v); err != nil {
			return bad(err)
		}
		s.maxDeletes = v
	case "force-deletes":
		s.forceDeletes = true
	case "checksum":
		if s.policy.Checksum, err = core.ParseChecksum(v); err != nil {
			return bad(err)
		}
		s.checksumSet = true
	case "preserve-time", "preserve-modification-time":
		s.policy.PreserveTime = true
	case "assume-no-mods":
		s.assumeNoMods = true
	case "support-resume":
		s.supportResume = 1 << 20
		if op.HasValue {
			if s.supportResume, err = rate.ParseSize(v); err != nil {
				return bad(err)
			}
			s.supportResume = max(s.supportResume, 1)
		}
	case "resume-age-days":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return usagef("option %s: %q is not a number of days (1 or more)", op.As, v)
		}
		s.resumeAge = time.Duration(n) * 24 * time.Hour
	case "local-db-store-dir":
		s.storeDir[core.Local] = v
	case "remote-db-store-dir":
		s.storeDir[core.Remote] = v
	case "write-uid", "write-gid":
		id, err := lookupID(v, op.Spec.Long == "write-gid")
		if err != nil {
			return bad(err)
		}
		if op.Spec.Long == "write-uid" {
			s.policy.WriteUID = &id
		} else {
			s.policy.WriteGID = &id
		}
	case "dedup":
		switch cmp.Or(v, "hardlink") {
		case "hardlink":
			s.policy.Dedup = core.DedupHardlink
		case "inode":
			s.policy.Dedup = core.DedupInode
		case "none":
			s.policy.Dedup = core.DedupNone
		case "copy":
			s.policy.Dedup = core.DedupCopy
		default:
			return usagef("option %s: unknown mode %q (want hardlink, inode, copy or none)", op.As, v)
		}
	case "preserve-xattrs", "remote-preserve-xattrs", "preserve-acls", "remote-preserve-acls":
		switch v {
		case "native":
			if strings.HasSuffix(op.Spec.Long, "acls") {
				s.policy.PreserveACLs = true
			} else {
				s.policy.PreserveXattrs = true
			}
		case "none":
		case "metafile":
			// Both endpoints of this version keep them natively; a side
			// record is only needed for stores that cannot.
			s.metafileWarn = true
			if strings.HasSuffix(op.Spec.Long, "acls") {
				s.policy.PreserveACLs = true
			} else {
				s.policy.PreserveXattrs = true
			}
		default:
			return usagef("option %s: unknown mode %q (want native, metafile or none)", op.As, v)
		}
	case "preserve-access-time":
		s.policy.PreserveATime = true
	case "preserve-uid":
		s.policy.PreserveUID = true
	case "preserve-gid":
		s.policy.PreserveGID = true
	case "ignore-mode":
		s.policy.IgnoreMode = true
	case "symbolic-links":
		if s.links, err = core.ParseLinkMode(v); err != nil {
			return bad(err)
		}
		s.linksSet = true
	case "target-rate":
		if s.targetRate, err = rate.ParseRate(v); err != nil {
			return bad(err)
		}
	case "transfer-threads":
		tc, err := parseThreads(v)
		if err != nil {
			return bad(err)
		}
		s.threads = append(s.threads, tc)
	case "tcp-port", "private-key-path", "password", "token", "cookie", "sftp", "remote-logdir", "cipher", "compression",
		"data-path", "data-streams", "udp-port":
		s.ssh.given = append(s.ssh.given, op.As)
		return s.setSSH(op)
	case "min-rate":
		if s.minRate, err = rate.ParseRate(v); err != nil {
			return bad(err)
		}
	case "rate-policy":
		if s.ratePolicy, err = rate.ParsePolicy(v); err != nil {
			return bad(err)
		}
	case "tags", "tags64":
		raw := []byte(v)
		if op.Spec.Long == "tags64" {
			if raw, err = base64.StdEncoding.DecodeString(v); err != nil {
				return usagef("option %s: not base64: %v", op.As, err)
			}
		}
		if s.tags, err = parseTags(raw); err != nil {
			return bad(err)
		}
	case "continuous":
		s.follow.on = true
	case "scan-interval", "remote-scan-interval":
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			return usagef("option %s: %q is not a positive duration (e.g. 30s, 10m, 1h)", op.As, v)
		}
		if op.Spec.Long == "scan-interval" {
			s.follow.scanEvery = d
		} else {
			s.follow.remoteEvery = d
		}
	case "cooloff", "cooloff-max":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || op.Spec.Long == "cooloff" && n > 60 {
			return usagef("option %s: %q is not a number of seconds (cooloff: 0 to 60)", op.As, v)
		}
		if op.Spec.Long == "cooloff" {
			s.follow.cooloff = time.Duration(n) * time.Second
		} else {
			s.follow.cooloffMax = time.Duration(n) * time.Second
		}
	case "no-log":
		if v != "stats" {
			return usagef("option %s: unknown value %q (want stats)", op.As, v)
		}
		s.noLogStats = true
	default:
		return usagef("option %s is not handled by this version of async", op.As)
	}
	return nil
}

// setSSH sets one of the SSH options.
func (s *session) setSSH(op cli.Opt) error {
	v := op.Value
	bad := func(err error) error { return usagef("option %s: %v", op.As, err) }
	var err error
	switch op.Spec.Long {
	case "tcp-port":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return usagef("option %s: %q is not a port number (1 to 65535)", op.As, v)
		}
		s.ssh.port = n
	case "private-key-path":
		p, err := expandHome(v)
		if err != nil {
			return bad(err)
		}
		s.ssh.keyFiles = append(s.ssh.keyFiles, p)
	case "password":
		s.ssh.password = v
		s.warnings = append(s.warnings, "a password on the command line is visible to other users in the process list; prefer ASPERA_SCP_PASS")
	case "token":
		if !strings.HasPrefix(v, "Basic ") {
			return usagef("option %s: want \"Basic BASE64(id:secret)\"", op.As)
		}
		s.ssh.token = v
		s.warnings = append(s.warnings, "a token on the command line is visible to other users in the process list; prefer ASPERA_SCP_TOKEN")
	case "cookie":
		s.ssh.cookie = v
	case "sftp":
		s.ssh.sftp = true
	case "remote-logdir":
		if strings.Contains(v, "://") {
			return usagef("option %s: %s is a URL, and a bucket cannot hold a log (a log is appended to line by line, which an object store cannot do); give a directory: on the server for an SSH -r, on this machine (outside the synchronized trees) for a bucket -r", op.As, v)
		}
		if s.ssh.logDir, s.ssh.logMB, err = logfile.SplitDir(v); err != nil {
			return bad(err)
		}
	case "compression":
		c, err := oneOf(op.As, "compression", v, "none", "zlib", "zstd")
		if err != nil {
			return err
		}
		s.ssh.compression = c
	case "data-path":
		dp, err := oneOf(op.As, "data path", v, "auto", "tcp", "ssh")
		if err != nil {
			return err
		}
		s.ssh.dataPath = dp
	case "data-streams":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > datapath.MaxStreams {
			return usagef("option %s: %q is not a number of streams (1 to %d)", op.As, v, datapath.MaxStreams)
		}
		s.ssh.dataStreams = n
	case "udp-port":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return usagef("option %s: %q is not a port number (1 to 65535)", op.As, v)
		}
		s.ssh.dataPort = n
	case "cipher":
		c, warning, err := sshCipher(v)
		if err != nil {
			return bad(err)
		}
		s.ssh.ciphers = c
		if warning != "" {
			s.warnings = append(s.warnings, warning)
		}
	}
	return nil
}

// check validates a session's options as a whole.
func (s *session) check() error {
	switch {
	case s.local == "":
		return usagef("session %s: missing -d/--local-dir", s.name)
	case s.remote == "" && s.host == "":
		return usagef("session %s: missing -r/--remote-dir", s.name)
	}
	if err := s.policy.Resolve(); err != nil {
		return usagef("session %s: %v", s.name, err)
	}
	f, err := filter.New(s.rules)
	if err != nil {
		return usagef("session %s: %v", s.name, err)
	}
	s.filter = f
	if (s.policy.Dedup == core.DedupHardlink || s.policy.Dedup == core.DedupCopy) && !s.policy.Checksum.Full() {
		return usagef("session %s: --dedup=%s needs a full checksum (-k sha1, md5 or sha256)", s.name, map[core.Dedup]string{core.DedupHardlink: "hardlink", core.DedupCopy: "copy"}[s.policy.Dedup])
	}
	if len(s.ssh.given) > 0 && !strings.HasPrefix(s.remote, "ssh://") && !strings.HasPrefix(s.remote, "sftp://") && s.host == "" && !isHostPath(s.remote) {
		for _, o := range s.ssh.given {
			if o == "-R" || strings.HasPrefix(o, "--remote-logdir") {
				continue // refused once the endpoints are known
			}
			s.warnings = append(s.warnings, fmt.Sprintf("warning: option %s applies to SSH endpoints and -r is not one; ignored", o))
		}
	}
	if s.targetRate > 0 && s.minRate > s.targetRate {
		return usagef("session %s: -m %d bit/s is above -l %d bit/s", s.name, s.minRate, s.targetRate)
	}
	if s.targetRate == 0 && s.minRate > 0 {
		s.warnings = append(s.warnings, "warning: option -m applies with -l (a target rate); ignored")
	}
	if s.removeAfter && s.policy.Direction == core.Bidi {
		return usagef("session %s: --remove-after-transfer cannot be used with -K bidi", s.name)
	}
	return nil
}

// parseThreads parses --transfer-threads N[:SIZE].
func parseThreads(v string) (core.ThreadClass, error) {
	ns, size, hasSize := strings.Cut(v, ":")
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > 999 {
		return core.ThreadClass{}, fmt.Errorf("invalid thread count %q (want N[:SIZE], N from 1 to 999)", v)
	}
	tc := core.ThreadClass{N: n}
	if hasSize {
		if tc.MaxSize, err = rate.ParseSize(size); err != nil {
			return core.ThreadClass{}, err
		}
	}
	return tc, nil
}

// scanPause is how a scan spares the disk: a rest after every so many
// directories.
type scanPause struct {
	rest    time.Duration
	every   int
	threads int // directory listers, unless --scan-threads says (0: the backend's default)
}

// scanIntensities are the -H levels [decision]: vlow lists one directory
// at a time with a 10 ms rest every 8, low two at a time with 5 ms every
// 32; medium, the default, rests 1 ms every 256 directories (under 1% of a
// scan of 50,000 files); vhigh never rests.
var scanIntensities = map[string]scanPause{
	"vlow":   {10 * time.Millisecond, 8, 1},
	"low":    {5 * time.Millisecond, 32, 2},
	"medium": {time.Millisecond, 256, 0},
	"high":   {time.Millisecond, 2048, 0},
	"vhigh":  {},
}

// ibmDuration is IBM's duration syntax: w, d, h, m, s in that order, any
// subset ("1w0d0h0m0s", "2d12h").
var ibmDuration = regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$`)

// parseDuration parses async's durations: Go style ("1h30m"), IBM style
// ("1w0d0h0m0s"), or a bare number of seconds.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	}
	if m := ibmDuration.FindStringSubmatch(v); m != nil && v != "" {
		var d time.Duration
		for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second} {
			if m[i+1] != "" {
				n, _ := strconv.Atoi(m[i+1])
				d += time.Duration(n) * unit
			}
		}
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration %q (want e.g. 4h, 1h30m, 1w0d0h0m0s or seconds)", v)
}

// parseTime parses a time: a duration before now, or an RFC 3339 time.
func parseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q (want a duration such as 1w0d0h0m0s, or an RFC 3339 time)", v)
	}
	return now.Add(-d), nil
}

// lookupID resolves a user or group name or number.
func lookupID(v string, group bool) (int, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return n, nil
	}
	var id string
	if group {
		g, err := user.LookupGroup(v)
		if err != nil {
			return 0, fmt.Errorf("unknown group %q", v)
		}
		id = g.Gid
	} else {
		u, err := user.Lookup(v)
		if err != nil {
			return 0, fmt.Errorf("unknown user %q", v)
		}
		id = u.Uid
	}
	return strconv.Atoi(id)
}

// parseCount parses "N" or "N%".
func parseCount(v string) (n int, percent bool, err error) {
	s, percent := strings.CutSuffix(v, "%")
	n, err = strconv.Atoi(s)
	if err != nil || n < 0 || (percent && n > 100) {
		return 0, false, fmt.Errorf("invalid count %q (want N or N%%)", v)
	}
	return n, percent, nil
}

// sshCipher maps -c to SSH cipher names (docs/reference.md §4.7): aesN and aesNcfb
// to aesN-ctr (cfb warns: SSH has no CFB mode), aesNgcm to the GCM ciphers;
// none warns, as SSH always encrypts. The rest of the default list follows,
// so that a server without the preferred cipher still connects.
func sshCipher(v string) ([]string, string, error) {
	pref, warning := "", ""
	switch v {
	case "none":
		return nil, "SSH always encrypts; the default ciphers are used", nil
	case "aes128", "aes192", "aes256":
		pref = v + "-ctr"
	case "aes128cfb", "aes192cfb", "aes256cfb":
		pref = strings.TrimSuffix(v, "cfb") + "-ctr"
		warning = "SSH has no CFB mode; " + pref + " is used"
	case "aes128gcm", "aes256gcm":
		pref = strings.TrimSuffix(v, "gcm") + "-gcm@openssh.com"
	case "aes192gcm":
		pref, warning = "aes192-ctr", "SSH has no AES-192-GCM; aes192-ctr is used"
	default:
		return nil, "", fmt.Errorf("unknown cipher %q (want none, aes128, aes192, aes256, with cfb or gcm)", v)
	}
	list := []string{pref}
	for _, c := range []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"} {
		if c != pref {
			list = append(list, c)
		}
	}
	return list, warning, nil
}

// tagKey is what S3 and the gocloud stores accept as a metadata key.
var tagKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// parseTags parses --tags: a JSON object of string values. Keys async
// uses itself (async-*) are refused.
func parseTags(raw []byte) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("malformed JSON (want {\"key\": \"value\", ...}): %v", err)
	}
	for k := range m {
		if !tagKey.MatchString(k) {
			return nil, fmt.Errorf("invalid metadata key %q (letters, digits, . _ -)", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "async-") {
			return nil, fmt.Errorf("metadata key %q is reserved for async", k)
		}
	}
	return m, nil
}
