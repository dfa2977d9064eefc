package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/internal/logfile"
	"github.com/async-sync/async/internal/retry"
	"github.com/async-sync/async/rate"
)

// Exit codes (docs/reference.md §7).
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitPartial  = 3
	logKeepFiles = 10
)

// fatal is the command's one error type with an exit code: a usage error
// (exitUsage: a bad command line or configuration, made by usagef) or a
// failure that ends a session (exitFailed). Its message is printed as is.
type fatal struct {
	code int
	err  error
}

func (f *fatal) Error() string { return f.err.Error() }

// exitCode maps an error to async's exit code: a fatal's own; exitUsage
// for the engine's core.ConfigError (the engine knows no exit codes);
// exitFailed for any other error.
func exitCode(err error) int {
	var f *fatal
	var ce *core.ConfigError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &f):
		return f.code
	case errors.As(err, &ce):
		return exitUsage
	}
	return exitFailed
}

// prepared is a session ready to run: endpoints resolved, everything the
// command line names checked.
type prepared struct {
	s           *session
	ends        [2]endpoint
	missing     [2]bool // root missing, to be made by --create-dir
	dbDir       [2]string
	logDir      string
	logMB       int
	defaultArea [2]string        // ROOT/.private-asp of each filesystem side
	plan        *core.Plan       // async apply: the saved plan to carry out
	storeDir    [2]string        // where snapshot copies are kept (--*-db-store-dir)
	limiter     *rate.Limiter    // -l, shared by every round of the session
	rateCtl     *rate.Controller // -a with -l: moves the limiter's rate
	pluginDir   string           // --plugin-dir: where plugins are looked up first
	env         environ          // what the environment said
	lastStats   *core.Stats      // the counters of the last run (-C)
	log         *slog.Logger     // the session log (plugins log there)
	warnings    []string         // the command line's warnings for this session, for its log
	links       skippedLinks     // symbolic links left out for a bucket side
	bucketDir   [2]string        // the directory of a blob+file:// bucket side
	// remoteLogDir is -R when this process serves the remote side (a
	// local or bucket -r): it writes the remote log there.
	remoteLogDir string

	// stats is lastStats for the status file's writer, which reads it
	// while the rounds of -C replace it.
	stats atomic.Pointer[core.Stats]
}

// prepare resolves and checks a session's endpoints and state locations
// without changing anything (but for --create-dir).
func prepare(schemes *registry, in *instance, s *session) (*prepared, error) {
	p := &prepared{s: s, logDir: in.logDir, logMB: in.logMB, env: in.env, pluginDir: in.pluginDir}
	def := sshDefaults{port: cmp.Or(s.ssh.port, 22), sftp: s.ssh.sftp}
	if schemes.isSSH(s.remote, s.host) {
		def.user = in.env.user() // the system's user database is read only for an SSH login
	}
	var err error
	if p.ends[core.Local], err = schemes.parse("-d", s.local, "", "", def); err != nil {
		return nil, err
	}
	if what := p.ends[core.Local].kind.remoteOnly; what != "" {
		return nil, usagef("option -d: %s is %s; -d is the local side: give the server to -r", s.local, what)
	}
	if p.ends[core.Remote], err = schemes.parse("-r", s.remote, s.user, s.host, def); err != nil {
		return nil, err
	}
	for side := range 2 {
		if p.ends[side].local() {
			p.ends[side].path = realPath(p.ends[side].path)
		}
	}
	l, r := p.ends[core.Local].path, p.ends[core.Remote].path
	if p.ends[core.Remote].local() && (inside(l, r) || inside(r, l)) {
		return nil, usagef("session %s: -d %s and -r %s are the same directory or one is inside the other", s.name, l, r)
	}
	for side := range 2 {
		p.bucketDir[side] = p.ends[side].dataDir()
	}
	for side, flag := range [2]string{s.localDB, s.remoteDB} {
		opt := [2]string{"-b", "-B"}[side]
		switch e := p.ends[side]; {
		case e.local():
			p.defaultArea[side] = filepath.Join(e.path, core.PrivateDir)
			p.dbDir[side] = filepath.Join(p.defaultArea[side], s.name)
		case e.sftp || e.object(): // they cannot hold the database: it stays here
			p.dbDir[side] = p.stateSnapshotDir(core.Side(side))
		default: // the agent resolves it on the server
			p.dbDir[side] = flag
			continue
		}
		if flag != "" {
			d, err := p.stateDirOption(opt, flag)
			if err != nil {
				return nil, err
			}
			p.dbDir[side] = filepath.Join(d, s.name)
		}
	}
	for side, opt := range [2]string{"--keep-dir-local", "--keep-dir-remote"} {
		if s.keepDir[side] == "" {
			continue
		}
		var rel string
		if p.ends[side].local() {
			rel, err = keepDirIn(opt, s.keepDir[side], p.ends[side].path)
		} else {
			rel, err = remoteKeepDir(opt, s.keepDir[side], p.ends[side])
		}
		if err != nil {
			return nil, err
		}
		s.Policy.KeepDir[side] = rel
	}
	for side, opt := range [2]string{"--local-db-store-dir", "--remote-db-store-dir"} {
		switch {
		case s.storeDir[side] == "":
		case p.ends[side].local() || p.ends[side].sftp || p.ends[side].object():
			d, err := p.stateDirOption(opt, s.storeDir[side])
			if err != nil {
				return nil, err
			}
			p.storeDir[side] = filepath.Join(d, s.name)
		default:
			p.storeDir[side] = s.storeDir[side]
		}
	}
	if p.logDir == "" {
		p.logDir = filepath.Join(p.env.stateDir, "log")
	} else if _, err := p.stateDirOption("-L", p.logDir); err != nil {
		return nil, err
	}
	if err := p.checkRemoteLog(); err != nil {
		return nil, err
	}
	for side, flag := range [2]string{s.localDB, s.remoteDB} {
		if e := p.ends[side]; flag == "" && (e.sftp || e.object()) {
			if err := p.migrateState(core.Side(side), in.dryRun); err != nil {
				return nil, err
			}
		}
	}
	for side, opt := range [2]string{"-d", "-r"} {
		if !p.ends[side].local() {
			continue // the agent checks the remote root
		}
		if p.missing[side], err = checkRoot(opt, p.ends[side].path, true); err != nil {
			return nil, err
		}
		if p.missing[side] {
			if err := p.missingRoot(context.Background(), core.Side(side), opt); err != nil {
				return nil, err
			}
		}
	}
	if err := p.otherEndpoint(context.Background()); err != nil {
		return nil, err
	}
	return p, nil
}

// privateDirs lists, per local side, async's own state directories that
// lie inside its tree (a bucket side's snapshot or the log under a synced
// home directory, say), relative to the root: they are left out of the
// sync.
func (p *prepared) privateDirs() [2][]string {
	var out [2][]string
	// Each directory is resolved once for both sides (a lookup per
	// component of its path).
	if !p.ends[core.Local].local() && !p.ends[core.Remote].local() {
		return out
	}
	var reals []string
	for _, d := range []string{p.logDir, p.env.stateDir, p.dbDir[0], p.dbDir[1], p.storeDir[0], p.storeDir[1]} {
		if d != "" && filepath.IsAbs(d) && !slices.Contains(reals, d) {
			reals = append(reals, d)
		}
	}
	for i, d := range reals {
		reals[i] = realPath(d)
	}
	for side := range 2 {
		root := p.ends[side].path
		if !p.ends[side].local() {
			continue
		}
		for _, real := range reals {
			if inside(real, root) && real != root {
				if rel, err := filepath.Rel(root, real); err == nil {
					out[side] = append(out[side], filepath.ToSlash(rel))
				}
			}
		}
	}
	return out
}

// stateDirOption resolves a directory async keeps state in (-b, -B, a
// store dir) to an absolute path, refused inside a synchronized tree.
func (p *prepared) stateDirOption(opt, dir string) (string, error) {
	if strings.Contains(dir, "://") {
		return "", usagef("option %s: %s is a URL; a bucket cannot hold a snapshot or a log: give a local directory outside the synchronized trees", opt, dir)
	}
	d, err := expandHome(dir)
	if err == nil {
		d, err = filepath.Abs(d)
	}
	if err != nil {
		return "", usagef("option %s: %v", opt, err)
	}
	if err := p.outsideTrees(opt, d); err != nil {
		return "", err
	}
	return d, nil
}

// keepDirIn resolves a keep directory: a path inside the side's tree,
// absolute or relative to its root. It returns it relative to the root.
func keepDirIn(opt, dir, root string) (string, error) {
	d, err := expandHome(dir)
	if err != nil {
		return "", usagef("option %s: %v", opt, err)
	}
	if !filepath.IsAbs(d) {
		d = filepath.Join(root, d)
	}
	d = realPath(filepath.Clean(d))
	rel, err := filepath.Rel(root, d)
	if err != nil || rel == "." || !inside(d, root) {
		return "", usagef("option %s: %s must be a directory inside the synchronized tree %s (it is left out of the sync)", opt, dir, root)
	}
	rel = filepath.ToSlash(rel)
	if rel == core.PrivateDir || strings.HasPrefix(rel, core.PrivateDir+"/") {
		return "", usagef("option %s: %s is inside async's private area", opt, dir)
	}
	return rel, nil
}

// outsideTrees refuses a state directory inside a synced tree (the private
// areas aside).
func (p *prepared) outsideTrees(opt, dir string) error {
	real := realPath(dir)
	for side := range 2 {
		if !p.ends[side].local() {
			continue
		}
		if inside(real, p.defaultArea[side]) {
			continue
		}
		if inside(real, p.ends[side].path) {
			return usagef("option %s: %s is inside the synchronized tree %s; put it elsewhere", opt, dir, p.ends[side].path)
		}
	}
	for side := range 2 {
		if b := p.bucketDir[side]; b != "" && inside(real, b) {
			return usagef("option %s: %s is inside the directory of the bucket %s: it would be synchronized as objects; put it elsewhere", opt, dir, p.ends[side].Display())
		}
	}
	return nil
}

// run carries out a prepared session and returns its exit code.
func (a *app) runSession(ctx context.Context, in *instance, p *prepared) int {
	s := p.s
	logger, closeLog, err := a.openLog(in, p)
	if err != nil {
		a.out.errorf(s.name, "%v", err)
		return exitUsage
	}
	defer closeLog()
	logger, closeRemote, err := a.remoteLog(in, p, logger)
	if err != nil {
		a.out.errorf(s.name, "%v", err)
		return exitUsage
	}
	defer closeRemote()
	for _, w := range p.warnings {
		logger.Warn(w)
	}
	err = a.sync(ctx, in, p, logger)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = &fatal{exitFailed, errors.New("interrupted; what was done is recorded, the rest is done next run")}
	}
	code := exitCode(err)
	if err != nil {
		logger.Error("session failed", "err", err)
		a.out.errorf(s.name, "%v", err)
	}
	return code
}

// openLog opens the session's log file; a dry run logs nothing to files.
func (a *app) openLog(in *instance, p *prepared) (*slog.Logger, func(), error) {
	hopts := &slog.HandlerOptions{Level: logLevel(in.debug), ReplaceAttr: core.ReplaceLevel}
	if in.dryRun {
		var w io.Writer = io.Discard
		if in.debug > 0 {
			w = a.stderr
		}
		return slog.New(slog.NewTextHandler(w, hopts)), func() {}, nil
	}
	f, err := logfile.Open(p.logDir, "async-"+p.s.name+".log", int64(p.logMB)<<20, logKeepFiles)
	if err != nil {
		return nil, nil, fmt.Errorf("option -L: %w", err)
	}
	l := slog.New(slog.NewTextHandler(f, hopts)).With("session", p.s.name)
	a.logs.add(f, l)
	stop := a.reopenOnHangup(f, p.s.name, "the log")
	return l, func() { stop(); a.logs.remove(f); f.Close() }, nil
}

// reopenOnHangup reopens f on every SIGHUP, after an outside rotation, until
// stop is called; what names the log in the warning a failed reopen gives.
func (a *app) reopenOnHangup(f *logfile.File, session, what string) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := f.Reopen(); err != nil {
					a.out.warn(session, fmt.Sprintf("warning: reopen %s: %v", what, err))
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}

// logLevel is the log level of -D given n times: info, then debug, then
// trace.
func logLevel(n int) slog.Level {
	switch {
	case n >= 2:
		return core.LevelTrace
	case n == 1:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// sync opens the endpoints and their snapshots, runs core.Sync, and keeps
// copies of the snapshots where --*-db-store-dir say.
func (a *app) sync(ctx context.Context, in *instance, p *prepared, log *slog.Logger) error {
	p.log = log
	if s := p.s; s.targetRate > 0 {
		// One limiter for the session, across the rounds of -C.
		p.limiter = rate.New(s.targetRate)
		if s.ratePolicy != rate.Fixed {
			c := rate.NewController(p.limiter, s.targetRate, s.minRate, s.ratePolicy)
			p.rateCtl = c
			cctx, stop := context.WithCancel(ctx)
			defer stop()
			go c.Run(cctx, time.Second)
		}
	}
	var ends [2]*opened
	for side := range 2 {
		op, err := a.openEndpoint(ctx, in, p, core.Side(side), log)
		if err != nil {
			return err
		}
		defer op.close()
		ends[side] = op
	}
	s := p.s
	life := &lifecycle.Session{Snapshots: [2]lifecycle.Snapshots{ends[0].snaps, ends[1].snaps},
		StoreDirs: s.storeDir, DryRun: in.dryRun, Reset: s.reset, Log: log}
	if err := life.Restore(ctx); err != nil {
		return &fatal{exitFailed, err}
	}
	var err error
	if s.follow.on {
		err = a.follow(ctx, in, p, ends, life, log)
	} else {
		err = a.syncOpened(ctx, in, p, ends, life, log, [2]*core.Hint{})
	}
	if exitCode(err) != exitUsage {
		if serr := life.Save(ctx); serr != nil && err == nil {
			err = &fatal{exitFailed, serr}
		}
	}
	return err
}

// openEndpoint opens one side by its endpoint's scheme; a side this
// process does not reach as a directory has its mount signature checked
// through its backend.
func (a *app) openEndpoint(ctx context.Context, in *instance, p *prepared, side core.Side, log *slog.Logger) (*opened, error) {
	e := p.ends[side]
	op, err := e.kind.open(a, ctx, in, p, side, log)
	if err != nil || e.local() {
		return op, err
	}
	if err := remoteSignature(ctx, op.backend, e, p.s.mountSig[side]); err != nil {
		op.close()
		return nil, err
	}
	if j, ok := core.Unmask(op.backend).(remoteJournal); ok {
		op.journal = j // the server's change journal, asked once per run
	}
	// A network side's transient failures are tried again (the
	// preconditions each call carries make that safe).
	op.backend = retry.Wrap(op.backend, retry.Policy{Log: log})
	return op, nil
}

// openDir opens a local directory side (made first with --create-dir).
func (a *app) openDir(ctx context.Context, in *instance, p *prepared, side core.Side, log *slog.Logger) (*opened, error) {
	s, e := p.s, p.ends[side]
	opt := [2]string{"-d", "-r"}[side]
	if p.missing[side] && in.dryRun {
		return &opened{backend: emptyDir{}, snaps: lifecycle.None{}, close: func() {}}, nil
	}
	if p.missing[side] {
		if err := createRoot(opt, e.path); err != nil {
			return nil, err
		}
	}
	if err := checkMountSignature([2]string{"--local-mount-signature", "--remote-mount-signature"}[side], s.mountSig[side], e.path); err != nil {
		return nil, err
	}
	b, err := local.Open(e.path, local.Options{FollowLinks: s.Links == core.LinksFollow})
	if err != nil {
		return nil, &fatal{exitUsage, fmt.Errorf("option %s: %w", opt, err)}
	}
	return &opened{backend: b, snaps: &lifecycle.Dir{Path: p.dbDir[side], StoreDir: p.storeDir[side]},
		close: func() { b.Close() }}, nil
}

// syncOpened runs the pipeline on opened endpoints; the snapshots, unless
// life holds them already (-C), are opened for it and closed when it
// returns.
func (a *app) syncOpened(ctx context.Context, in *instance, p *prepared, ends [2]*opened, life *lifecycle.Session, log *slog.Logger, hints [2]*core.Hint) error {
	s := p.s
	var eps [2]*core.Endpoint
	for side := range 2 {
		eps[side] = &core.Endpoint{URL: p.ends[side].URL(), Backend: ends[side].backend,
			ScanThreads: cmp.Or(s.scanThreads[side], s.scanListers), ChecksumThreads: s.checksumThread[side]}
	}
	if !life.Held() {
		if a.journalPeek(ctx, in, p, eps, life, log) {
			return nil
		}
		release, err := life.Hold(ctx)
		if err != nil {
			return lockedOr(s.name, err)
		}
		defer release()
	}
	for side := range 2 {
		eps[side].Store = life.Stores()[side]
	}
	for _, w := range objectWarnings(s, p.ends) {
		log.Warn(w)
		a.out.warn(s.name, w)
	}
	links := s.Links
	bucketOpt := ""
	for side, opt := range [2]string{"-d", "-r"} {
		if p.ends[side].object() {
			bucketOpt = opt
		}
	}
	if links == core.LinksCopy && bucketOpt != "" {
		links = core.LinksSkip
	}
	pol := roundPolicy(s, eps)
	stats := &core.Stats{}
	p.lastStats = stats
	p.stats.Store(stats)
	opts := s.Options // as the command line set them
	opts.Session, opts.Policy, opts.Links = s.name, pol, links
	opts.Log, opts.Stats = log, stats
	opts.Warn = func(msg string) { log.Warn(msg); a.out.warn(s.name, msg) }
	if links != s.Links { // a bucket cannot hold links: each one skipped is warned about
		opts.SkippedLink = func(side core.Side, path string) {
			if lifecycle.IsSource(pol.Direction, side) {
				p.links.add(log, path)
			}
		}
	}
	if s.metafileWarn {
		opts.Warn("metafile: both endpoints keep extended attributes and ACLs natively; they are copied natively")
	}
	if n, err := strconv.Atoi(os.Getenv(crashEnv)); err == nil && n > 0 {
		opts.AfterAction = crashAfter(n, eps)
	}
	opts.Limiter = p.limiter
	if !p.ends[core.Local].local() || !p.ends[core.Remote].local() {
		opts.RetryAction = retry.Policy{}.RetryAction() // a network side's late transient failures
	}
	opts.Finished = func(f core.Finished) { a.out.entry(s.name, f) }
	opts.Approve = func(plan *core.Plan) error { a.out.planned(s.name); return checkMaxDeletes(s, plan) }
	opts.DryRun = in.dryRun
	if in.watchd != "" && !in.dryRun && p.plan == nil {
		var fromJournal [2]bool
		metas := storeMetas(eps)
		hints, opts.Journal, fromJournal = a.journalHints(ctx, in, p, metas, [2]remoteJournal{ends[0].journal, ends[1].journal}, hints, log, false)
		if journalUnchanged(ctx, p, pol, [2]string{eps[0].URL, eps[1].URL}, metas, hints, fromJournal) {
			log.Info("watchd: nothing changed at the source since the last complete run")
			a.out.summary(in, s.name, pol.Direction, 0, stats)
			return nil
		}
	}
	opts.Hints = hints
	opts.Private = p.privateDirs()
	start := time.Now()
	log.Info("session start", "local", eps[0].URL, "remote", eps[1].URL, "direction", pol.Direction.String())
	stop := func() {}
	if !in.dryRun {
		stopProgress := a.out.progress(in, s.name, stats)
		var stopStatus func()
		switch {
		case !s.follow.on:
			stopStatus, _ = lifecycle.KeepStatus(lifecycle.StatusOptions{Dir: p.dbDir[core.Local], Stats: p.stats.Load, Log: log, Progress: !s.noLogStats})
		case !s.noLogStats: // a continuous session keeps its status for its whole life
			stopStatus = lifecycle.KeepProgress(log, stats)
		default:
			stopStatus = func() {}
		}
		stop = func() { stopProgress(); stopStatus() }
	}
	var plan *core.Plan
	var err error
	if p.plan != nil {
		a.out.planned(s.name) // made earlier
		plan, err = p.plan, core.Apply(ctx, eps[0], eps[1], opts, p.plan)
	} else {
		plan, err = core.Sync(ctx, eps[0], eps[1], opts)
	}
	stop()
	if w := p.links.warning(bucketOpt); w != "" {
		opts.Warn(w)
	}
	if err != nil {
		return err
	}
	if in.dryRun {
		return a.printPlan(in, p, pol, plan)
	}
	a.out.summary(in, s.name, pol.Direction, time.Since(start), stats)
	log.Info("session done", "files", stats.Files.Load(), "bytes", stats.Bytes.Load(),
		"deleted", stats.Deleted.Load(), "conflicts", stats.Conflicts.Load(), "errors", stats.Errors.Load())
	if stats.Conflicts.Load() > 0 || stats.Errors.Load() > 0 {
		return &fatal{exitPartial, errors.New("some entries are in CONFLICT or ERROR")}
	}
	return nil
}

// roundPolicy is the policy of one run on these endpoints.
func roundPolicy(s *session, eps [2]*core.Endpoint) core.Policy {
	return lifecycle.RoundPolicy(s.Policy, [2]core.Caps{eps[0].Backend.Caps(), eps[1].Backend.Caps()},
		lifecycle.Defaults{Continuous: s.follow.on, ChecksumGiven: s.checksumSet})
}

// crashEnv names the test hook that kills the process hard after that many
// actions (made durable first, as committed actions are), to prove that a
// rerun after a crash converges. Only tests set it.
const crashEnv = "ASYNC_TEST_CRASH_AFTER"

func crashAfter(n int, eps [2]*core.Endpoint) func() {
	var done atomic.Int64
	return func() {
		if done.Add(1) != int64(n) {
			return
		}
		for _, ep := range eps {
			ep.Store.Flush(context.Background())
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the kill is on its way
	}
}

// checkMountSignature refuses to run (exit 1) when the signature file is
// missing: the guard against syncing an unmounted disk.
func checkMountSignature(opt, sig, root string) error {
	if sig == "" {
		return nil
	}
	p, err := expandHome(sig)
	if err != nil {
		return usagef("option %s: %v", opt, err)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	if _, err := os.Stat(p); err != nil {
		return &fatal{exitFailed, fmt.Errorf("option %s: mount signature %s is missing (%v): is the disk mounted? nothing done", opt, p, err)}
	}
	return nil
}
