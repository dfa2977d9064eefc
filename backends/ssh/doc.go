// Package ssh is async's backend for an SSH server: it connects (Dial),
// and starts or installs the agent (`async server --stdio`) that the
// client runs on the server over the SSH session, like `rsync --server`.
// The agent scans, hashes, reads and writes there through the local
// backend, and keeps the remote snapshot (-B) and log (-R), so that only
// entries and changed content cross the network. Package sftpfs is the
// fallback when the agent cannot run.
//
// The jobs live in packages of their own: this one dials and installs;
// protocol is the wire format both ends speak; agent is the server side
// (the command wires the local backend into it); client is the
// core.Backend over the protocol, which StartAgent returns; datapath is
// the WAN data path's transport.
//
// # Connecting
//
// Dial logs in with golang.org/x/crypto/ssh: keys from -i, then the
// ssh-agent's, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa, then a password
// (ASPERA_SCP_PASS, -w, or asked on a terminal). The host key must be in
// known_hosts (~/.ssh/known_hosts or --known-hosts); an unknown or changed
// key is a HostKeyError that shows the key's SHA256 fingerprint and how to
// trust it. Nothing is ever accepted silently.
//
// StartAgent runs, in one shell command, the agent installed for this
// client's exact build (~/.cache/async/agent/pPROTOCOL-DIGEST/async), or
// else an `async` on the server's PATH. When neither answers the hello
// with this protocol version, it uploads its own binary (or
// async-GOOS-GOARCH found beside it, for another platform) to that cache
// directory, checks its SHA-256 there, and runs it. The exec request asks
// for no reply and the hello follows it at once (the server takes a
// channel's messages in order), so starting the agent costs no round
// trip of its own; a command that fails closes the channel, and the
// hello's error carries what it wrote on stderr.
//
// At the end the client closes the agent's stdin and waits for it to
// exit, unless it holds nothing a next run could meet: its snapshot's
// close answered (durable and unlocked), no request and no data path
// under way. Then it detaches, and the agent exits on its own at the end
// of its input.
//
// # Docroot
//
// With a docroot configured for the user (the agent's configuration
// file), or a -W token (its access key's root), the session is confined:
// the docroot is shown to the client as "/", every remote path (-r, -B,
// -R) is resolved inside it with os.Root, so that neither ".." nor a
// symbolic link (planted before, or swapped in during a request) leads
// out, and the local backend's openat2 RESOLVE_BENEATH keeps every later
// operation inside the sync root. A path that would leave is refused
// with ErrOutsideDocroot. A token session's snapshots and logs under a
// configured db_dir or log_dir live in a directory of their key
// (key-ID), so one key never reaches another's.
//
// Without either there is no docroot: remote paths are the server's own
// (relative ones relative to the home directory), reachable as far as
// the user's permissions allow, as with ssh, scp and rsync. ".." is
// refused in both cases.
//
// The agent's own files (log, snapshot directory, its pid and lock) are
// opened through the directory's os.Root; a snapshot directory holding a
// symbolic link is refused, and so is a log that is one.
//
// # Protocol (version 4)
//
// Client and agent exchange frames over the session's stdin and stdout:
//
//	length  uint32, big endian: the size of what follows
//	op      1 byte: the operation (requests below 100, replies from 100);
//	        the high bit set: the payload is compressed (--compression)
//	id      uvarint: the request id; replies carry their request's id
//	payload the operation's fields, in order
//
// Field encodings: unsigned integers are uvarints, signed ones zig-zag
// varints; strings and byte strings are a uvarint length and the bytes;
// booleans one byte; times int64 Unix nanoseconds as a varint (the
// smallest int64 for "no time"). An entry is path, type, size, mtime,
// atime, mode, uid, gid, link target, hash, change token, file id. A
// precondition is 0 (nothing may be there), 1 (anything) or 2 followed by
// the expected entry. Attributes start with a bit set of the ones present
// (mtime, atime, mode, uid, gid).
//
// The first request is hello: "async-agent", the protocol version, and the
// session (root path, --create-dir, follow links, token, cookie, session
// name, -R and its size, debug, compression). With a compression (zstd or
// zlib), every frame after the hello and its answer whose payload is 512
// bytes or more travels compressed when that makes it smaller, flagged in
// its op byte. The agent answers OK with its version, its
// capabilities, the root's entry and its features: a bit set of the
// optional interfaces its backend has (symbolic links, hashing, hard
// links, extended attributes, watching, in that order; an older agent
// sends none and has them all). The client's backend has exactly those
// (Client.Backend). Or the agent answers an error (bad version, path
// outside the docroot, refused token), after which it hangs up.
//
// Every count, size and length read from the wire is bounded before
// anything is allocated for it: a frame is at most 8 MiB (maxFrame), and
// so is a decompressed payload; a string, byte string or collection
// cannot be longer than what is left of its frame; a scan asks for at
// most 99 threads and rests at most a second; the agent serves at most
// 64 requests at once, at most 4 of them over 1 MiB, and keeps at most
// 1024 files open for writing and 1024 for reading per connection. A
// partial-file key is a short run of letters, digits, '-' and '_'. A
// second hello, or a request before the first, ends the connection.
//
// The answer to a snapshot open carries the stored session identity
// (found, meta), as the meta request answers it, so that the client's
// first look at it costs no round trip; an older agent sends none and is
// asked.
//
// Requests are pipelined: the client sends many without waiting, and the
// agent answers each as it completes, in any order. Replies are OK (fields
// depend on the request), ENTRY (an entry), DATA (file content), ITEMS (one
// batch of a stream: a count, then that many entries or snapshot records)
// and ERROR (a code that maps to core's errors, such as not-exist or
// precondition-failed, and a message). Scans, snapshot loads and watches
// stream ITEMS and end with OK or ERROR; CANCEL stops a stream. Each
// stream has a window of 16 ITEMS frames: the agent sends no more until
// CREDIT (request id, frames) gives some back, which the client sends as
// it consumes them (every 8). The client queues a whole window per
// stream, so its reader never waits for a slow consumer: a scan and the
// snapshot's records flow side by side on the one connection, each at
// the pace the join takes it. A scan asked ordered (when the agent's
// capabilities say it can: bit 9) comes in path order, one directory's
// listing at a time.
//
// File content moves in chunks of 256 KiB. A file up to one chunk is
// written by one PUT (path, create options, content) answered with the
// committed entry. A larger one is CREATE (one way: errors are reported
// at the end), WRITE chunks (one way) and COMMIT (answered). A partial
// file (--support-resume) starts with CREATESYNC, answered with the offset
// it continues from and whether the agent's writer can keep it (an older
// agent does not say: it can). OPEN answers
// with the file's entry and its first chunk; the client then keeps four
// READs (handle, offset) ahead of its reader, and the agent serves them
// with pread. A file whose first chunk ends it (the answer says so) is
// closed on the agent already: its reader sends no CLOSEFILE, which only
// a file the agent keeps open for READs needs. The agent reads a chunk
// into a buffer it reuses, and a file that ends within the chunk with
// one pread of the size the open found, the change check after the read
// (size, mtime and change time as at the open) proving the end, so a
// small file read costs openat2, fstat, pread, fstat and close there.
// Snapshot PUT and DELETE are one way too; FLUSH reports the
// first that failed. Every frame is buffered and written by a flusher that
// lets ready senders add theirs first, so that small messages share
// packets and system calls.
//
// # The data path
//
// DATAOPEN (streams, port, congestion control) makes the agent listen
// for that many TCP streams (package datapath: AES-256-GCM frames under
// a one-time key it returns over SSH, with the port) and accept exactly
// those, for 15 s at most. Then DATACREATE (handle, path, create options;
// answered) opens a file whose chunks arrive on the streams as WRITE
// (handle, offset, bytes) frames, written at their offsets; DATACOMMIT
// (handle, bytes sent) waits until that many bytes arrived and commits.
// A file opened with OPEN is read ahead with READ (request id, handle,
// offset) frames on the streams, each answered on its stream with DATA
// (request id, eof, chunk) or ERROR. A CALL frame (request id, op,
// payload) carries a small file's PUT or an OPEN, served as over SSH and
// answered with REPLY (request id, op, payload) on the same stream; the
// file an OPEN there opens has the request id as its handle, from the
// client's one sequence of ids. A stream that fails ends the data
// path on both sides; commits waiting on it fail. Only a DATACREATE file
// takes WRITE frames (never a resumable one), offsets are below 2^60, at
// most 32 streams. docs/datapath.md has the design.
package ssh
