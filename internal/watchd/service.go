package watchd

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core"
)

// Defaults of Options.
const (
	// DefaultMaxEntries bounds each tree's journal: past it, the oldest
	// quarter is dropped (a client whose cursor is older scans).
	DefaultMaxEntries = 1 << 20
	// DefaultMaxPaths bounds one answer: more changed paths than this is
	// answered as a hole (a scan is cheaper than that many lookups).
	DefaultMaxPaths = 100_000
)

// SocketName is the service's socket in its state directory.
const SocketName = "watchd.sock"

// Options configure a Service.
type Options struct {
	// Trees are the directories watched, absolute.
	Trees []string
	// StateDir holds the journal (StateDir/journal) and, by default, the
	// socket.
	StateDir string
	// Socket is the unix socket served; empty: StateDir/watchd.sock.
	Socket string
	// MaxEntries and MaxPaths: see DefaultMaxEntries, DefaultMaxPaths.
	MaxEntries int
	MaxPaths   int
	// Tick is how often trees are checked (remounts, roots back,
	// compaction); 0: one second.
	Tick time.Duration
	Log  *slog.Logger
	// Ready is called once the socket is served.
	Ready func()
	// Shared serves every local user (a service run by root for the
	// users' trees): the socket is mode 0666, and a user other than the
	// service's and root is answered only about directories it may read
	// (its peer credentials against the permission bits of the directory
	// and of every directory above it), and sees only such trees in the
	// status.
	Shared bool
	// Watcher chooses how trees are watched: "fanotify" (a filesystem
	// mark with directory entry events; an error where the kernel or the
	// privileges do not allow it), "inotify" (one watch per directory),
	// or "" and "auto": fanotify where it can be had, else inotify.
	Watcher string

	stall      chan struct{} // tests: holds the readers back
	noFanotify error         // tests: fanotify fails with this
}

// Watchers.
const (
	WatcherAuto     = "auto"
	WatcherFanotify = "fanotify"
	WatcherInotify  = "inotify"
)

// backend is what watches one tree: inotify or fanotify.
type backend interface {
	run(ctx context.Context, s sink)
	close()
	watches() int // directories watched (inotify) or file systems marked (fanotify)
}

// Service is a running change journal.
type Service struct {
	o       Options
	j       *journal
	epoch   string
	started time.Time
	ln      net.Listener

	mu    sync.Mutex
	seq   uint64
	trees []*tree
}

// tree is one watched tree's state; its fields are guarded by Service.mu.
type tree struct {
	id           uint32
	root         string
	sig          string // mount signature when armed
	start        uint64 // the journal answers for cursors >= start
	why          string // why it starts there
	broken       string // not watched now, and why
	gen          int    // arming generation: events of an older watcher are dropped
	count        int    // journal entries held
	events       uint64
	lastOverflow time.Time
	watches      atomic.Int64
	watcher      string     // the backend in use, and why not fanotify
	armMu        sync.Mutex // serializes check and arm
	stop         func()     // stops the current watcher and waits for it
	rate         float64
	rateAt       time.Time
	rateEvents   uint64
}

// New checks the options and opens the journal; Run serves.
func New(o Options) (*Service, error) {
	if len(o.Trees) == 0 {
		return nil, errors.New("no tree to watch (--tree DIR or a config file)")
	}
	if o.StateDir == "" {
		return nil, errors.New("no state directory")
	}
	o.Socket = cmp.Or(o.Socket, filepath.Join(o.StateDir, SocketName))
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxPaths <= 0 {
		o.MaxPaths = DefaultMaxPaths
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	switch o.Watcher {
	case "", WatcherAuto:
		o.Watcher = WatcherAuto
	case WatcherFanotify, WatcherInotify:
	default:
		return nil, fmt.Errorf("watcher %q: want auto, fanotify or inotify", o.Watcher)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, started: time.Now().UTC()}
	seen := map[string]bool{}
	for i, r := range o.Trees {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("tree %s: not an absolute path", r)
		}
		real, err := filepath.EvalSymlinks(r)
		if err != nil {
			return nil, fmt.Errorf("tree %s: %w", r, err)
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("tree %s: not a directory", r)
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		s.trees = append(s.trees, &tree{id: uint32(i + 1), root: real})
	}
	b := make([]byte, 8)
	rand.Read(b)
	s.epoch = hex.EncodeToString(b)
	if c, err := net.DialTimeout("unix", o.Socket, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another async watchd serves %s", o.Socket)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", o.StateDir, err)
	}
	j, err := openJournal(filepath.Join(o.StateDir, "journal"))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("another async watchd uses the journal in %s", o.StateDir)
		}
		return nil, err
	}
	s.j = j
	return s, nil
}

// Socket is the socket the service serves.
func (s *Service) Socket() string { return s.o.Socket }

// Run watches the trees and serves the socket until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.j.close()
	if err := s.listen(); err != nil {
		return err
	}
	defer os.Remove(s.o.Socket)
	defer s.ln.Close()
	for _, t := range s.trees {
		t.armMu.Lock() // a request's check waits for the first arming
		s.arm(ctx, t, "the service started")
		t.armMu.Unlock()
	}
	defer func() {
		for _, t := range s.trees {
			s.mu.Lock()
			stop := t.stop
			s.mu.Unlock()
			if stop != nil {
				stop()
			}
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(ctx, c) })
		}
	})
	go func() { <-ctx.Done(); s.ln.Close() }()
	if s.o.Ready != nil {
		s.o.Ready()
	}
	s.o.Log.Info("watchd: serving", "socket", s.o.Socket, "trees", len(s.trees), "epoch", s.epoch)
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.o.Log.Info("watchd: stopped")
			return nil
		case <-t.C:
			for _, tr := range s.trees {
				s.check(ctx, tr)
				s.compact(tr)
			}
		}
	}
}

// listen opens the socket, replacing a stale one; a live one is an error.
func (s *Service) listen() error {
	if c, err := net.DialTimeout("unix", s.o.Socket, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("socket %s: another watchd serves it", s.o.Socket)
	}
	os.Remove(s.o.Socket)
	perm := os.FileMode(0o700)
	if s.o.Shared {
		perm = 0o755 // the users reach the socket through it
	}
	if err := os.MkdirAll(filepath.Dir(s.o.Socket), perm); err != nil {
		return fmt.Errorf("socket %s: %w", s.o.Socket, err)
	}
	ln, err := net.Listen("unix", s.o.Socket)
	if err != nil {
		return fmt.Errorf("socket %s: %w", s.o.Socket, err)
	}
	mode := os.FileMode(0o600)
	if s.o.Shared {
		mode = 0o666
	}
	os.Chmod(s.o.Socket, mode)
	s.ln = ln
	return nil
}

// arm (re)starts watching a tree; the journal answers for it only from
// the cursor after the arming.
func (s *Service) arm(ctx context.Context, t *tree, why string) {
	s.mu.Lock()
	stop := t.stop
	t.stop = nil
	t.gen++
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	fail := func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.broken != err.Error() {
			s.o.Log.Warn("watchd: tree not watched", "tree", t.root, "err", err)
		}
		s.seq++
		t.start, t.why, t.broken = s.seq, why, err.Error()
	}
	sig, err := mountSignature(t.root)
	if err != nil {
		fail(fmt.Errorf("the tree's root is gone or cannot be read: %w", err))
		return
	}
	if err := checkLocalFS(t.root, mountsBelow(t.root)); err != nil {
		fail(err)
		return
	}
	w, kind, err := s.open(t.root)
	if err != nil {
		fail(err)
		return
	}
	t.watches.Store(int64(w.watches()))
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.mu.Lock()
	t.gen++
	s.seq++
	t.start, t.why, t.broken, t.sig, t.watcher = s.seq, why, "", sig, kind
	sk := &treeSink{s: s, t: t, gen: t.gen, w: w}
	t.stop = func() { cancel(); <-done }
	s.mu.Unlock()
	s.o.Log.Info("watchd: watching", "tree", t.root, "watcher", kind, "watches", w.watches(), "from", t.start, "why", why)
	go func() {
		defer close(done)
		defer w.close()
		w.run(wctx, sk)
	}()
}

// open starts watching a tree with the backend Options.Watcher chooses;
// kind names it (and, for inotify in auto, why not fanotify).
func (s *Service) open(root string) (backend, string, error) {
	if s.o.Watcher != WatcherInotify {
		fw, err := s.fanotify(root)
		if err == nil {
			fw.stall = s.o.stall
			return fw, WatcherFanotify, nil
		}
		if s.o.Watcher == WatcherFanotify {
			return nil, "", err
		}
		w, kind, err2 := s.inotify(root)
		return w, kind + " (" + err.Error() + ")", err2
	}
	return s.inotify(root)
}

func (s *Service) fanotify(root string) (*fanWatcher, error) {
	if s.o.noFanotify != nil {
		return nil, s.o.noFanotify
	}
	return newFanWatcher(root)
}

func (s *Service) inotify(root string) (backend, string, error) {
	w, err := newWatcher(root)
	if err != nil {
		return nil, "", err
	}
	w.stall = s.o.stall
	if err := w.addTree("", nil); err != nil {
		w.close()
		return nil, "", err
	}
	return w, WatcherInotify, nil
}

// check rearms a tree whose file systems changed, or whose root is back.
func (s *Service) check(ctx context.Context, t *tree) {
	t.armMu.Lock()
	defer t.armMu.Unlock()
	s.mu.Lock()
	broken, sig := t.broken, t.sig
	s.mu.Unlock()
	if broken != "" {
		if fi, err := os.Stat(t.root); err == nil && fi.IsDir() {
			s.arm(ctx, t, "watched again after: "+broken)
		}
		return
	}
	if now, err := mountSignature(t.root); err != nil || now != sig {
		s.arm(ctx, t, "the tree's file system was unmounted, remounted or had a file system mounted inside it")
	}
}

// compact drops the oldest quarter of a tree's journal past MaxEntries.
func (s *Service) compact(t *tree) {
	s.mu.Lock()
	over := t.count > s.o.MaxEntries
	n := t.count - s.o.MaxEntries*3/4
	s.mu.Unlock()
	if !over {
		return
	}
	upto := s.j.nthSeq(t.id, n)
	if upto == 0 {
		return
	}
	if err := s.j.trim(t.id, upto); err != nil {
		s.o.Log.Warn("watchd: compaction", "tree", t.root, "err", err)
		return
	}
	s.mu.Lock()
	t.count -= n
	if upto > t.start {
		t.start = upto
		t.why = fmt.Sprintf("compacted: the journal keeps about the last %d changes of the tree", s.o.MaxEntries)
	}
	s.mu.Unlock()
	s.o.Log.Info("watchd: journal compacted", "tree", t.root, "dropped", n, "from", upto)
}

// treeSink journals what one arming of a tree's watcher sees.
type treeSink struct {
	s   *Service
	t   *tree
	gen int
	w   backend
}

func (k *treeSink) changed(paths []string) {
	s, t := k.s, k.t
	s.mu.Lock()
	defer s.mu.Unlock()
	t.watches.Store(int64(k.w.watches()))
	if t.gen != k.gen {
		return
	}
	es := make([]entry, 0, len(paths))
	for _, p := range paths {
		if core.IsReserved(core.Base(p)) && core.Base(p) != core.PrivateDir {
			continue // async's temporary files: never synchronized
		}
		// Never dropped as a repeat of the path journaled last: a client
		// may hold a cursor between the two.
		s.seq++
		es = append(es, entry{seq: s.seq, path: p})
	}
	if len(es) == 0 {
		return
	}
	if err := s.j.append(t.id, es); err != nil {
		s.seq++
		t.start, t.why = s.seq, "the journal could not be written: "+err.Error()
		s.o.Log.Error("watchd: journal", "tree", t.root, "err", err)
		return
	}
	t.count += len(es)
	t.events += uint64(len(es))
}

func (k *treeSink) hole(why string, broken bool) {
	s, t := k.s, k.t
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.gen != k.gen {
		return
	}
	s.seq++
	t.start, t.why = s.seq, why
	if strings.Contains(why, "_Q_OVERFLOW") {
		t.lastOverflow = time.Now().UTC()
	}
	if broken {
		t.broken = why
	}
	s.o.Log.Warn("watchd: hole in the journal", "tree", t.root, "why", why, "cursor", s.seq)
}

// serve answers one connection's requests, one JSON line each.
func (s *Service) serve(ctx context.Context, c net.Conn) {
	defer c.Close()
	who := peerOf(c)
	r := bufio.NewReaderSize(c, 64<<10)
	enc := json.NewEncoder(c)
	for ctx.Err() == nil {
		c.SetDeadline(time.Now().Add(time.Minute))
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		var req Request
		var a *Answer
		if err := json.Unmarshal(line, &req); err != nil {
			a = &Answer{Error: "bad request: " + err.Error()}
		} else {
			a = s.answer(ctx, req, who)
		}
		if err := enc.Encode(a); err != nil {
			return
		}
	}
}

// Answer serves one request of the service's own user.
func (s *Service) Answer(ctx context.Context, req Request) *Answer {
	return s.answer(ctx, req, peer{self: true})
}

func (s *Service) answer(ctx context.Context, req Request, who peer) *Answer {
	switch req.Op {
	case "status":
		st := s.Status()
		if !who.self {
			st.Trees = slices.DeleteFunc(st.Trees, func(t TreeStatus) bool { return !who.mayRead(t.Root) })
		}
		return &Answer{Epoch: s.epoch, Cursor: st.Cursor, Status: &st}
	case "changes":
		if !who.self && !who.mayRead(filepath.Clean(req.Dir)) {
			return &Answer{Error: fmt.Sprintf("dir %q: permission denied (user %d may not read it)", req.Dir, who.uid)}
		}
		return s.changes(ctx, req)
	}
	return &Answer{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

func (s *Service) changes(ctx context.Context, req Request) *Answer {
	dir := filepath.Clean(req.Dir)
	if !filepath.IsAbs(dir) {
		return &Answer{Error: fmt.Sprintf("dir %q: not absolute", req.Dir)}
	}
	var t *tree
	for _, c := range s.trees {
		if within(dir, c.root) && (t == nil || len(c.root) > len(t.root)) {
			t = c
		}
	}
	s.mu.Lock()
	cur := s.seq
	s.mu.Unlock()
	if t == nil {
		return &Answer{Epoch: s.epoch, Cursor: cur, Hole: "the service does not watch " + dir}
	}
	s.check(ctx, t) // a remount since the last tick
	hole := func() string {
		switch {
		case req.Epoch == "":
			return "no cursor yet"
		case req.Epoch != s.epoch:
			return "the service was restarted (or not running) since the cursor"
		case req.Since > cur:
			return "the cursor is ahead of the journal"
		case t.broken != "":
			return "the tree is not watched now: " + t.broken
		case req.Since < t.start:
			return "the journal starts after the cursor: " + t.why
		}
		return ""
	}
	s.mu.Lock()
	cur = s.seq
	why := hole()
	s.mu.Unlock()
	a := &Answer{Epoch: s.epoch, Cursor: cur}
	if why != "" {
		a.Hole = why
		return a
	}
	rel := ""
	if dir != t.root {
		rel = strings.TrimPrefix(dir, t.root+"/") // t.root is "/" or has no trailing slash
		if t.root == "/" {
			rel = strings.TrimPrefix(dir, "/")
		}
	}
	seen := map[string]bool{}
	tooMany := false
	err := s.j.since(t.id, req.Since, cur, func(p string) bool {
		if rel != "" {
			if p == rel {
				return true // the directory itself
			}
			if !strings.HasPrefix(p, rel+"/") {
				return true
			}
			p = p[len(rel)+1:]
		}
		if !seen[p] {
			seen[p] = true
			a.Paths = append(a.Paths, p)
			if len(a.Paths) > s.o.MaxPaths {
				tooMany = true
				return false
			}
		}
		return true
	})
	switch {
	case err != nil:
		return &Answer{Epoch: s.epoch, Cursor: cur, Hole: "the journal could not be read: " + err.Error()}
	case tooMany:
		return &Answer{Epoch: s.epoch, Cursor: cur, Hole: fmt.Sprintf("more than %d paths changed", s.o.MaxPaths)}
	}
	// The journal may have been compacted or broken while it was read.
	s.mu.Lock()
	why = hole()
	s.mu.Unlock()
	if why != "" {
		return &Answer{Epoch: s.epoch, Cursor: cur, Hole: why}
	}
	return a
}

func within(p, root string) bool {
	return p == root || root == "/" || strings.HasPrefix(p, root+"/")
}

// Status reports the service's state.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{PID: os.Getpid(), Epoch: s.epoch, Started: s.started, Cursor: s.seq}
	now := time.Now()
	for _, t := range s.trees {
		if t.rateAt.IsZero() {
			t.rateAt = s.started
		}
		if d := now.Sub(t.rateAt); d >= time.Second {
			t.rate = float64(t.events-t.rateEvents) / d.Seconds()
			t.rateAt, t.rateEvents = now, t.events
		}
		st.Entries += t.count
		st.Trees = append(st.Trees, TreeStatus{Root: t.root, Watcher: t.watcher, Watches: int(t.watches.Load()), Start: t.start, Why: t.why,
			Events: t.events, Rate: t.rate, LastOverflow: t.lastOverflow, Broken: t.broken})
	}
	return st
}
