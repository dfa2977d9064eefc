package main

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	env           environ  // what the environment says
	warnings      []string // warnings about instance options, for every session
}

// session holds one -N's options.
type session struct {
	// Options are the engine's options as the command line sets them; a
	// run fills in the rest (Session, Log, Stats, the callbacks) and the
	// defaults that depend on the endpoints (the checksum, links to a
	// bucket).
	core.Options
	name           string
	local, remote  string // endpoints as given
	user, host     string
	createDir      bool
	localDB        string
	remoteDB       string
	reset          bool
	maxDeletes     string // N or N%; "" none
	checksumSet    bool
	scanThreads    [2]int
	checksumThread [2]int
	scanListers    int // directory listers of --scan-intensity (0: the backend's default)
	targetRate     int64
	noLogStats     bool
	keepDir        [2]string     // as given
	rules          []filter.Rule // -I, -E and rule files, in command-line order
	mountSig       [2]string     // --local/remote-mount-signature
	storeDir       [2]string     // --local/remote-db-store-dir, as given
	metafileWarn   bool          // metafile asked where native applies
	stdinUsed      *bool         // "-" as a rule file reads standard input once per process
	ssh            sshSettings
	warnings       []string // about option values, printed once the session is checked
	linksSet       bool     // -n given
	follow         followSettings
	tags           map[string]string // --tags: metadata of every object written to a bucket
	minRate        int64             // -m, bits per second
	ratePolicy     rate.Policy       // -a
	policyGiven    bool              // -a was on the command line
}

// newSession is a session with async's defaults; stdinUsed is shared by
// every session of the process.
func newSession(stdinUsed *bool) *session {
	s := &session{stdinUsed: stdinUsed, follow: followSettings{cooloff: 3 * time.Second}}
	s.setScanPause(scanIntensities["medium"])
	return s
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
	dataPath    string // --data-path: "auto" (""), "tcp" or "ssh"; "udp" or "quic" under envTransports
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

// validSessionName reports whether name is a session name: 1 to 128 of
// [A-Za-z0-9_-]. (Checked by hand: as a regular expression, its 128-fold
// repetition took a quarter of a megabyte and 2 ms to compile at every
// start of async.)
func validSessionName(name string) bool {
	return len(name) >= 1 && len(name) <= 128 && strings.IndexFunc(name, func(c rune) bool {
		return !isAlnum(c) && c != '_' && c != '-'
	}) < 0
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// config turns the parsed command line into the instance settings and the
// sessions, warning about options that have no effect. warn gets each
// warning with the session it concerns (nil: the instance, every session).
func config(p *cli.Parsed, byLong map[string]*option, schemes *registry, env environ, warn func(s *session, msg string)) (*instance, []*session, error) {
	if len(p.Positional) > 0 {
		return nil, nil, usagef("unexpected argument %q (endpoints are given with -d and -r)", p.Positional[0])
	}
	in := newInstance()
	in.env = env
	var sessions []*session
	stdinUsed := false
	all := [][]cli.Opt{p.Instance}
	all = append(all, p.Sessions...)
	for i, opts := range all {
		var s *session
		if i > 0 {
			s = newSession(&stdinUsed)
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
			if err := o.apply(in, s, op); err != nil {
				return nil, nil, err
			}
			if s == nil {
				continue
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
	if err := in.Validate(); err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		if err := s.Validate(in, schemes); err != nil {
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

// newInstance is an instance with async's defaults.
func newInstance() *instance { return &instance{logMB: 10, progress: "auto"} }

// apply stores one option given on the command line with its row's
// setter: on the instance, or on s (nil before the first -N).
func (o option) apply(in *instance, s *session, op cli.Opt) error {
	var err error
	switch {
	case o.setIn != nil:
		err = o.setIn(in, op)
	case o.setS == nil:
		return usagef("option %s is not handled by this version of async", op.As)
	case s == nil:
		return usagef("option %s belongs to a session: give it after -N NAME", op.As)
	default:
		if o.scope == forSSH {
			s.ssh.given = append(s.ssh.given, op.As)
		}
		err = o.setS(s, op)
	}
	var f *fatal
	if err != nil && !(errors.As(err, &f) && f.code == exitUsage) {
		err = usagef("option %s: %v", op.As, err)
	}
	return err
}

// setInstanceOption stores an instance option by its long name (async
// apply takes a few).
func setInstanceOption(in *instance, op cli.Opt) error {
	for _, o := range options() {
		if o.Long == op.Spec.Long && o.setIn != nil {
			return o.apply(in, nil, op)
		}
	}
	return usagef("option %s is not handled by this version of async", op.As)
}

// Validate checks the instance options as a whole.
func (in *instance) Validate() error {
	if in.events != "" && in.dryRun {
		return usagef("option --events reports a run; --dry-run prints a plan instead (--plan-format=json for a machine-readable one)")
	}
	return nil
}

// Validate checks a session's options as a whole, and with the
// instance's (nil: none given): the checks that involve more than one
// option; schemes tells the kind of -r. It resolves the policy and builds
// the filter; warnings about options that do not apply go to s.warnings.
func (s *session) Validate(in *instance, schemes *registry) error {
	switch {
	case in != nil && s.follow.on && in.dryRun:
		return usagef("session %s: --dry-run shows one plan; it cannot be combined with -C", s.name)
	case s.local == "":
		return usagef("session %s: missing -d/--local-dir", s.name)
	case s.remote == "" && s.host == "":
		return usagef("session %s: missing -r/--remote-dir", s.name)
	}
	if err := s.Policy.Resolve(); err != nil {
		return usagef("session %s: %v", s.name, err)
	}
	f, err := filter.New(s.rules)
	if err != nil {
		return usagef("session %s: %v", s.name, err)
	}
	s.Filter = f
	if (s.Policy.Dedup == core.DedupHardlink || s.Policy.Dedup == core.DedupCopy) && !s.Policy.Checksum.Full() {
		return usagef("session %s: --dedup=%s needs a full checksum (-k sha1, md5 or sha256)", s.name, map[core.Dedup]string{core.DedupHardlink: "hardlink", core.DedupCopy: "copy"}[s.Policy.Dedup])
	}
	if len(s.ssh.given) > 0 && !schemes.isSSH(s.remote, s.host) {
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
	if s.ssh.dataPath == "udp" {
		if s.targetRate == 0 {
			return usagef("session %s: option --data-path=udp sends at the target rate: set it with -l", s.name)
		}
		// The rate-based transport holds -l: a policy that lowers the
		// session's limiter whenever less than allowed passed would read
		// the transport's own window as competing traffic.
		if s.policyGiven && s.ratePolicy != rate.Fixed {
			s.warnings = append(s.warnings, fmt.Sprintf("warning: option -a %s: --data-path=udp holds the target rate (-a fixed)", s.ratePolicy))
		}
		s.ratePolicy = rate.Fixed
	}
	if s.targetRate == 0 && s.minRate > 0 {
		s.warnings = append(s.warnings, "warning: option -m applies with -l (a target rate); ignored")
	}
	if s.RemoveAfterTransfer && s.Policy.Direction == core.Bidi {
		return usagef("session %s: --remove-after-transfer cannot be used with -K bidi", s.name)
	}
	return nil
}

// The setters of the option table's rows (options.go) that do more than
// store a flag or a string. An error that is not a usage error is
// reported as "option AS: err".

func setAltLogdir(in *instance, op cli.Opt) error {
	if strings.Contains(op.Value, "://") {
		return usagef("option %s: %s is a URL, and a bucket cannot hold a log (a log is appended to line by line, which an object store cannot do); give a local directory, outside the synchronized trees, as DIR[:MB]", op.As, op.Value)
	}
	dir, mb, err := logfile.ParseDir(op.Value)
	if err != nil {
		return err
	}
	in.logDir, in.logMB = dir, mb
	return nil
}

func setPlanFormat(in *instance, op cli.Opt) error {
	switch op.Value {
	case "text", "json":
		in.planJSON = op.Value == "json"
		return nil
	}
	return usagef("option %s: unknown plan format %q (want text or json)", op.As, op.Value)
}

func setWatchd(in *instance, op cli.Opt) error {
	sock, warning, err := watchdSocket(op.As, op.Value, in.env.stateDir)
	if err != nil {
		return err
	}
	in.watchd = sock
	if warning != "" {
		in.warnings = append(in.warnings, warning)
	}
	return nil
}

func setPluginDir(in *instance, op cli.Opt) (err error) {
	in.pluginDir, err = expandHome(op.Value)
	return err
}

func setKnownHosts(in *instance, op cli.Opt) error {
	p, err := expandHome(op.Value)
	if err != nil {
		return err
	}
	in.knownHosts = append(in.knownHosts, p)
	return nil
}

func setEvents(in *instance, op cli.Opt) error {
	if op.Value != "json" {
		return usagef("option %s: unknown event format %q (want json)", op.As, op.Value)
	}
	in.events = op.Value
	return nil
}

func setProgress(in *instance, op cli.Opt) (err error) {
	in.progress, err = oneOf(op.As, "progress mode", op.Value, "auto", "bar", "plain", "none")
	return err
}

func setName(s *session, op cli.Opt) error {
	if !validSessionName(op.Value) {
		return usagef("option %s: invalid session name %q (use 1 to 128 of A-Z a-z 0-9 _ -)", op.As, op.Value)
	}
	s.name = op.Value
	return nil
}

func setRemoteDB(s *session, op cli.Opt) error {
	if strings.Contains(op.Value, "://") {
		return usagef("option %s: %s is a URL, and a bucket cannot hold a snapshot database; give a directory: on the server for an SSH -r, on this machine (outside the synchronized trees) otherwise", op.As, op.Value)
	}
	s.remoteDB = op.Value
	return nil
}

func setDirection(s *session, op cli.Opt) (err error) {
	s.Policy.Direction, err = core.ParseDirection(op.Value)
	return err
}

func setOverwrite(s *session, op cli.Opt) (err error) {
	s.Policy.Overwrite, err = core.ParseOverwrite(op.Value)
	return err
}

// setThreads is the setter of a concurrency option (1 to 99) of one side;
// field picks the pair it sets.
func setThreads(field func(s *session) *[2]int, side core.Side) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		n, err := strconv.Atoi(op.Value)
		if err != nil || n < 1 || n > 99 {
			return usagef("option %s: %q is not a number from 1 to 99", op.As, op.Value)
		}
		field(s)[side] = n
		return nil
	}
}

// addRule is the setter of -I (include) and -E.
func addRule(include bool) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		s.rules = append(s.rules, filter.Rule{Include: include, Pattern: op.Value})
		return nil
	}
}

// addRuleFile is the setter of --include-from (include) and --exclude-from.
func addRuleFile(include bool) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		rs, err := filter.ReadFile(op.Value, include, s.openRules)
		if err != nil {
			return err
		}
		s.rules = append(s.rules, rs...)
		return nil
	}
}

func setScanIntensity(s *session, op cli.Opt) error {
	sp, ok := scanIntensities[op.Value]
	if !ok {
		return usagef("option %s: unknown intensity %q (want vlow, low, medium, high or vhigh)", op.As, op.Value)
	}
	s.setScanPause(sp)
	return nil
}

// setScanPause sets the engine's scan pauses and the listers of an
// intensity.
func (s *session) setScanPause(sp scanPause) {
	s.ScanPause, s.ScanPauseEvery, s.scanListers = sp.rest, sp.every, sp.threads
}

func setOldDirs(s *session, op cli.Opt) (err error) {
	s.OldDirs, err = parseTime(op.Value, time.Now())
	return err
}

func setMaxDeletes(s *session, op cli.Opt) error {
	if _, _, err := parseCount(op.Value); err != nil {
		return err
	}
	s.maxDeletes = op.Value
	return nil
}

func setChecksum(s *session, op cli.Opt) (err error) {
	if s.Policy.Checksum, err = core.ParseChecksum(op.Value); err != nil {
		return err
	}
	s.checksumSet = true
	return nil
}

func setSupportResume(s *session, op cli.Opt) (err error) {
	s.SupportResume = 1 << 20
	if op.HasValue {
		if s.SupportResume, err = rate.ParseSize(op.Value); err != nil {
			return err
		}
		s.SupportResume = max(s.SupportResume, 1)
	}
	return nil
}

func setResumeAge(s *session, op cli.Opt) error {
	n, err := strconv.Atoi(op.Value)
	if err != nil || n < 1 {
		return usagef("option %s: %q is not a number of days (1 or more)", op.As, op.Value)
	}
	s.ResumeAge = time.Duration(n) * 24 * time.Hour
	return nil
}

// setWriteID is the setter of --write-gid (group) and --write-uid.
func setWriteID(group bool) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		id, err := lookupID(op.Value, group)
		if err != nil {
			return err
		}
		if group {
			s.Policy.WriteGID = &id
		} else {
			s.Policy.WriteUID = &id
		}
		return nil
	}
}

func setDedup(s *session, op cli.Opt) error {
	switch cmp.Or(op.Value, "hardlink") {
	case "hardlink":
		s.Policy.Dedup = core.DedupHardlink
	case "inode":
		s.Policy.Dedup = core.DedupInode
	case "none":
		s.Policy.Dedup = core.DedupNone
	case "copy":
		s.Policy.Dedup = core.DedupCopy
	default:
		return usagef("option %s: unknown mode %q (want hardlink, inode, copy or none)", op.As, op.Value)
	}
	return nil
}

// setPreserve is the setter of --preserve-xattrs, --preserve-acls and
// their remote forms; field is the policy's flag.
func setPreserve(field func(s *session) *bool) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		switch op.Value {
		case "native":
			*field(s) = true
		case "none":
		case "metafile":
			// Both endpoints of this version keep them natively; a side
			// record is only needed for stores that cannot.
			s.metafileWarn = true
			*field(s) = true
		default:
			return usagef("option %s: unknown mode %q (want native, metafile or none)", op.As, op.Value)
		}
		return nil
	}
}

func setLinks(s *session, op cli.Opt) (err error) {
	if s.Links, err = core.ParseLinkMode(op.Value); err != nil {
		return err
	}
	s.linksSet = true
	return nil
}

// setRate is the setter of a rate in bit/s (-l, -m).
func setRate(field func(s *session) *int64) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) (err error) {
		*field(s), err = rate.ParseRate(op.Value)
		return err
	}
}

func setRatePolicy(s *session, op cli.Opt) (err error) {
	s.ratePolicy, err = rate.ParsePolicy(op.Value)
	s.policyGiven = true
	return err
}

func addThreads(s *session, op cli.Opt) error {
	tc, err := parseThreads(op.Value)
	if err != nil {
		return err
	}
	s.TransferThreads = append(s.TransferThreads, tc)
	return nil
}

// setTags is the setter of --tags and --tags64 (b64).
func setTags(b64 bool) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) (err error) {
		raw := []byte(op.Value)
		if b64 {
			if raw, err = base64.StdEncoding.DecodeString(op.Value); err != nil {
				return usagef("option %s: not base64: %v", op.As, err)
			}
		}
		s.tags, err = parseTags(raw)
		return err
	}
}

// setScanInterval is the setter of --scan-interval (local) and
// --remote-scan-interval.
func setScanInterval(side core.Side) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		d, err := parseDuration(op.Value)
		if err != nil || d <= 0 {
			return usagef("option %s: %q is not a positive duration (e.g. 30s, 10m, 1h)", op.As, op.Value)
		}
		if side == core.Local {
			s.follow.scanEvery = d
		} else {
			s.follow.remoteEvery = d
		}
		return nil
	}
}

// setCooloff is the setter of --cooloff and --cooloff-max (most).
func setCooloff(most bool) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error {
		n, err := strconv.Atoi(op.Value)
		if err != nil || n < 0 || !most && n > 60 {
			return usagef("option %s: %q is not a number of seconds (cooloff: 0 to 60)", op.As, op.Value)
		}
		if most {
			s.follow.cooloffMax = time.Duration(n) * time.Second
		} else {
			s.follow.cooloff = time.Duration(n) * time.Second
		}
		return nil
	}
}

func setNoLog(s *session, op cli.Opt) error {
	if op.Value != "stats" {
		return usagef("option %s: unknown value %q (want stats)", op.As, op.Value)
	}
	s.noLogStats = true
	return nil
}

// portNumber parses a port, 1 to 65535.
func portNumber(op cli.Opt) (int, error) {
	n, err := strconv.Atoi(op.Value)
	if err != nil || n < 1 || n > 65535 {
		return 0, usagef("option %s: %q is not a port number (1 to 65535)", op.As, op.Value)
	}
	return n, nil
}

func setPort(s *session, op cli.Opt) (err error) {
	s.ssh.port, err = portNumber(op)
	return err
}

func setDataPort(s *session, op cli.Opt) (err error) {
	s.ssh.dataPort, err = portNumber(op)
	return err
}

func setKeyFile(s *session, op cli.Opt) error {
	p, err := expandHome(op.Value)
	if err != nil {
		return err
	}
	s.ssh.keyFiles = append(s.ssh.keyFiles, p)
	return nil
}

func setPassword(s *session, op cli.Opt) error {
	s.ssh.password = op.Value
	s.warnings = append(s.warnings, "a password on the command line is visible to other users in the process list; prefer ASPERA_SCP_PASS")
	return nil
}

func setToken(s *session, op cli.Opt) error {
	if !strings.HasPrefix(op.Value, "Basic ") {
		return usagef("option %s: want \"Basic BASE64(id:secret)\"", op.As)
	}
	s.ssh.token = op.Value
	s.warnings = append(s.warnings, "a token on the command line is visible to other users in the process list; prefer ASPERA_SCP_TOKEN")
	return nil
}

func setRemoteLogdir(s *session, op cli.Opt) (err error) {
	if strings.Contains(op.Value, "://") {
		return usagef("option %s: %s is a URL, and a bucket cannot hold a log (a log is appended to line by line, which an object store cannot do); give a directory: on the server for an SSH -r, on this machine (outside the synchronized trees) for a bucket -r", op.As, op.Value)
	}
	s.ssh.logDir, s.ssh.logMB, err = logfile.SplitDir(op.Value)
	return err
}

func setCompression(s *session, op cli.Opt) (err error) {
	s.ssh.compression, err = oneOf(op.As, "compression", op.Value, "none", "zlib", "zstd")
	return err
}

func setDataPath(s *session, op cli.Opt) (err error) {
	choices := []string{"auto", "tcp", "ssh"}
	if os.Getenv(envTransports) == "1" {
		// Measured against tcp and lost (docs/datapath.md).
		choices = append(choices, "udp", "quic")
	}
	s.ssh.dataPath, err = oneOf(op.As, "data path", op.Value, choices...)
	return err
}

func setDataStreams(s *session, op cli.Opt) error {
	n, err := strconv.Atoi(op.Value)
	if err != nil || n < 1 || n > datapath.MaxStreams {
		return usagef("option %s: %q is not a number of streams (1 to %d)", op.As, op.Value, datapath.MaxStreams)
	}
	s.ssh.dataStreams = n
	return nil
}

func setCipher(s *session, op cli.Opt) error {
	c, warning, err := sshCipher(op.Value)
	if err != nil {
		return err
	}
	s.ssh.ciphers = c
	if warning != "" {
		s.warnings = append(s.warnings, warning)
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
// subset ("1w0d0h0m0s", "2d12h"). It is compiled on first use, not at
// every start.
var ibmDuration = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$`)
})

// parseDuration parses async's durations: Go style ("1h30m"), IBM style
// ("1w0d0h0m0s"), or a bare number of seconds.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	}
	if m := ibmDuration().FindStringSubmatch(v); m != nil && v != "" {
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
		if g, err := user.LookupGroup(v); err == nil {
			id = g.Gid
		} else if id = getentID("group", v); id == "" {
			return 0, fmt.Errorf("unknown group %q", v)
		}
	} else {
		if u, err := user.Lookup(v); err == nil {
			id = u.Uid
		} else if id = getentID("passwd", v); id == "" {
			return 0, fmt.Errorf("unknown user %q", v)
		}
	}
	return strconv.Atoi(id)
}

// getentID asks the system's name services (getent: LDAP, sssd, ... as
// well as the files) for the id of a user or group name that the files
// alone do not have (a static build reads only /etc/passwd and
// /etc/group); "" when none knows it.
func getentID(db, name string) string {
	if name == "" || strings.HasPrefix(name, "-") {
		return ""
	}
	out, err := exec.Command("getent", db, name).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Split(line, ":")
	if len(f) < 3 || f[0] != name {
		return ""
	}
	if _, err := strconv.Atoi(f[2]); err != nil {
		return ""
	}
	return f[2]
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

// validTagKey reports whether k is what S3 and the gocloud stores accept
// as a metadata key: a letter or digit, then up to 127 of [A-Za-z0-9_.-].
func validTagKey(k string) bool {
	return len(k) >= 1 && len(k) <= 128 && isAlnum(rune(k[0])) && strings.IndexFunc(k, func(c rune) bool {
		return !isAlnum(c) && c != '_' && c != '.' && c != '-'
	}) < 0
}

// parseTags parses --tags: a JSON object of string values. Keys async
// uses itself (async-*) are refused.
func parseTags(raw []byte) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("malformed JSON (want {\"key\": \"value\", ...}): %v", err)
	}
	for k := range m {
		if !validTagKey(k) {
			return nil, fmt.Errorf("invalid metadata key %q (letters, digits, . _ -)", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "async-") {
			return nil, fmt.Errorf("metadata key %q is reserved for async", k)
		}
	}
	return m, nil
}
