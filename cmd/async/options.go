package main

import "github.com/async-sync/async/internal/cli"

// support says how far an option is built.
type support uint8

const (
	supported support = iota
	warned            // accepted with a warning saying why it has no effect
	refused           // exit 2: not available (yet)
)

// option is one command-line option and how this build handles it.
type option struct {
	cli.Spec
	support support
	why     string // the warning or refusal text for warned and refused options
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

// options lists every option of docs/reference.md §4, in help order.
func options() []option {
	return []option{
		o('A', "version", none, "", gInstance, "print the version and exit"),
		o('h', "help", none, "", gInstance, "print this help and exit"),
		o('D', "debug", none, "", gInstance, "more log detail (-DD: trace)"),
		o('q', "quiet", none, "", gInstance, "no progress and no per-entry lines; errors and conflicts still go to stderr"),
		o('L', "alt-logdir", req, "DIR[:MB]", gInstance, "local log directory, rotated at MB megabytes (10)"),
		o(0, "dry-run", none, "", gInstance, "print the plan and change nothing"),
		o(0, "plan-format", req, "text|json", gInstance, "form of the --dry-run output (text)"),
		o(0, "progress", req, "auto|bar|plain|none", gInstance, "progress display on stderr (auto)"),
		o('v', "verbose", none, "", gInstance, "on a terminal, every per-entry line, however fast they come"),
		o(0, "events", req, "json", gInstance, "one JSON object per line on stdout for each entry, progress each second and a summary per round (docs/events.md)"),
		o(0, "known-hosts", req, "FILE", gInstance, "SSH host keys to trust (~/.ssh/known_hosts)"),
		o(0, "plugin-dir", req, "DIR", gInstance, "where backend plugins (async-backend-SCHEME) are looked up first"),
		o(0, "watchd", opt, "unix:PATH", gInstance, "ask the change journal service (async watchd) what changed instead of scanning a local side"),
		o(0, "apply-local-docroot", none, "", gInstance, "accepted for compatibility").warn("has no effect: the local side has no docroot in async"),
		o(0, "ws-connect", none, "", gInstance, "WebSocket transport to an Aspera server").refuse("is not supported: async has no WebSocket transport"),
		o(0, "conf", req, "JSON", gInstance, "a whole session in IBM's /asyncs JSON form").refuse(notYet),
		o(0, "conf64", req, "BASE64", gInstance, "as --conf, base64-encoded").refuse(notYet),

		o('N', "name", req, "NAME", gSession, "session name ([A-Za-z0-9_-], at most 128); starts a session"),
		o('d', "local-dir", req, "ENDPOINT", gSession, "local endpoint: a path or file:///path"),
		o('r', "remote-dir", req, "ENDPOINT", gSession, "remote endpoint: a path, file:///path, [user@]host:path or ssh://user@host:port/path"),
		o(0, "user", req, "USER", gSession, "user of the remote endpoint"),
		o(0, "host", req, "HOST", gSession, "host of the remote endpoint"),
		o('P', "tcp-port", req, "PORT", gSession, "SSH port (22)"),
		o(0, "create-dir", none, "", gSession, "create a missing local or remote root"),
		o('b', "local-db-dir", req, "DIR", gSession, "local snapshot directory (LOCAL/.private-asp/NAME)"),
		o('B', "remote-db-dir", req, "DIR", gSession, "remote snapshot directory (REMOTE/.private-asp/NAME)"),
		o('R', "remote-logdir", req, "DIR[:MB]", gSession, "remote log directory: on the server for an SSH -r (default STATE/log there), on this machine for a local, bucket or plugin -r"),
		o(0, "local-db-store-dir", req, "DIR", gSession, "copy the local snapshot there after each run; restore it from there when missing"),
		o(0, "remote-db-store-dir", req, "DIR", gSession, "the same for the remote snapshot"),
		o(0, "keep-dir-local", req, "DIR", gSession, "move what sync deletes or replaces locally into DIR (inside the local tree, not synchronized)"),
		o(0, "keep-dir-remote", req, "DIR", gSession, "move what sync deletes or replaces remotely into DIR (inside the remote tree, not synchronized)"),
		o(0, "local-mount-signature", req, "FILE", gSession, "refuse to run (exit 1) unless FILE exists on the local side (relative: to its root)"),
		o(0, "remote-mount-signature", req, "FILE", gSession, "refuse to run (exit 1) unless FILE exists on the remote side (relative: to its root)"),
		o('x', "reset", none, "", gSession, "drop this session's snapshots and start from scans"),

		o('i', "private-key-path", req, "FILE", gAuth, "SSH private key (repeatable)"),
		o('w', "password", req, "PASS", gAuth, "SSH password (visible to other users; prefer ASPERA_SCP_PASS)"),
		o('W', "token", req, "TOKEN", gAuth, "access-key token \"Basic BASE64(id:secret)\" (also ASPERA_SCP_TOKEN)"),
		o(0, "cookie", req, "STRING", gAuth, "opaque string passed to the agent and logged (also ASPERA_SCP_COOKIE)"),
		o(0, "proxy", req, "URL", gAuth, "Aspera proxy").refuse("is not supported: async does not use Aspera proxies"),
		o(0, "sftp", none, "", gAuth, "use plain SFTP instead of the remote agent (snapshot kept locally)"),

		o('K', "direction", req, "push|pull|bidi", gMode, "direction (push)"),
		o('C', "continuous", none, "", gMode, "keep running and follow changes (watched sources, else rescans)"),
		o('o', "overwrite", req, "always|older|conflict", gMode, "overwrite policy (always; conflict with bidi)"),
		o(0, "mirror", none, "", gMode, "make the destination an exact copy of the source"),

		o(0, "scan-interval", req, "DURATION", gScan, "with -C, a full rescan of the local side this often (off)"),
		o(0, "remote-scan-interval", req, "DURATION", gScan, "with -C, a full rescan of the remote side this often (10m for sides that cannot watch)"),
		o('H', "scan-intensity", req, "vlow|low|medium|high|vhigh", gScan, "how hard scans may load the disk (medium): pauses between directory batches, none at vhigh"),
		o(0, "scan-threads", req, "N", gScan, "local directory scan concurrency (1-99)"),
		o(0, "remote-scan-threads", req, "N", gScan, "remote directory scan concurrency (1-99)"),
		o(0, "local-checksum-threads", req, "N", gScan, "local hashing concurrency (1-99, 4)"),
		o(0, "remote-checksum-threads", req, "N", gScan, "remote hashing concurrency (1-99, 4)"),
		o(0, "local-fs-threads", req, "N", gScan, "local metadata operation concurrency (1-99)").warn("has no effect: metadata operations run on the transfer workers (--transfer-threads)"),
		o(0, "remote-fs-threads", req, "N", gScan, "remote metadata operation concurrency (1-99)").warn("has no effect: metadata operations run on the transfer workers (--transfer-threads)"),
		o(0, "no-scan", none, "", gScan, "trust the snapshot and skip the first scan").warn("has no effect: the first sync always scans, so that nothing changed while async was stopped goes unseen"),
		o(0, "resume-scan", none, "", gScan, "continue an interrupted first scan").warn("has no effect: scans are not kept between runs, an interrupted one starts over"),
		o(0, "assume-no-mods", none, "", gScan, "do not list directories whose own mtime is unchanged (changes inside existing files there go unseen)"),
		o(0, "local-force-stat", none, "", gScan, "stat every local entry").warn("has no effect: every scan stats every entry"),
		o(0, "remote-force-stat", none, "", gScan, "stat every remote entry").warn("has no effect: every scan stats every entry"),
		o(0, "scan-file-rename", none, "", gScan, "detect renamed and moved files"),
		o(0, "scan-dir-rename", none, "", gScan, "detect renamed and moved directories"),
		o(0, "exclude-dirs-older-than", req, "TIME", gScan, "leave out directories whose newest recorded mtime (recursive) is older: a duration (4h, 1w0d, 300) or an RFC 3339 time"),
		o(0, "cooloff", req, "SECONDS", gScan, "with -C, transfer a file once it stopped changing for this long (0-60, 3)"),
		o(0, "cooloff-max", req, "SECONDS", gScan, "with -C, report a file that never settles as ERROR after this long (0: never)"),
		o(0, "sharing-retry-max", req, "N", gScan, "retries for a file that cannot be opened").warn("has no effect: a file that cannot be opened is an ERROR, tried again on the next run or round"),
		o(0, "pending-max", req, "N", gScan, "most entries queued for transfer at once").warn("has no effect: the transfer workers take actions straight from the plan; nothing is queued"),

		o(0, "ignore-delete", none, "", gDelete, "never propagate deletions"),
		o(0, "delete-delay", none, "", gDelete, "run all deletions after all transfers (the default order)"),
		o(0, "delete-before", none, "", gDelete, "run deletions before transfers"),
		o(0, "remove-after-transfer", none, "", gDelete, "delete each source file once synchronized (push and pull)"),
		o(0, "max-deletes", req, "N|N%", gDelete, "stop before a plan deletes more than this"),
		o(0, "force-deletes", none, "", gDelete, "run despite --max-deletes or an emptied root"),
		o(0, "dedup", opt, "MODE", gDelete, "duplicates at the source: hardlink (bare) or copy (both need -k sha1|md5|sha256), inode (mirror hard links) or none"),
		o('I', "include", req, "PATTERN", gDelete, "include rule (rules apply in command-line order; the first match decides)"),
		o('E', "exclude", req, "PATTERN", gDelete, "exclude rule"),
		o(0, "include-from", req, "FILE", gDelete, "rules from FILE, plain lines include (- for stdin)"),
		o(0, "exclude-from", req, "FILE", gDelete, "rules from FILE, plain lines exclude (- for stdin)"),
		o(0, "clean-excluded", none, "", gDelete, "drop snapshot records of excluded entries (deletes no file)"),

		o('k', "checksum", req, "ALGO", gContent, "sha1|md5|sha1_sparse|md5_sparse|sha256|none (sha1_sparse on filesystems)"),
		o('t', "preserve-time", none, "", gContent, "preserve modification times"),
		o(0, "preserve-modification-time", none, "", gContent, "preserve modification times"),
		o(0, "preserve-access-time", none, "", gContent, "give written files their source's access time"),
		o(0, "preserve-creation-time", none, "", gContent, "preserve creation times").warn("has no effect: Linux cannot set creation times"),
		o('u', "preserve-uid", none, "", gContent, "preserve owners by number (needs privilege)"),
		o('j', "preserve-gid", none, "", gContent, "preserve groups by number"),
		o(0, "write-uid", req, "NAME|ID", gContent, "owner of every written entry (needs privilege)"),
		o(0, "write-gid", req, "NAME|ID", gContent, "group of every written entry"),
		o(0, "preserve-acls", req, "native|metafile|none", gContent, "POSIX ACLs (none)"),
		o(0, "remote-preserve-acls", req, "native|metafile|none", gContent, "POSIX ACLs on the remote side (as --preserve-acls)"),
		o(0, "preserve-xattrs", req, "native|metafile|none", gContent, "extended attributes (none)"),
		o(0, "remote-preserve-xattrs", req, "native|metafile|none", gContent, "extended attributes on the remote side (as --preserve-xattrs)"),
		o(0, "store-metadata-records", none, "", gContent, "keep ACL/xattr records in the snapshot").warn("has no effect: both endpoints keep ACLs and extended attributes natively"),
		o(0, "ignore-mode", none, "", gContent, "do not propagate permission changes after the first copy"),
		o(0, "no-preserve-root-attrs", none, "", gContent, "leave the roots' attributes alone").warn("has no effect: async never changes the roots' attributes"),
		o(0, "preserve-object-metadata", none, "", gContent, "copy user metadata between object stores").warn("has no effect yet: between buckets async copies its own metadata (mtime, mode), not the objects' other user metadata"),
		o(0, "tags", req, "JSON", gContent, "user metadata set on every object written to a bucket: {\"key\": \"value\", ...}"),
		o(0, "tags64", req, "BASE64", gContent, "as --tags, base64-encoded"),
		o('n', "symbolic-links", req, "copy|follow|skip", gContent, "symbolic links (copy)"),

		o('l', "target-rate", req, "RATE", gTransfer, "ceiling of the transfer rate, bit/s with k, m, g (no limit)"),
		o('m', "min-rate", req, "RATE", gTransfer, "with -l, the floor the rate policy never goes under (0)"),
		o('a', "rate-policy", req, "fixed|high|fair|low", gTransfer, "with -l: fixed holds the rate; high, fair, low yield to other traffic, least to most (fair)"),
		o(0, "transfer-threads", req, "N[:SIZE]", gTransfer, "N workers for files up to SIZE (repeatable; 2 per CPU, 2 to 8)"),
		o('c', "cipher", req, "CIPHER", gTransfer, "SSH cipher preference: aes128|aes192|aes256[cfb|gcm]"),
		o(0, "compression", req, "none|zlib|zstd", gTransfer, "compress what travels on the SSH agent transport (none)"),
		o(0, "support-resume", opt, "MINSIZE", gTransfer, "keep partial files of at least MINSIZE (1m) from interrupted transfers and resume them next run"),
		o(0, "resume-age-days", req, "N", gTransfer, "delete partial files older than N days when found (5)"),
		o(0, "data-path", req, "auto|tcp|ssh", gTransfer, "how file content travels to and from an SSH server: sealed parallel TCP streams beside SSH (tcp), SSH only (ssh), or tcp falling back to ssh with a warning (auto)"),
		o(0, "data-streams", req, "N", gTransfer, "parallel TCP streams of the data path, 1 to 32 (4)"),
		o('O', "udp-port", req, "PORT", gTransfer, "port the server's agent listens on for the data path (its choice, within the server's data_ports)"),
		o('Z', "datagram-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o('g', "read-block-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o('G', "write-block-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o('X', "rexmsg-size", req, "BYTES", gTransfer, "FASP tuning").warn(fasp),
		o(0, "raw-options", req, "OPTIONS", gTransfer, "ascp arguments").warn("passes options to ascp, which async does not use"),
		o(0, "local-move-cache-timeout", req, "SECONDS", gTransfer, "transfer cache").warn("has no effect: async has no transfer cache"),
		o(0, "remote-move-cache-timeout", req, "SECONDS", gTransfer, "transfer cache").warn("has no effect: async has no transfer cache"),
		o(0, "no-log", req, "stats", gTransfer, "no periodic statistics records in the log"),
	}
}
