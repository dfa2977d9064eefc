package main

import (
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/cli"
)

// support says how far an option is built.
type support uint8

const (
	supported support = iota
	warned            // accepted with a warning saying why it has no effect
	refused           // exit 2: not available (yet)
)

// scope says where an option applies.
type scope uint8

const (
	forInstance scope = iota // the process: every session (before the first -N)
	forSession               // one session (after its -N)
	forSSH                   // one session's SSH endpoint: warned about when -r is not one
)

// option is one command-line option: its spelling and help (cli.Spec),
// where it applies, how this build handles it, and the setter that
// stores its value. The table of options() is the only place an option
// is declared: parsing, -h, the man page (docs/async.1), the manual's
// option check and shell completion all read it.
type option struct {
	cli.Spec
	scope   scope
	support support
	why     string // the warning or refusal text for warned and refused options
	// setIn stores an instance option's value; setS a session option's.
	// An error that is not a usage error is reported as "option AS: err".
	setIn func(in *instance, op cli.Opt) error
	setS  func(s *session, op cli.Opt) error
}

const (
	gInstance = "Instance options (before the first -N)"
	gSession  = "Session: identity, endpoints, state"
	gAuth     = "Session: authentication"
	gMode     = "Session: direction and mode"
	gScan     = "Session: scanning and change detection"
	gDelete   = "Session: deletions and filters"
	gContent  = "Session: content and attributes"
	gTransfer = "Session: transfer and rate"
)

const (
	none = cli.ArgNone
	req  = cli.ArgRequired
	opt  = cli.ArgOptional
)

// Reasons shown for options that this build accepts but cannot honour yet.
const (
	notYet      = "is not available in this version of async yet"
	fasp        = "tunes Aspera's FASP UDP transport, which async does not use"
	noEffectYet = "has no effect in this version of async yet"
)

func o(short rune, long string, arg cli.Arg, value, group, help string) option {
	return option{Spec: cli.Spec{Short: short, Long: long, Arg: arg, ValueName: value, Group: group, Help: help}}
}

func (op option) warn(why string) option   { op.support, op.why = warned, why; return op }
func (op option) refuse(why string) option { op.support, op.why = refused, why; return op }

// in makes op an instance option stored by set.
func (op option) in(set func(in *instance, op cli.Opt) error) option {
	op.scope, op.setIn = forInstance, set
	return op
}

// to makes op a session option stored by set.
func (op option) to(set func(s *session, op cli.Opt) error) option {
	op.scope, op.setS = forSession, set
	return op
}

// ssh makes op a session option of SSH endpoints stored by set.
func (op option) ssh(set func(s *session, op cli.Opt) error) option {
	op.scope, op.setS = forSSH, set
	return op
}

// values lists the values a shell offers for op, when its value name
// does not spell them.
func (op option) values(words ...string) option { op.Values = words; return op }

// on is the setter of a session flag: the field f points to becomes true.
func on(f func(s *session) *bool) func(*session, cli.Opt) error {
	return func(s *session, _ cli.Opt) error { *f(s) = true; return nil }
}

// onIn is the setter of an instance flag.
func onIn(f func(in *instance) *bool) func(*instance, cli.Opt) error {
	return func(in *instance, _ cli.Opt) error { *f(in) = true; return nil }
}

// text is the setter of a session option kept as given.
func text(f func(s *session) *string) func(*session, cli.Opt) error {
	return func(s *session, op cli.Opt) error { *f(s) = op.Value; return nil }
}

// options lists every option of docs/reference.md §4, in help order.
func options() []option {
	return []option{
		o('A', "version", none, "", gInstance, "print the version and exit").in(onIn(func(in *instance) *bool { return &in.version })),
		o('h', "help", none, "", gInstance, "print this help and exit").in(onIn(func(in *instance) *bool { return &in.help })),
		o('D', "debug", none, "", gInstance, "more log detail (-DD: trace)").in(func(in *instance, _ cli.Opt) error { in.debug++; return nil }),
		o('q', "quiet", none, "", gInstance, "no progress and no per-entry lines; errors and conflicts still go to stderr").in(onIn(func(in *instance) *bool { return &in.quiet })),
		o('L', "alt-logdir", req, "DIR[:MB]", gInstance, "local log directory, rotated at MB megabytes (10)").in(setAltLogdir),
		o(0, "dry-run", none, "", gInstance, "print the plan and change nothing").in(onIn(func(in *instance) *bool { return &in.dryRun })),
		o(0, "plan-format", req, "text|json", gInstance, "form of the --dry-run output (text)").in(setPlanFormat),
		o(0, "progress", req, "auto|bar|plain|none", gInstance, "progress display on stderr (auto)").in(setProgress),
		o('v', "verbose", none, "", gInstance, "on a terminal, every per-entry line, however fast they come").in(onIn(func(in *instance) *bool { return &in.verbose })),
		o(0, "events", req, "json", gInstance, "one JSON object per line on stdout for each entry, progress each second and a summary per round (docs/events.md)").in(setEvents),
		o(0, "known-hosts", req, "FILE", gInstance, "SSH host keys to trust (~/.ssh/known_hosts)").in(setKnownHosts),
		o(0, "plugin-dir", req, "DIR", gInstance, "where backend plugins (async-backend-SCHEME) are looked up first").in(setPluginDir),
		o(0, "watchd", opt, "unix:PATH", gInstance, "ask the change journal service (async watchd) what changed instead of scanning a local side").in(setWatchd),
		o(0, "apply-local-docroot", none, "", gInstance, "accepted for compatibility").warn("has no effect: the local side has no docroot in async"),
		o(0, "ws-connect", none, "", gInstance, "WebSocket transport to an Aspera server").refuse("is not supported: async has no WebSocket transport"),
		o(0, "conf", req, "JSON", gInstance, "a whole session in IBM's /asyncs JSON form").refuse(notYet),
		o(0, "conf64", req, "BASE64", gInstance, "as --conf, base64-encoded").refuse(notYet),

		o('N', "name", req, "NAME", gSession, "session name ([A-Za-z0-9_-], at most 128); starts a session").to(setName),
		o('d', "local-dir", req, "ENDPOINT", gSession, "local endpoint: a path or file:///path").to(text(func(s *session) *string { return &s.local })),
		o('r', "remote-dir", req, "ENDPOINT", gSession, "remote endpoint: a path, file:///path, [user@]host:path or ssh://user@host:port/path").to(text(func(s *session) *string { return &s.remote })),
		o(0, "user", req, "USER", gSession, "user of the remote endpoint").to(text(func(s *session) *string { return &s.user })),
		o(0, "host", req, "HOST", gSession, "host of the remote endpoint").to(text(func(s *session) *string { return &s.host })),
		o('P', "tcp-port", req, "PORT", gSession, "SSH port (22)").ssh(setPort),
		o(0, "create-dir", none, "", gSession, "create a missing local or remote root").to(on(func(s *session) *bool { return &s.createDir })),
		o('b', "local-db-dir", req, "DIR", gSession, "local snapshot directory (LOCAL/.private-asp/NAME)").to(text(func(s *session) *string { return &s.localDB })),
		o('B', "remote-db-dir", req, "DIR", gSession, "remote snapshot directory (REMOTE/.private-asp/NAME)").to(setRemoteDB),
		o('R', "remote-logdir", req, "DIR[:MB]", gSession, "remote log directory: on the server for an SSH -r (default STATE/log there), on this machine for a local, bucket or plugin -r").ssh(setRemoteLogdir),
		o(0, "local-db-store-dir", req, "DIR", gSession, "copy the local snapshot there after each run; restore it from there when missing").to(text(func(s *session) *string { return &s.storeDir[core.Local] })),
		o(0, "remote-db-store-dir", req, "DIR", gSession, "the same for the remote snapshot").to(text(func(s *session) *string { return &s.storeDir[core.Remote] })),
		o(0, "keep-dir-local", req, "DIR", gSession, "move what sync deletes or replaces locally into DIR (inside the local tree, not synchronized)").to(text(func(s *session) *string { return &s.keepDir[core.Local] })),
		o(0, "keep-dir-remote", req, "DIR", gSession, "move what sync deletes or replaces remotely into DIR (inside the remote tree, not synchronized)").to(text(func(s *session) *string { return &s.keepDir[core.Remote] })),
		o(0, "local-mount-signature", req, "FILE", gSession, "refuse to run (exit 1) unless FILE exists on the local side (relative: to its root)").to(text(func(s *session) *string { return &s.mountSig[core.Local] })),
		o(0, "remote-mount-signature", req, "FILE", gSession, "refuse to run (exit 1) unless FILE exists on the remote side (relative: to its root)").to(text(func(s *session) *string { return &s.mountSig[core.Remote] })),
		o('x', "reset", none, "", gSession, "drop this session's snapshots and start from scans").to(on(func(s *session) *bool { return &s.reset })),

		o('i', "private-key-path", req, "FILE", gAuth, "SSH private key (repeatable)").ssh(setKeyFile),
		o('w', "password", req, "PASS", gAuth, "SSH password (visible to other users; prefer ASPERA_SCP_PASS)").ssh(setPassword),
		o('W', "token", req, "TOKEN", gAuth, "access-key token \"Basic BASE64(id:secret)\" (also ASPERA_SCP_TOKEN)").ssh(setToken),
		o(0, "cookie", req, "STRING", gAuth, "opaque string passed to the agent and logged (also ASPERA_SCP_COOKIE)").ssh(text(func(s *session) *string { return &s.ssh.cookie })),
		o(0, "proxy", req, "URL", gAuth, "Aspera proxy").refuse("is not supported: async does not use Aspera proxies"),
		o(0, "sftp", none, "", gAuth, "use plain SFTP instead of the remote agent (snapshot kept locally)").ssh(on(func(s *session) *bool { return &s.ssh.sftp })),

		o('K', "direction", req, "push|pull|bidi", gMode, "direction (push)").to(setDirection),
		o('C', "continuous", none, "", gMode, "keep running and follow changes (watched sources, else rescans)").to(on(func(s *session) *bool { return &s.follow.on })),
		o('o', "overwrite", req, "always|older|conflict", gMode, "overwrite policy (always; conflict with bidi)").to(setOverwrite),
		o(0, "mirror", none, "", gMode, "make the destination an exact copy of the source").to(on(func(s *session) *bool { return &s.Policy.Mirror })),

		o(0, "scan-interval", req, "DURATION", gScan, "with -C, a full rescan of the local side this often (off)").to(setScanInterval(core.Local)),
		o(0, "remote-scan-interval", req, "DURATION", gScan, "with -C, a full rescan of the remote side this often (10m for sides that cannot watch)").to(setScanInterval(core.Remote)),
		o('H', "scan-intensity", req, "vlow|low|medium|high|vhigh", gScan, "how hard scans may load the disk (medium): pauses between directory batches, none at vhigh").to(setScanIntensity),
		o(0, "scan-threads", req, "N", gScan, "local directory scan concurrency (1-99)").to(setThreads(func(s *session) *[2]int { return &s.scanThreads }, core.Local)),
		o(0, "remote-scan-threads", req, "N", gScan, "remote directory scan concurrency (1-99)").to(setThreads(func(s *session) *[2]int { return &s.scanThreads }, core.Remote)),
		o(0, "local-checksum-threads", req, "N", gScan, "local hashing concurrency (1-99, 4)").to(setThreads(func(s *session) *[2]int { return &s.checksumThread }, core.Local)),
		o(0, "remote-checksum-threads", req, "N", gScan, "remote hashing concurrency (1-99, 4)").to(setThreads(func(s *session) *[2]int { return &s.checksumThread }, core.Remote)),
		o(0, "local-fs-threads", req, "N", gScan, "local metadata operation concurrency (1-99)").warn("has no effect: metadata operations run on the transfer workers (--transfer-threads)"),
		o(0, "remote-fs-threads", req, "N", gScan, "remote metadata operation concurrency (1-99)").warn("has no effect: metadata operations run on the transfer workers (--transfer-threads)"),
		o(0, "no-scan", none, "", gScan, "trust the snapshot and skip the first scan").warn("has no effect: the first sync always scans, so that nothing changed while async was stopped goes unseen"),
		o(0, "resume-scan", none, "", gScan, "continue an interrupted first scan").warn("has no effect: scans are not kept between runs, an interrupted one starts over"),
		o(0, "assume-no-mods", none, "", gScan, "do not list directories whose own mtime is unchanged (changes inside existing files there go unseen)").to(on(func(s *session) *bool { return &s.AssumeNoMods })),
		o(0, "local-force-stat", none, "", gScan, "stat every local entry").warn("has no effect: every scan stats every entry"),
		o(0, "remote-force-stat", none, "", gScan, "stat every remote entry").warn("has no effect: every scan stats every entry"),
		o(0, "scan-file-rename", none, "", gScan, "detect renamed and moved files").to(on(func(s *session) *bool { return &s.Policy.RenameFiles })),
		o(0, "scan-dir-rename", none, "", gScan, "detect renamed and moved directories").to(on(func(s *session) *bool { return &s.Policy.RenameDirs })),
		o(0, "exclude-dirs-older-than", req, "TIME", gScan, "leave out directories whose newest recorded mtime (recursive) is older: a duration (4h, 1w0d, 300) or an RFC 3339 time").to(setOldDirs),
		o(0, "cooloff", req, "SECONDS", gScan, "with -C, transfer a file once it stopped changing for this long (0-60, 3)").to(setCooloff(false)),
		o(0, "cooloff-max", req, "SECONDS", gScan, "with -C, report a file that never settles as ERROR after this long (0: never)").to(setCooloff(true)),
		o(0, "sharing-retry-max", req, "N", gScan, "retries for a file that cannot be opened").warn("has no effect: a file that cannot be opened is an ERROR, tried again on the next run or round"),
		o(0, "pending-max", req, "N", gScan, "most entries queued for transfer at once").warn("has no effect: the transfer workers take actions straight from the plan; nothing is queued"),

		o(0, "ignore-delete", none, "", gDelete, "never propagate deletions").to(on(func(s *session) *bool { return &s.Policy.IgnoreDelete })),
		o(0, "delete-delay", none, "", gDelete, "run all deletions after all transfers (the default order)").to(func(*session, cli.Opt) error { return nil }),
		o(0, "delete-before", none, "", gDelete, "run deletions before transfers").to(on(func(s *session) *bool { return &s.DeleteBefore })),
		o(0, "remove-after-transfer", none, "", gDelete, "delete each source file once synchronized (push and pull)").to(on(func(s *session) *bool { return &s.RemoveAfterTransfer })),
		o(0, "max-deletes", req, "N|N%", gDelete, "stop before a plan deletes more than this").to(setMaxDeletes),
		o(0, "force-deletes", none, "", gDelete, "run despite --max-deletes or an emptied root").to(on(func(s *session) *bool { return &s.ForceDeletes })),
		o(0, "dedup", opt, "MODE", gDelete, "duplicates at the source: hardlink (bare) or copy (both need -k sha1|md5|sha256), inode (mirror hard links) or none").to(setDedup).values("hardlink", "inode", "copy", "none"),
		o('I', "include", req, "PATTERN", gDelete, "include rule (rules apply in command-line order; the first match decides)").to(addRule(true)),
		o('E', "exclude", req, "PATTERN", gDelete, "exclude rule").to(addRule(false)),
		o(0, "include-from", req, "FILE", gDelete, "rules from FILE, plain lines include (- for stdin)").to(addRuleFile(true)),
		o(0, "exclude-from", req, "FILE", gDelete, "rules from FILE, plain lines exclude (- for stdin)").to(addRuleFile(false)),
		o(0, "clean-excluded", none, "", gDelete, "drop snapshot records of excluded entries (deletes no file)").to(on(func(s *session) *bool { return &s.CleanExcluded })),

		o('k', "checksum", req, "ALGO", gContent, "sha1|md5|sha1_sparse|md5_sparse|sha256|none (sha1_sparse on filesystems)").to(setChecksum).values("sha1", "md5", "sha1_sparse", "md5_sparse", "sha256", "none"),
		o('t', "preserve-time", none, "", gContent, "preserve modification times").to(on(func(s *session) *bool { return &s.Policy.PreserveTime })),
		o(0, "preserve-modification-time", none, "", gContent, "preserve modification times").to(on(func(s *session) *bool { return &s.Policy.PreserveTime })),
		o(0, "preserve-access-time", none, "", gContent, "give written files their source's access time").to(on(func(s *session) *bool { return &s.Policy.PreserveATime })),
		o(0, "preserve-creation-time", none, "", gContent, "preserve creation times").warn("has no effect: Linux cannot set creation times"),
		o('u', "preserve-uid", none, "", gContent, "preserve owners by number (needs privilege)").to(on(func(s *session) *bool { return &s.Policy.PreserveUID })),
		o('j', "preserve-gid", none, "", gContent, "preserve groups by number").to(on(func(s *session) *bool { return &s.Policy.PreserveGID })),
		o(0, "write-uid", req, "NAME|ID", gContent, "owner of every written entry (needs privilege)").to(setWriteID(false)),
		o(0, "write-gid", req, "NAME|ID", gContent, "group of every written entry").to(setWriteID(true)),
		o(0, "preserve-acls", req, "native|metafile|none", gContent, "POSIX ACLs (none)").to(setPreserve(func(s *session) *bool { return &s.Policy.PreserveACLs })),
		o(0, "remote-preserve-acls", req, "native|metafile|none", gContent, "POSIX ACLs on the remote side (as --preserve-acls)").to(setPreserve(func(s *session) *bool { return &s.Policy.PreserveACLs })),
		o(0, "preserve-xattrs", req, "native|metafile|none", gContent, "extended attributes (none)").to(setPreserve(func(s *session) *bool { return &s.Policy.PreserveXattrs })),
		o(0, "remote-preserve-xattrs", req, "native|metafile|none", gContent, "extended attributes on the remote side (as --preserve-xattrs)").to(setPreserve(func(s *session) *bool { return &s.Policy.PreserveXattrs })),
		o(0, "store-metadata-records", none, "", gContent, "keep ACL/xattr records in the snapshot").warn("has no effect: both endpoints keep ACLs and extended attributes natively"),
		o(0, "ignore-mode", none, "", gContent, "do not propagate permission changes after the first copy").to(on(func(s *session) *bool { return &s.Policy.IgnoreMode })),
		o(0, "no-preserve-root-attrs", none, "", gContent, "leave the roots' attributes alone").warn("has no effect: async never changes the roots' attributes"),
		o(0, "preserve-object-metadata", none, "", gContent, "copy user metadata between object stores").warn("has no effect yet: between buckets async copies its own metadata (mtime, mode), not the objects' other user metadata"),
		o(0, "tags", req, "JSON", gContent, "user metadata set on every object written to a bucket: {\"key\": \"value\", ...}").to(setTags(false)),
		o(0, "tags64", req, "BASE64", gContent, "as --tags, base64-encoded").to(setTags(true)),
		o('n', "symbolic-links", req, "copy|follow|skip", gContent, "symbolic links (copy)").to(setLinks),

		o('l', "target-rate", req, "RATE", gTransfer, "ceiling of the transfer rate, bit/s with k, m, g (no limit)").to(setRate(func(s *session) *int64 { return &s.targetRate })),
		o('m', "min-rate", req, "RATE", gTransfer, "with -l, the floor the rate policy never goes under (0)").to(setRate(func(s *session) *int64 { return &s.minRate })),
		o('a', "rate-policy", req, "fixed|high|fair|low", gTransfer, "with -l: fixed holds the rate; high, fair, low yield to other traffic, least to most (fair)").to(setRatePolicy),
		o(0, "transfer-threads", req, "N[:SIZE]", gTransfer, "N workers for files up to SIZE (repeatable; 2 per CPU, 2 to 8)").to(addThreads),
		o('c', "cipher", req, "CIPHER", gTransfer, "SSH cipher preference: aes128|aes192|aes256[cfb|gcm]").ssh(setCipher).values("none", "aes128", "aes192", "aes256", "aes128cfb", "aes192cfb", "aes256cfb", "aes128gcm", "aes192gcm", "aes256gcm"),
		o(0, "compression", req, "none|zlib|zstd", gTransfer, "compress what travels on the SSH agent transport (none)").ssh(setCompression),
		o(0, "support-resume", opt, "MINSIZE", gTransfer, "keep partial files of at least MINSIZE (1m) from interrupted transfers and resume them next run").to(setSupportResume),
		o(0, "resume-age-days", req, "N", gTransfer, "delete partial files older than N days when found (5)").to(setResumeAge),
		o(0, "data-path", req, "auto|tcp|ssh", gTransfer, "how file content travels to and from an SSH server: sealed parallel TCP streams beside SSH (tcp), SSH only (ssh), or tcp falling back to ssh with a warning (auto)").ssh(setDataPath),
		o(0, "data-streams", req, "N", gTransfer, "parallel TCP streams of the data path, 1 to 32 (4)").ssh(setDataStreams),
		o('O', "udp-port", req, "PORT", gTransfer, "port the server's agent listens on for the data path (its choice, within the server's data_ports)").ssh(setDataPort),
		o('Z', "datagram-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o('g', "read-block-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o('G', "write-block-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o('X', "rexmsg-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o(0, "raw-options", req, "OPTIONS", gTransfer, "ascp arguments").warn("passes options to ascp, which async does not use"),
		o(0, "local-move-cache-timeout", req, "SECONDS", gTransfer, "transfer cache").warn("has no effect: async has no transfer cache"),
		o(0, "remote-move-cache-timeout", req, "SECONDS", gTransfer, "transfer cache").warn("has no effect: async has no transfer cache"),
		o(0, "no-log", req, "stats", gTransfer, "no periodic statistics records in the log").to(setNoLog),
	}
}
