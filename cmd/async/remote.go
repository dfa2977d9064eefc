package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/term"

	"github.com/async-sync/async/backends/ssh"
	"github.com/async-sync/async/backends/ssh/agent"
	"github.com/async-sync/async/backends/ssh/client"
	"github.com/async-sync/async/backends/ssh/datapath"
	"github.com/async-sync/async/backends/ssh/protocol"
	"github.com/async-sync/async/backends/ssh/sftpfs"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/rate"
)

// Environment variables that carry SSH credentials (docs/reference.md §8).
const (
	envPass   = "ASPERA_SCP_PASS"
	envToken  = "ASPERA_SCP_TOKEN"
	envCookie = "ASPERA_SCP_COOKIE"
	// envAgent names the agent program to install on servers instead of
	// this one (for clients that cannot run on the server's platform).
	envAgent = "ASYNC_AGENT_BINARY"
	// envTransports=1 lets --data-path take udp and quic: an internal
	// switch for measuring the data path's UDP and QUIC transports, which
	// did not beat its TCP streams (docs/datapath.md).
	envTransports = "ASYNC_EXPERIMENTAL_TRANSPORTS"
)

// opened is an endpoint ready for the pipeline: its backend, where its
// snapshot lives, and how to let go of both.
type opened struct {
	backend core.Backend
	snaps   lifecycle.Snapshots
	close   func()
	journal remoteJournal // a server's change journal (the SSH agent), or nil
}

// openSSH connects to an SSH endpoint and starts the agent on it (or an
// SFTP session with --sftp).
func (a *app) openSSH(ctx context.Context, in *instance, p *prepared, side core.Side, log *slog.Logger) (*opened, error) {
	s, e := p.s, p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	home, _ := os.UserHomeDir()
	o := ssh.Options{Host: e.host, Port: e.port, User: e.user, KeyFiles: s.ssh.keyFiles,
		Password: cmp.Or(in.env.sshPassword, s.ssh.password), KnownHosts: in.knownHosts, Home: home, AgentSocket: in.env.sshAgent,
		Ciphers: s.ssh.ciphers, Log: log}
	if a.out.tty {
		o.AskPassword = askTerminal
	}
	// The agent's version is its program's digest: kept in the user's
	// cache directory while the program stays the same file, else hashed
	// (tens of MiB) while the connection is made, not after it.
	type digested struct {
		sum string
		err error
	}
	digest := make(chan digested, 1)
	// Whether a missing root may be made reads the local snapshots (a
	// read-only open of each): that too runs while the connection is made.
	type creatable struct {
		ok  bool
		err error
	}
	mayCreate := make(chan creatable, 1)
	if !e.sftp {
		go func() {
			bin, err := ssh.AgentBinary(in.env.agentBinary)
			if err == nil {
				if cache, cerr := os.UserCacheDir(); cerr == nil {
					bin, err = ssh.CachedDigest(bin, filepath.Join(cache, "async", "agent-digest"))
				} else {
					bin, err = ssh.BinaryDigest(bin)
				}
			}
			digest <- digested{bin, err}
		}()
		go func() {
			ok, err := p.mayCreate(ctx, side, in.dryRun)
			mayCreate <- creatable{ok, err}
		}()
	}
	conn, err := ssh.Dial(ctx, o)
	if err != nil {
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: %w", opt, err)}
	}
	if e.sftp {
		op, err := openSFTP(conn, p, side, in.dryRun)
		if err != nil {
			conn.Close()
			return nil, err
		}
		return op, nil
	}
	mc := <-mayCreate
	create, err := mc.ok, mc.err
	if err != nil {
		conn.Close()
		return nil, err
	}
	dg := <-digest // its error, if any, StartAgent meets again
	c, err := conn.StartAgent(ctx, ssh.StartOptions{Binary: in.env.agentBinary, Digest: dg.sum, Root: e.path,
		Create: create, FollowLinks: s.Links == core.LinksFollow,
		Token: cmp.Or(s.ssh.token, in.env.sshToken), Cookie: cmp.Or(s.ssh.cookie, in.env.sshCookie),
		Session: s.name, LogDir: s.ssh.logDir, LogMB: s.ssh.logMB, Debug: in.debug > 0, Compression: s.ssh.compression})
	var re *protocol.RemoteError
	if err != nil && !errors.As(err, &re) && ctx.Err() == nil && s.remoteDB == "" && s.storeDir[side] == "" && s.ssh.logDir == "" {
		// The agent cannot run there (no compatible binary, a home that
		// does not allow programs, ...): plain SFTP still works, unless
		// the agent would have confined the session.
		if ferr := fallbackAllowed(conn, e.user, agent.DefaultServerConfig, cmp.Or(s.ssh.token, in.env.sshToken) != ""); ferr != nil {
			conn.Close()
			return nil, &fatal{exitFailed, fmt.Errorf("option %s: the async agent cannot run on %s (%v), and %v", opt, e.host, err, ferr)}
		}
		msg := fmt.Sprintf("warning: the async agent cannot run on %s (%v); falling back to SFTP, with the remote snapshot kept on this machine (give --sftp to make it explicit; going back to the agent needs --reset)", e.host, err)
		log.Warn(msg)
		a.out.warn(s.name, msg)
		p.ends[side].sftp = true
		p.dbDir[side] = p.stateSnapshotDir(side)
		if err := p.migrateState(side, in.dryRun); err != nil {
			conn.Close()
			return nil, err
		}
		op, err := openSFTP(conn, p, side, in.dryRun)
		if err != nil {
			conn.Close()
		}
		return op, err
	}
	if err != nil {
		conn.Close()
		if errors.Is(err, fs.ErrNotExist) {
			if err := p.missingRoot(ctx, side, opt); err != nil {
				return nil, err
			}
			if in.dryRun && s.createDir {
				return &opened{backend: emptyDir{}, snaps: lifecycle.None{}, close: func() {}}, nil
			}
		}
		return nil, remoteRootErr(opt, e, err)
	}
	c.SetLog(log) // -DD: a trace record per request
	closeAll := func() { c.Close(); conn.Close() }
	tcp, err := a.openDataPath(ctx, in, s, e, conn, c, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	if tcp && p.rateCtl != nil {
		// -a sees competing traffic in the data path's queueing delay.
		p.rateCtl.SetProbe(func() (time.Duration, time.Duration, bool) {
			d, base, ok := c.QueueDelay()
			if ok {
				log.Debug("data path queue", "delay", d, "base rtt", base, "shared", rate.Contended(d, base), "rate", p.limiter.Rate())
			}
			return d, base, ok
		})
	}
	for range dataPaths(s.TransferThreads) {
		if tcp {
			break // the data path's streams carry the content
		}
		dc, err := ssh.Dial(ctx, o)
		if err == nil {
			var d *client.Client
			if d, err = dc.StartAgent(ctx, ssh.StartOptions{Binary: in.env.agentBinary, Digest: dg.sum, Root: e.path,
				FollowLinks: s.Links == core.LinksFollow, Token: cmp.Or(s.ssh.token, in.env.sshToken),
				Compression: s.ssh.compression}); err == nil {
				d.SetLog(log)
				c.AddDataPath(d)
				prev := closeAll
				closeAll = func() { prev(); dc.Close() }
				continue
			}
			dc.Close()
		}
		closeAll()
		return nil, &fatal{exitFailed, fmt.Errorf("option --transfer-threads: another connection to %s: %w", e.host, err)}
	}
	return &opened{backend: c.Backend(), snaps: &agentSnapshots{c: c, dir: p.dbDir[side], storeDir: p.storeDir[side]},
		close: closeAll}, nil
}

// openDataPath opens the data path to the agent (--data-path): sealed
// parallel TCP streams for file content beside the SSH connection. With
// auto, a data path that cannot open costs one warning line and the
// content goes over SSH; with tcp it is an error. With auto, and no
// --transfer-threads to size by it, the data path opens when the first
// file's content needs it, so that a run that moves nothing opens none.
// It reports whether the data path is open or will be.
func (a *app) openDataPath(ctx context.Context, in *instance, s *session, e endpoint, conn *ssh.Conn, c *client.Client, log *slog.Logger) (bool, error) {
	mode := cmp.Or(s.ssh.dataPath, "auto")
	if mode == "ssh" || in.dryRun {
		return false, nil
	}
	warn := func(msg string) {
		log.Warn(msg)
		a.out.warn(s.name, msg)
	}
	tr := datapath.TCP
	if mode == "udp" || mode == "quic" {
		tr = datapath.Transport(mode)
	}
	o := client.DataOptions{Host: conn.RemoteIP(), Port: s.ssh.dataPort, Streams: s.ssh.dataStreams,
		Transport: tr, Rate: s.targetRate,
		Failed: func(err error) {
			warn(fmt.Sprintf("warning: the data path to %s failed (%v): files in flight are retried by the next run, the others go over SSH", e.host, err))
		}}
	opened := func(info client.DataInfo, err error) {
		if err == nil {
			log.Info("data path open", "transport", info.Transport, "address", info.Addr, "streams", info.Streams, "congestion", info.CC, "server congestion", info.AgentCC)
			return
		}
		warn(fmt.Sprintf("warning: no data path to %s (%v); file content goes over SSH (--data-path=ssh skips the attempt)", e.host, err))
	}
	if mode == "auto" && len(s.TransferThreads) == 0 {
		log.Debug("data path opens with the first file content")
		c.OpenDataPathLater(o, opened)
		return true, nil
	}
	info, err := c.OpenDataPath(ctx, o)
	switch {
	case err == nil:
		opened(info, nil)
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case mode != "auto":
		return false, &fatal{exitFailed, fmt.Errorf("option --data-path=%s: no data path to %s: %w", mode, e.host, err)}
	}
	opened(info, err)
	return false, nil
}

// maxDataPaths bounds the extra SSH connections for file content.
const maxDataPaths = 3

// dataPaths is how many extra SSH connections carry file content: with
// --transfer-threads, one per worker of the class that takes the largest
// files, beyond the first connection, up to maxDataPaths [decision]; none
// by default (one connection already keeps many requests in flight).
func dataPaths(classes []core.ThreadClass) int {
	if len(classes) == 0 {
		return 0
	}
	largest := classes[0]
	for _, c := range classes[1:] {
		if c.MaxSize == 0 || largest.MaxSize != 0 && c.MaxSize > largest.MaxSize {
			largest = c
		}
	}
	return min(maxDataPaths, largest.N-1)
}

// remoteRootErr explains why a remote root cannot be used, with the exit
// code the reference gives.
func remoteRootErr(opt string, e endpoint, err error) error {
	var re *protocol.RemoteError
	switch {
	case errors.Is(err, protocol.ErrOutsideDocroot) && errors.As(err, &re) && strings.HasPrefix(re.Msg, "option -R:"):
		return usagef("%s on %s", re.Msg, e.host)
	case errors.Is(err, protocol.ErrInsideTree):
		return usagef("%v (on %s)", err, e.host)
	case errors.Is(err, protocol.ErrOutsideDocroot):
		return usagef("option %s: %s is outside your docroot on %s: %v", opt, e.path, e.host, err)
	case errors.Is(err, fs.ErrNotExist):
		return usagef("option %s: directory %s does not exist on %s (use --create-dir to create it)", opt, e.path, e.host)
	case errors.Is(err, protocol.ErrAccess):
		return &fatal{exitFailed, fmt.Errorf("option -W: %w", err)}
	}
	return &fatal{exitFailed, fmt.Errorf("option %s: %s: %w", opt, e.Display(), err)}
}

// fallbackAllowed says whether plain SFTP may stand in for an agent that
// cannot run: only where it gives every path the meaning the agent would.
// A token session is confined to its key's root, which SFTP cannot
// enforce. A docroot that the server's configuration (conf, read over
// SFTP) sets for the user means "/" is the docroot for the agent but the
// server's "/" for SFTP; a configuration that SFTP cannot see (missing,
// or hidden by a chroot, where the server enforces a root itself) leaves
// the paths their meaning. An unreadable one is refused: it cannot be
// told.
func fallbackAllowed(conn *ssh.Conn, user, conf string, token bool) error {
	if token {
		return errors.New("plain SFTP cannot confine a -W token session to its key's root: refusing to fall back (install the agent on the server)")
	}
	sc, err := sftp.NewClient(conn.SSH())
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer sc.Close()
	f, err := sc.Open(conf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the server's %s cannot be read (%v), so whether it confines %s to a docroot cannot be told: refusing to fall back to SFTP", conf, err, user)
	}
	defer f.Close()
	cfg, err := agent.ParseServerConfig(io.LimitReader(f, 1<<20))
	if err != nil {
		return fmt.Errorf("the server's %s cannot be parsed (%v): refusing to fall back to SFTP", conf, err)
	}
	if d := cfg.User(user).Docroot; d != "" {
		return fmt.Errorf("the server confines %s to the docroot %s, which plain SFTP does not: a path would name another place, so async does not fall back to SFTP (fix the agent on the server)", user, d)
	}
	return nil
}

// openSFTP opens an SSH endpoint over plain SFTP; its snapshot is local.
func openSFTP(conn *ssh.Conn, p *prepared, side core.Side, dryRun bool) (*opened, error) {
	s, e := p.s, p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	sc, err := sftp.NewClient(conn.SSH(), sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: sftp on %s: %w", opt, e.host, err)}
	}
	root := e.path
	if rel, ok := strings.CutPrefix(root, "~"); ok {
		root = strings.TrimPrefix(rel, "/")
	}
	if !path.IsAbs(root) {
		wd, err := sc.Getwd()
		if err != nil {
			sc.Close()
			return nil, &fatal{exitFailed, fmt.Errorf("option %s: sftp on %s: %w", opt, e.host, err)}
		}
		root = path.Join(wd, root)
	}
	create, err := p.mayCreate(context.Background(), side, dryRun)
	if err != nil {
		sc.Close()
		return nil, err
	}
	if create {
		if err := sc.MkdirAll(root); err != nil {
			sc.Close()
			return nil, usagef("option %s: create %s on %s: %v", opt, root, e.host, err)
		}
	}
	token, err := sftpTempToken(p.dbDir[side], dryRun)
	if err != nil {
		sc.Close()
		return nil, &fatal{exitFailed, fmt.Errorf("option %s: %w", opt, err)}
	}
	b, err := sftpfs.New(sc, root, sftpfs.Options{FollowLinks: s.Links == core.LinksFollow, CloseClient: true, TempToken: token})
	if err != nil {
		sc.Close()
		if errors.Is(err, fs.ErrNotExist) {
			if err := p.missingRoot(context.Background(), side, opt); err != nil {
				return nil, err
			}
			if dryRun && s.createDir {
				return &opened{backend: emptyDir{}, snaps: lifecycle.None{}, close: func() { conn.Close() }}, nil
			}
		}
		return nil, remoteRootErr(opt, e, err)
	}
	snaps := &sftpSnapshots{&lifecycle.Dir{Path: p.dbDir[side], StoreDir: p.storeDir[side]}, token}
	return &opened{backend: b, snaps: snaps, close: func() { b.Close(); conn.Close() }}, nil
}

// askTerminal asks for a secret on the controlling terminal.
func askTerminal(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("no terminal to ask for a password: %w", err)
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// remoteSignature checks --remote-mount-signature on a remote root: a
// relative FILE is relative to the root; an absolute one must lie inside it.
func remoteSignature(ctx context.Context, b core.Backend, e endpoint, sig string) error {
	if sig == "" {
		return nil
	}
	rel := sig
	if path.IsAbs(sig) {
		if e.object() {
			return usagef("option --remote-mount-signature: %s must be relative to the bucket root %s", sig, e.Display())
		}
		root := strings.TrimSuffix(e.path, "/")
		r, ok := strings.CutPrefix(path.Clean(sig), root+"/")
		if !ok || !path.IsAbs(root) {
			return usagef("option --remote-mount-signature: %s must be inside the remote root %s (or relative to it)", sig, e.path)
		}
		rel = r
	}
	if _, err := b.Stat(ctx, path.Clean(rel)); err != nil {
		return &fatal{exitFailed, fmt.Errorf("option --remote-mount-signature: mount signature %s is missing on %s (%v): is the disk mounted? nothing done", sig, e.host, err)}
	}
	return nil
}

// remoteKeepDir resolves --keep-dir-remote on an SSH root: relative to the
// root, or absolute inside it.
func remoteKeepDir(opt, dir string, e endpoint) (string, error) {
	rel := dir
	if path.IsAbs(dir) {
		r, ok := strings.CutPrefix(path.Clean(dir), strings.TrimSuffix(e.path, "/")+"/")
		if !ok || e.object() {
			return "", usagef("option %s: %s must be a directory inside the tree %s (relative to its root)", opt, dir, e.Display())
		}
		rel = r
	}
	rel = path.Clean(rel)
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", usagef("option %s: %s must be a directory inside the tree %s", opt, dir, e.Display())
	}
	if rel == core.PrivateDir || strings.HasPrefix(rel, core.PrivateDir+"/") {
		return "", usagef("option %s: %s is inside async's private area", opt, dir)
	}
	return rel, nil
}

// agentSnapshots is a snapshot the agent keeps on the server.
type agentSnapshots struct {
	c             *client.Client
	dir, storeDir string // -B and --remote-db-store-dir as given ("" : the defaults)
}

var _ lifecycle.Snapshots = (*agentSnapshots)(nil)

// Open opens the remote snapshot through the agent.
func (a *agentSnapshots) Open(ctx context.Context, dryRun, reset bool) (core.Store, func(), error) {
	if dryRun {
		ok, err := a.c.SnapshotExists(ctx, a.dir)
		if err != nil || !ok || reset {
			return nil, nil, snapshotDirErr(err)
		}
	}
	st, err := a.c.OpenStore(ctx, a.dir, dryRun)
	if err != nil {
		if err := snapshotDirErr(err); err != nil {
			return nil, nil, err
		}
		return nil, nil, &fatal{exitFailed, fmt.Errorf("remote snapshot: %w", err)}
	}
	return st, func() { st.Close() }, nil
}

// Remove drops the remote snapshot.
func (a *agentSnapshots) Remove(ctx context.Context) error {
	return snapshotDirErr(a.c.RemoveSnapshot(ctx, a.dir))
}

// snapshotDirErr makes a remote -B (or --remote-db-store-dir) that leaves
// the docroot, or lies inside the synchronized tree, bad input (exit 2);
// other errors pass unchanged.
func snapshotDirErr(err error) error {
	if errors.Is(err, protocol.ErrInsideTree) {
		return usagef("%v", err)
	}
	if errors.Is(err, protocol.ErrOutsideDocroot) {
		return usagef("remote snapshot: %v", err)
	}
	return err
}

// Restore has the agent copy the snapshot back from --remote-db-store-dir
// when the working copy is missing.
func (a *agentSnapshots) Restore(ctx context.Context) (bool, error) {
	if a.storeDir == "" {
		return false, nil
	}
	if ok, err := a.c.SnapshotExists(ctx, a.dir); err != nil || ok {
		return false, snapshotDirErr(err)
	}
	ok, err := a.c.CopySnapshot(ctx, a.storeDir, a.dir)
	return ok, snapshotDirErr(err)
}

// Save has the agent copy the snapshot to --remote-db-store-dir.
func (a *agentSnapshots) Save(ctx context.Context) (bool, error) {
	if a.storeDir == "" {
		return false, nil
	}
	ok, err := a.c.CopySnapshot(ctx, a.dir, a.storeDir)
	return ok, snapshotDirErr(err)
}

var _ io.Closer = (*client.Client)(nil)
