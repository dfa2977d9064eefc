package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core/filter"
)

// Endpoint is one side of a session as the engine drives it.
type Endpoint struct {
	Backend Backend
	// Store is the side's snapshot; nil when there is none yet and none may
	// be created (a dry run).
	Store Store
	// URL is the canonical form of the endpoint, the session's identity.
	URL string
	// ScanThreads and ChecksumThreads bound the side's concurrency (0: default).
	ScanThreads     int
	ChecksumThreads int
}

// LinkMode is -n: what to do with symbolic links.
type LinkMode uint8

// The -n values.
const (
	LinksCopy   LinkMode = iota // recreate the link
	LinksFollow                 // transfer what it points to
	LinksSkip                   // leave links out
)

// ParseLinkMode accepts copy, follow and skip.
func ParseLinkMode(s string) (LinkMode, error) {
	switch s {
	case "copy":
		return LinksCopy, nil
	case "follow":
		return LinksFollow, nil
	case "skip":
		return LinksSkip, nil
	}
	return 0, fmt.Errorf("unknown symbolic link mode %q (want copy, follow or skip)", s)
}

// Hint is what a watcher saw change on one side since its last sync.
type Hint struct {
	// Paths are the changed entries' paths (files, links or directories
	// whose own attributes changed; a directory that appeared or vanished
	// makes the engine scan the side after all).
	Paths []string
}

// ThreadClass is one --transfer-threads N[:SIZE] group: N workers for files
// up to MaxSize bytes (0: any size).
type ThreadClass struct {
	N       int
	MaxSize int64
}

// DefaultTransferThreads is the number of transfer workers when
// --transfer-threads is not given: two per CPU, at least 2 and at most 8
// (more only adds contention on directory locks).
func DefaultTransferThreads() int { return min(8, max(2, 2*runtime.NumCPU())) }

// Limiter is the shared rate limiter the transfer stage draws bytes from.
type Limiter interface {
	WaitN(ctx context.Context, n int) error
}

// Options are a run's settings besides its endpoints.
type Options struct {
	// Hints, per side, say which paths changed since the side's last
	// sync (continuous mode: a watcher's events); such a side is not
	// scanned, only those paths are looked at. Nil: scan the side.
	Hints [2]*Hint
	// Journal, per side, is recorded in the side's snapshot meta when the
	// run ends (Meta.Journal): where a change journal stood when the run
	// started, for the next run to ask what changed since.
	Journal [2]string
	// Private, per side, are directories below the root where async keeps
	// its own state (a snapshot, logs): never scanned nor synchronized.
	Private [2][]string
	Session string
	Policy  Policy
	Links   LinkMode
	// Filter is the include/exclude rules: excluded entries (and the
	// subtrees of excluded directories) are left out of the run on both
	// sides; nil includes everything.
	Filter *filter.Filter
	// CleanExcluded drops the snapshot records of excluded entries
	// (--clean-excluded); nothing is deleted on either side.
	CleanExcluded bool
	// SupportResume keeps the partial file of an interrupted transfer of at
	// least this many bytes, and continues it next run if its source is
	// unchanged (--support-resume); 0: off.
	SupportResume int64
	// ResumeAge removes partial files older than this when scans find
	// them (--resume-age-days; 0: five days).
	ResumeAge time.Duration
	// ScanPause and ScanPauseEvery slow scans down (--scan-intensity): each
	// directory lister rests ScanPause after every ScanPauseEvery listings.
	ScanPause      time.Duration
	ScanPauseEvery int
	// AssumeNoMods does not list a directory whose own mtime is the one
	// recorded: its entries are taken from the snapshot as unchanged
	// (--assume-no-mods; changes to the contents of existing files in such
	// a directory go unseen).
	AssumeNoMods bool
	// OldDirs, when set, leaves out directories whose recursive mtime (the
	// newest mtime recorded in either snapshot for the directory and all
	// below it) is before it (--exclude-dirs-older-than).
	OldDirs      time.Time
	DeleteBefore bool // --delete-before
	// RemoveAfterTransfer deletes each source file once it is synchronized
	// (push and pull only), without propagating that as a deletion.
	RemoveAfterTransfer bool
	ForceDeletes        bool // --force-deletes: run despite an emptied root
	// DryRun plans and stops: nothing is written anywhere.
	DryRun          bool
	TransferThreads []ThreadClass // default: one class of DefaultTransferThreads()
	Limiter         Limiter       // nil: no limit
	// Report is called, possibly concurrently, as each entry is done, with
	// its display path and status (ReportDone, ReportError+": why", ...).
	// A rename's path is "OLD -> NEW", both display paths.
	Report func(path, status string)
	// Finished, when set, is called, possibly concurrently, as each entry
	// is done, with what Report gets and more (op, bytes, duration).
	Finished func(Finished)
	// Warn receives one-line warnings for the user.
	Warn  func(msg string)
	Log   *slog.Logger
	Stats *Stats // counters, readable while the run goes on; may be nil
	// Approve, when set, sees the plan before anything is done; an error
	// stops the run (and is returned by Sync).
	Approve func(*Plan) error
	// AfterAction, when set, is called after each action was committed to
	// the snapshots and reported (tests use it to crash at chosen points).
	AfterAction func()
	// RetryAction, when set, is asked after an action failed whether to
	// carry it out again from the start (its preconditions are checked
	// again) and after how long; attempt counts the attempts made. Nil:
	// never (internal/retry's Policy.RetryAction retries transient
	// failures).
	RetryAction func(err error, attempt int) (wait time.Duration, again bool)
	// SkippedLink, when set, is called (possibly concurrently) with each
	// symbolic link that a scan of a side found and left out because Links
	// is LinksSkip.
	SkippedLink func(s Side, path string)
}

// Stats counts what a run did. Fields are updated atomically while it runs.
type Stats struct {
	PlannedFiles, PlannedBytes atomic.Int64
	Files, Bytes, Dirs         atomic.Int64
	Deleted, Moved             atomic.Int64
	Unchanged, Equal, Skipped  atomic.Int64
	Conflicts, Errors          atomic.Int64
	Linked                     atomic.Int64 // duplicates made as links (--dedup), also in Files
	// Renamed counts renames done (moves, kept versions): the records of
	// what moved come from the old ones, so continuous mode rescans after.
	Renamed atomic.Int64
	// Current is the path of a file being transferred (for progress).
	Current atomic.Pointer[string]
	flight  flights // files being transferred (InFlight)
}

// ConfigError is a problem with the command line or configuration found
// before anything was touched (exit code 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// HaltError stops a run before anything is planned because going on could
// lose data (exit code 1).
type HaltError struct{ Err error }

func (e *HaltError) Error() string { return e.Err.Error() }
func (e *HaltError) Unwrap() error { return e.Err }

// Sync runs one one-time synchronization of a session: it scans both
// endpoints and loads both snapshots at once, plans, and unless opts.DryRun
// carries the plan out, committing each finished action to both snapshots.
// It returns the plan. Entries that failed or are in conflict are counted in
// opts.Stats and do not make Sync fail.
func Sync(ctx context.Context, local, remote *Endpoint, opts Options) (*Plan, error) {
	e := newEngine(local, remote, opts)
	if err := e.checkIdentity(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	states, err := e.gather(ctx)
	if err != nil {
		return nil, err
	}
	e.logStage("scan", start, "paths", len(states))
	start = time.Now()
	prep := prepareSorted(states, e.o.Policy) // gather's own states, in path order
	prep.r.elided, prep.r.exists = e.elided, e.exists
	if err := e.hashStage(ctx, prep); err != nil {
		return nil, err
	}
	e.logStage("hash", start)
	plan := prep.Reconcile()
	if e.o.DeleteBefore { // Reconcile ordered deletions last
		sortActions(plan.Actions, true)
	}
	e.logPlan(ctx, prep, plan)
	t := plan.Totals()
	e.stats.PlannedFiles.Store(int64(t.Copy))
	e.stats.PlannedBytes.Store(t.CopyBytes)
	e.stats.Unchanged.Store(int64(t.Unchanged))
	if e.o.Approve != nil {
		if err := e.o.Approve(plan); err != nil {
			return plan, err
		}
	}
	if e.o.DryRun {
		for _, x := range e.unreadable.list {
			e.o.Warn(fmt.Sprintf("%s (%s side) cannot be read and is left out: %v", DisplayPath(x.path), x.side, x.err))
		}
		return plan, nil
	}
	e.noop = len(plan.Actions) == 0 && len(plan.Records) == 0
	if err := e.begin(ctx); err != nil {
		return plan, err
	}
	e.reportUnreadable(ctx)
	start = time.Now()
	execErr := e.execute(ctx, plan)
	e.logStage("transfer", start, "actions", len(plan.Actions))
	e.complete = execErr == nil && ctx.Err() == nil
	if err := e.end(context.WithoutCancel(ctx)); err != nil && execErr == nil {
		execErr = err
	}
	return plan, execErr
}

// Apply carries out a plan made earlier (async apply): every action's
// expectations are checked again right before it runs, and an action whose
// expectation no longer holds is reported "ERROR: stale plan" and not done.
// Applied actions are committed to the snapshots as in a normal run.
func Apply(ctx context.Context, local, remote *Endpoint, opts Options, plan *Plan) error {
	e := newEngine(local, remote, opts)
	e.applying = true
	if err := e.checkIdentity(ctx); err != nil {
		return err
	}
	sortActions(plan.Actions, opts.DeleteBefore)
	e.logPlan(ctx, nil, plan)
	t := plan.Totals()
	e.stats.PlannedFiles.Store(int64(t.Copy))
	e.stats.PlannedBytes.Store(t.CopyBytes)
	if err := e.begin(ctx); err != nil {
		return err
	}
	execErr := e.execute(ctx, plan)
	if err := e.end(context.WithoutCancel(ctx)); err != nil && execErr == nil {
		execErr = err
	}
	return execErr
}

type engine struct {
	applying bool            // running a saved plan: failed expectations are a stale plan
	noop     bool            // the plan changes nothing, not even a record
	cleanEnd [2]bool         // the side's last run ended cleanly (not killed)
	recorded [2]*Meta        // the identity each side's snapshot held at the start (nil: none)
	complete bool            // this run did every action of its plan
	old      map[string]bool // directories left out by --exclude-dirs-older-than
	// settled maps, per side, directories to their recorded mtimes, for
	// --assume-no-mods; skipped notes the ones the scan did not list.
	settled [2]map[string]time.Time
	skipped [2]sync.Map
	// known maps, per object store side, paths to their recorded entries
	// (ScanOptions.Known).
	known [2]map[string]Entry
	// excluded lists, per side, records that --clean-excluded drops.
	excluded [2][]string
	// keepDirs are the keep directories recorded or given: never synced.
	keepDirs []string
	eps      [2]*Endpoint
	caps     [2]Caps
	o        Options
	stats    *Stats
	log      *slog.Logger
	lv       logLevels // what log records are wanted (-D, -DD)
	meta     Meta

	// unreadable are the entries the scans could not read: left out of
	// the run on both sides, and reported as errors.
	unreadable unreadables
	// sizes are, per side, about how many records its snapshot holds
	// (Sizer; 0: unknown): the records and the scan are collected into
	// memory of that size at once, with no garbage of grown copies.
	sizes [2]int
	// elided counts, per directory, the paths below it that the streaming
	// join found inert and dropped (streamGather); exists tells whether a
	// scan holds a path (all inert paths are in one).
	elided map[string]int
	exists func(string) bool
	// links are the skipped links held back during a streamed scan.
	links heldLinks
}

func newEngine(local, remote *Endpoint, o Options) *engine {
	e := &engine{eps: [2]*Endpoint{local, remote}, o: o, stats: o.Stats, log: o.Log}
	for s := range 2 {
		e.caps[s] = e.eps[s].Backend.Caps()
	}
	e.o.Policy.SetMode = e.caps[Local].SetMode && e.caps[Remote].SetMode
	if e.stats == nil {
		e.stats = &Stats{}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.lv = levelsOf(e.log)
	if e.o.Report == nil {
		e.o.Report = func(string, string) {}
	}
	if e.o.Warn == nil {
		e.o.Warn = func(string) {}
	}
	if len(e.o.TransferThreads) == 0 {
		n := DefaultTransferThreads()
		var small ThreadClass
		for _, ep := range e.eps {
			if r, ok := ep.Backend.(Networked); ok {
				n = max(n, r.InFlight())
			}
			// The class is the connection's, not one of the served
			// backend's interfaces: a masked backend (Mask) keeps it.
			if sf, ok := Unmask(ep.Backend).(SmallFiles); ok {
				if c := sf.SmallFiles(); c.N > small.N && c.MaxSize > 0 {
					small = c
				}
			}
		}
		e.o.TransferThreads = []ThreadClass{{N: n}}
		if small.N > n {
			// The larger files' class stays last: it also runs the
			// directory levels.
			e.o.TransferThreads = []ThreadClass{small, {N: n}}
		}
	}
	return e
}

// checkIdentity refuses a session whose snapshots were made for other
// endpoints or another direction, or exist on one side only.
func (e *engine) checkIdentity(ctx context.Context) error {
	var metas [2]Meta
	var have [2]bool
	for s := range 2 {
		st := e.eps[s].Store
		if st == nil {
			continue
		}
		m, ok, err := st.Meta(ctx)
		if err != nil {
			return fmt.Errorf("read %s snapshot: %w", Side(s), err)
		}
		metas[s], have[s] = m, ok
		e.cleanEnd[s] = ok && !m.Stopped.IsZero()
		if ok {
			e.recorded[s] = &m
		}
	}
	name := e.o.Session
	want := Meta{Session: name, Local: e.eps[Local].URL, Remote: e.eps[Remote].URL, Direction: e.o.Policy.Direction.String()}
	// Other endpoints first: a mistyped -r finds no snapshot there, and
	// what the user needs to hear is what the session was run with.
	for s := range 2 {
		if m := metas[s]; have[s] && (m.Local != want.Local || m.Remote != want.Remote || m.Direction != want.Direction) {
			var diff []string
			if m.Local != want.Local {
				diff = append(diff, "-d "+want.Local)
			}
			if m.Remote != want.Remote {
				diff = append(diff, "-r "+want.Remote)
			}
			if m.Direction != want.Direction {
				diff = append(diff, "-K "+want.Direction)
			}
			return &ConfigError{fmt.Errorf("session %s was last run with -d %s -r %s -K %s, not %s; run with --reset (-x) to start it over with these endpoints and direction", name, m.Local, m.Remote, m.Direction, strings.Join(diff, " "))}
		}
	}
	devs, err := e.rootDevices(ctx)
	if err != nil {
		return err
	}
	var recorded Meta
	if have[Local] || have[Remote] {
		recorded = metas[Local]
		if !have[Local] {
			recorded = metas[Remote]
		}
		for s, was := range [2]string{recorded.LocalDevice, recorded.RemoteDevice} {
			if otherFileSystem(was, devs[s]) {
				return &HaltError{fmt.Errorf("root vanished: another file system is mounted here: the %s root %s is on device %s, the session's snapshot says %s; nothing done (mount the right one, or run with --reset (-x) to start the session over)", Side(s), e.eps[s].URL, devs[s], was)}
			}
		}
	}
	// A root on another file system may hide its snapshot: the device
	// check comes before the one-side-only one.
	if have[Local] != have[Remote] {
		missing := Local
		if !have[Remote] {
			missing = Remote
		}
		return &ConfigError{fmt.Errorf("session %s has a snapshot on the %s side only (the %s one is missing); run with --reset (-x) to start it over from scans", name, missing.Other(), missing)}
	}
	want.TempToken = cmp.Or(metas[Local].TempToken, metas[Remote].TempToken, newTempToken())
	want.LocalDevice, want.RemoteDevice = devs[Local], devs[Remote]
	want.KeepDirs = keepDirs(recorded.KeepDirs, e.o.Policy.KeepDir[:])
	e.keepDirs = want.KeepDirs
	want.Checksum = string(e.o.Policy.Checksum)
	want.Filters = e.o.Filter.Rules()
	want.Started = time.Now().UTC()
	e.meta = want
	return nil
}

// keepDirs is the sorted union of the keep directories a session
// recorded and those given now.
func keepDirs(recorded, given []string) []string {
	out := slices.Clone(recorded)
	for _, k := range given {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// rootDevices returns, per side, the file system the root is on: the
// device part of the root's FileID ("" where the backend has none).
func (e *engine) rootDevices(ctx context.Context) ([2]string, error) {
	var devs [2]string
	for s := range 2 {
		if !e.caps[s].FileIDs || !e.caps[s].Filesystem {
			continue
		}
		root, err := e.eps[s].Backend.Stat(ctx, "")
		if err != nil {
			return devs, fmt.Errorf("stat the %s root %s: %w", Side(s), e.eps[s].URL, err)
		}
		if dev, _, ok := strings.Cut(root.FileID, ":"); ok {
			devs[s] = dev
		}
	}
	return devs, nil
}

// otherFileSystem reports whether a root's device changed since it was
// recorded. Anonymous devices (major 0: NFS, tmpfs, overlay, btrfs
// subvolumes, FUSE) are numbered anew at each mount, so a change from one
// to another proves nothing; a change to or from a real device does.
func otherFileSystem(was, now string) bool {
	if was == "" || now == "" || was == now {
		return false
	}
	a, errA := strconv.ParseUint(was, 10, 64)
	b, errB := strconv.ParseUint(now, 10, 64)
	if errA != nil || errB != nil {
		return true
	}
	return devMajor(a) != 0 || devMajor(b) != 0
}

// devMajor is the major number of a Linux device number.
func devMajor(dev uint64) uint64 {
	return (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
}

// gather scans both endpoints and loads both snapshots concurrently, and
// merges them into path states in path order.
func (e *engine) gather(ctx context.Context) ([]PathState, error) {
	if states, ok, err := e.sparseGather(ctx); err != nil || ok {
		return states, err
	}
	var (
		scans [2][]Entry
		recs  [2][]Record
		errs  [4]error
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for s := range 2 {
		if z, ok := e.eps[s].Store.(Sizer); ok {
			e.sizes[s] = z.SizeHint()
		}
	}
	// An object store's listing lacks what its records hold (ScanOptions.
	// Known); one that scans in order looks them up as it goes (KnownAt,
	// see streamGather), others need them whole first.
	objects := false
	for s := range 2 {
		if !e.caps[s].MTimeFromFS && !e.caps[s].OrderedScan {
			objects = true
		}
	}
	hinted := e.o.Hints[Local] != nil || e.o.Hints[Remote] != nil
	if !e.o.OldDirs.IsZero() || e.o.AssumeNoMods || objects || hinted {
		// The snapshots say which directories to leave alone, and what an
		// object store's listing leaves out: load them first.
		for s := range 2 {
			wg.Go(func() { recs[s], errs[2+s] = e.load(ctx, Side(s)) })
		}
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			return nil, err
		}
		e.old = map[string]bool{}
		if !e.o.OldDirs.IsZero() {
			e.old = oldDirs(recs, e.o.OldDirs)
		}
		for s := range 2 {
			recs[s] = slices.DeleteFunc(recs[s], func(r Record) bool { return e.underOld(r.Path) })
			if e.o.AssumeNoMods {
				e.settled[s] = settledDirs(recs[s])
			}
			if !e.caps[s].MTimeFromFS {
				e.known[s] = knownEntries(recs[s])
			}
		}
	}
	var fromHints [2]bool
	// Conflicts and errors are left alone: the records around them need
	// not say what is there, so while any remains the sides are scanned.
	settledRecs := !slices.ContainsFunc(recs[Local], unsettled) && !slices.ContainsFunc(recs[Remote], unsettled)
	for s := range 2 {
		if h := e.o.Hints[s]; h != nil && e.old != nil && settledRecs {
			var err error
			if scans[s], fromHints[s], err = e.hintedEntries(ctx, Side(s), h, recs[s]); err != nil {
				return nil, err
			}
		}
	}
	dst, lazy := e.lazyDestination()
	scanned := fromHints // sides whose entries are at hand
	if e.old == nil {
		// Neither records nor scans are needed whole: they stream
		// through the join. The scans collected whole are kept when it
		// cannot finish so (then the records are loaded whole, and the
		// streamed scans are made again).
		states, kept, done, err := e.streamGather(ctx, &scans, dst, lazy)
		if err != nil || done {
			return states, err
		}
		scanned = kept
	}
	for s := range 2 {
		if fromHints[s] {
			continue
		}
		if e.old == nil && !scanned[s] && (!lazy || Side(s) != dst) && !e.caps[s].MTimeFromFS {
			// An object store's streamed join fell back: its records
			// load first, so that its scan takes from them what the
			// listing lacks (ScanOptions.Known) rather than asking.
			wg.Go(func() {
				if recs[s], errs[2+s] = e.load(ctx, Side(s)); errs[2+s] != nil {
					cancel()
					return
				}
				e.known[s] = knownEntries(recs[s])
				if scans[s], errs[s] = e.scan(ctx, Side(s)); errs[s] != nil {
					cancel()
				}
			})
			continue
		}
		if !scanned[s] && (!lazy || Side(s) != dst) { // a lazy destination is looked at after the source
			wg.Go(func() {
				scans[s], errs[s] = e.scan(ctx, Side(s))
				if errs[s] != nil {
					cancel()
				}
			})
		}
		if e.old == nil {
			wg.Go(func() {
				recs[s], errs[2+s] = e.load(ctx, Side(s))
				if errs[2+s] != nil {
					cancel()
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for s := range 2 {
		if !e.caps[s].MTimeFromFS && e.known[s] == nil && recs[s] != nil {
			// A lazy destination scanned in full after all (see
			// destinationEntries) takes what its listing lacks from them.
			e.known[s] = knownEntries(recs[s])
		}
	}
	for s := range 2 {
		if e.settled[s] != nil && scans[s] != nil {
			scans[s] = e.fromSettled(Side(s), scans[s], recs[s])
		}
		// Stores load in path order; one that did not is sorted here.
		if !recordsSorted(recs[s]) {
			slices.SortFunc(recs[s], func(a, b Record) int { return ComparePaths(a.Path, b.Path) })
		}
	}
	// The scans are joined with the records in path order through a
	// sorted index each (the entries themselves are not moved).
	var (
		idx  [2][]int32
		over [2]map[string]bool
	)
	if lazy {
		src := dst.Other()
		idx[src] = sortedIndex(scans[src])
		var err error
		if scans[dst], over[dst], err = e.destinationEntries(ctx, dst, scans[src], idx[src], recs); err != nil {
			return nil, err
		}
	}
	if e.unreadable.leaveOut(&scans, &recs) {
		idx = [2][]int32{}
	}
	for s := range 2 {
		if n := countEntries(recs[s]); len(scans[s]) == 0 && over[s] == nil && n > 0 && !e.o.ForceDeletes {
			return nil, &HaltError{fmt.Errorf("the %s root %s is empty but its snapshot lists %d entries (unmounted?); nothing done; run with --force-deletes if the emptying is intended", Side(s), e.eps[s].URL, n)}
		}
		if idx[s] == nil {
			idx[s] = sortedIndex(scans[s])
		}
	}
	states := joinStates(&scans, idx, &recs, over)
	if err := e.checkLost(states, [2]int{len(recs[0]), len(recs[1])}, [2]iter.Seq[*Entry]{pointers(scans[0]), pointers(scans[1])}); err != nil {
		return nil, err
	}
	return states, nil
}

// sized returns an empty slice with room for about n elements (a Sizer's
// hint, and a little more: a tree grows), nil when n is 0.
func sized[T any](n int) []T {
	if n <= 0 {
		return nil
	}
	return make([]T, 0, n+n/32+64)
}

// recordsSorted reports whether recs are in path order (ComparePaths),
// without copying them.
func recordsSorted(recs []Record) bool {
	for i := 1; i < len(recs); i++ {
		if ComparePaths(recs[i-1].Path, recs[i].Path) > 0 {
			return false
		}
	}
	return true
}

// sortedIndex returns the positions of entries in path order.
func sortedIndex(entries []Entry) []int32 {
	idx := make([]int32, len(entries))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return ComparePaths(entries[a].Path, entries[b].Path) })
	return idx
}

// joinStates merges both sides' scans (in the order of their indexes) and
// records (in path order) into one path state per path, in path order: a
// merge join, with no map of paths. The states point into scans and recs.
// A side with an overlay (over[s] not nil: a lazy destination) takes its
// records as its current entries, except on the paths over names, whose
// current entries are the ones in its scan (none when absent there).
func joinStates(scans *[2][]Entry, idx [2][]int32, recs *[2][]Record, over [2]map[string]bool) []PathState {
	n := max(len(idx[0]), len(idx[1]), len(recs[0]), len(recs[1]))
	states := make([]PathState, 0, n+n/8)
	var si, ri [2]int
	for {
		p, ok := "", false
		least := func(q string) {
			if !ok || q != p && ComparePaths(q, p) < 0 {
				p, ok = q, true
			}
		}
		for s := range 2 {
			if si[s] < len(idx[s]) {
				least(scans[s][idx[s][si[s]]].Path)
			}
			if ri[s] < len(recs[s]) {
				least(recs[s][ri[s]].Path)
			}
		}
		if !ok {
			return states
		}
		ps := PathState{Path: p}
		for s := range 2 {
			for ; si[s] < len(idx[s]) && scans[s][idx[s][si[s]]].Path == p; si[s]++ {
				ps.Cur[s] = &scans[s][idx[s][si[s]]]
			}
			for ; ri[s] < len(recs[s]) && recs[s][ri[s]].Path == p; ri[s]++ {
				ps.Base[s] = &recs[s][ri[s]]
			}
			if b := ps.Base[s]; over[s] != nil && ps.Cur[s] == nil && b != nil && b.Type != TypeNone && !over[s][p] {
				// Taken as unchanged: the record stands for the entry
				// (what changes the entry, a fingerprint, holds for both).
				ps.Cur[s] = &b.Entry
			}
		}
		states = append(states, ps)
	}
}

// MinLost is the least number of recorded entries a side must have lost,
// besides more than half of them, for the run to halt as if its root had
// been emptied (a fresh file system mounted over it, or everything
// deleted but a stray file).
const MinLost = 20

// checkLost halts a run in which a side lost most of what its snapshot
// records (more than half, and at least MinLost entries, not counting
// those found again under another path), unless --force-deletes. totals
// are the numbers of records per side; an entry found again is one of
// the states' or of the scans' (scanned yields those of each side).
func (e *engine) checkLost(states []PathState, totals [2]int, scanned [2]iter.Seq[*Entry]) error {
	if e.o.ForceDeletes {
		return nil
	}
	for s := range 2 {
		total := totals[s]
		count := func(here map[string]*Entry) int {
			lost := 0
			for i := range states {
				if ps := &states[i]; ps.Base[s] != nil && ps.Cur[s] == nil && !movedFrom(&ps.Base[s].Entry, here) {
					lost++
				}
			}
			return lost
		}
		lost := count(nil)
		if lost >= MinLost && 2*lost > total {
			// Entries that moved (the same file found under another
			// path: a renamed directory) are not lost.
			here := map[string]*Entry{}
			for c := range scanned[s] {
				if c.FileID != "" {
					here[c.FileID] = c
				}
			}
			for i := range states {
				if c := states[i].Cur[s]; c != nil && c.FileID != "" {
					here[c.FileID] = c
				}
			}
			lost = count(here)
		}
		if lost >= MinLost && 2*lost > total {
			return &HaltError{fmt.Errorf("the %s root %s lost %d of the %d entries its snapshot lists (more than half, and at least %d: unmounted, or another disk mounted there?); nothing done; run with --force-deletes if the deletions are intended", Side(s), e.eps[s].URL, lost, total, MinLost)}
		}
	}
	return nil
}

// pointers yields a pointer to each of es.
func pointers(es []Entry) iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for i := range es {
			if !yield(&es[i]) {
				return
			}
		}
	}
}

// movedFrom reports whether the recorded entry r is found, unchanged,
// under another path (here maps FileIDs to scanned entries): the same
// file ID, type, size and mtime, so that a reused inode number does not
// pass for a move (a directory moved to another parent, whose mtime
// changes, counts as lost: its files, which dominate, count as moved).
func movedFrom(r *Entry, here map[string]*Entry) bool {
	if r.FileID == "" || here == nil {
		return false
	}
	c := here[r.FileID]
	if c == nil || c.Type != r.Type {
		return false
	}
	return c.Size == r.Size && c.MTime.Equal(r.MTime)
}

// lazyDestination says whether the destination of a push or pull need not
// be scanned in full: changes made there are left alone unless the source
// changed the same path, so only those paths (and their parents) are
// looked at. Not with --mirror, not in bidi, not on a first run, not after
// an interrupted run.
func (e *engine) lazyDestination() (Side, bool) {
	p := &e.o.Policy
	if p.Direction == Bidi || p.Mirror {
		return 0, false
	}
	dst := Remote
	if p.Direction == Pull {
		dst = Local
	}
	// After an interrupted run the destination is scanned in full: that
	// also clears the temporary files the run left behind.
	return dst, e.eps[dst].Store != nil && e.cleanEnd[dst]
}

// unsettled reports a record of a conflict or an error.
func unsettled(r Record) bool { return r.Status != StatusSynced }

// hintedEntries returns a side's entries without scanning it, when a
// watcher says which paths changed (Options.Hints): its records, taken as
// unchanged, corrected by a Stat of every hinted path. A recorded
// directory that vanished or is no longer a directory takes its recorded
// subtree with it. ok is false when the hints cannot stand for a scan: no
// records, an interrupted last run, a directory among the hinted paths
// that appeared (its contents are not known), or too many paths.
func (e *engine) hintedEntries(ctx context.Context, s Side, h *Hint, recs []Record) ([]Entry, bool, error) {
	if len(recs) == 0 || !e.cleanEnd[s] || len(h.Paths) > max(1000, len(recs)/10) {
		return nil, false, nil
	}
	entries := make(map[string]Entry, len(recs))
	for _, r := range recs {
		entries[r.Path] = r.Entry
	}
	ex := newExclusion(e.skipFor(s))
	b := e.eps[s].Backend
	gone := map[string]bool{} // recorded directories that are no more
	for _, p := range h.Paths {
		if p == "" || IsReserved(p) {
			continue
		}
		old, had := entries[p]
		en, err := b.Stat(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if had && old.Type == TypeDir {
				gone[p] = true // what was inside is gone too
			}
			delete(entries, p)
			continue
		case err != nil:
			return nil, false, nil // scanned instead, which tells what cannot be read
		}
		if en.Type == TypeDir && (!had || old.Type != TypeDir) {
			return nil, false, nil // a directory whose contents no record tells
		}
		if had && old.Type == TypeDir && en.Type != TypeDir {
			gone[p] = true
		}
		if _, ok := entries[Parent(p)]; !ok && Parent(p) != "" {
			return nil, false, nil // in a directory the records do not know
		}
		if ex.excluded(p, en.Type == TypeDir) || e.hidden(&en) {
			continue
		}
		if en.Type == TypeSymlink && e.o.Links == LinksSkip {
			e.skippedLink(s, p)
			delete(entries, p) // as a scan leaves it out
			continue
		}
		entries[p] = en
	}
	if len(gone) > 0 {
		for p := range entries {
			if underAnyOf(p, gone) {
				delete(entries, p)
			}
		}
	}
	out := make([]Entry, 0, len(entries))
	for _, en := range entries {
		out = append(out, en)
	}
	return out, true, nil
}

// destinationEntries returns the destination's entries for a lazy push or
// pull: its records, taken as unchanged, corrected by a Stat of every path
// the source changed and of their parents. It returns those Stats'
// entries and the paths they cover (over: where the records do not stand,
// an entry found or not); the records themselves are not copied
// (joinStates takes them for the rest). When the destination has no
// records, or its root is empty (unmounted?), or the source changed much,
// it scans the destination in full instead, and over is nil. srcIdx is
// srcScan's sorted index.
func (e *engine) destinationEntries(ctx context.Context, dst Side, srcScan []Entry, srcIdx []int32, recs [2][]Record) ([]Entry, map[string]bool, error) {
	src := dst.Other()
	full := func() ([]Entry, map[string]bool, error) {
		en, err := e.scan(ctx, dst)
		return en, nil, err
	}
	if len(recs[dst]) == 0 {
		return full()
	}
	if empty, err := e.rootEmpty(ctx, dst); err != nil || empty {
		return full()
	}
	dopts := e.o.Policy.diffOptions()
	limit := max(1000, len(recs[dst])/10)
	changed := map[string]bool{}
	mark := func(p string) {
		for ; p != "" && !changed[p]; p = Parent(p) {
			changed[p] = true
		}
	}
	// The source's scan and records, joined in path order.
	base := recs[src]
	for i, j := 0, 0; i < len(srcIdx) || j < len(base); {
		var (
			c *Entry
			b *Record
		)
		switch {
		case j >= len(base):
			c = &srcScan[srcIdx[i]]
		case i >= len(srcIdx):
			b = &base[j]
		default:
			c, b = &srcScan[srcIdx[i]], &base[j]
			if c.Path != b.Path {
				if ComparePaths(c.Path, b.Path) < 0 {
					b = nil
				} else {
					c = nil
				}
			}
		}
		if c != nil {
			i++
		}
		if b != nil {
			j++
		}
		switch {
		case c == nil: // recorded at the source, gone now: deleted
			mark(b.Path)
		case Diff(b, c, dopts) != Unchanged:
			mark(c.Path)
		}
		if len(changed) > limit {
			return full()
		}
	}
	var out []Entry
	over := make(map[string]bool, len(changed))
	b := e.eps[dst].Backend
	for p := range changed {
		en, err := b.Stat(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			over[p] = true
		case err != nil:
			e.unreadable.add(dst, p, err) // its record stands (and is left out)
		case en.Type == TypeSymlink && e.o.Links == LinksSkip:
			over[p] = true
		default:
			over[p] = true
			out = append(out, en)
		}
	}
	return out, over, nil
}

// rootEmpty reports whether a side's root holds no entry at all.
func (e *engine) rootEmpty(ctx context.Context, s Side) (bool, error) {
	found := false
	err := e.eps[s].Backend.Scan(ctx, ScanOptions{Threads: 1, Prune: Prune{Shallow: true}}, func(Entry) error {
		found = true
		return errFound
	})
	if errors.Is(err, errFound) {
		err = nil
	}
	return !found, err
}

// errFound stops a scan that found what it looked for.
var errFound = errors.New("found")

// knownEntries maps the paths of records to their entries, for an object
// store's scan (ScanOptions.Known).
func knownEntries(recs []Record) map[string]Entry {
	known := make(map[string]Entry, len(recs))
	for _, r := range recs {
		if r.Type != TypeNone { // an error on a path that had no entry
			known[r.Path] = r.Entry
		}
	}
	return known
}

// scan lists one side, leaving out what the filters and -n exclude.
func (e *engine) scan(ctx context.Context, s Side) ([]Entry, error) {
	out := sized[Entry](e.sizes[s])
	if err := e.scanEach(ctx, s, false, nil, func(en Entry) error { out = append(out, en); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// scanTable is scan into an entryTable, in path order.
func (e *engine) scanTable(ctx context.Context, s Side) (*entryTable, error) {
	t := newEntryTable(e.sizes[s])
	if err := e.scanEach(ctx, s, false, nil, func(en Entry) error { t.add(&en); return nil }); err != nil {
		return nil, err
	}
	t.sort()
	return t, nil
}

// scanEach scans side s and passes keep each entry the run takes, one at
// a time (keep need not be safe for concurrent use); ordered asks for them
// in path order (the backend's Caps.OrderedScan must be set), and
// knownAt, if not nil, looks up the side's records for it (ScanOptions.
// KnownAt). An error of keep stops the scan.
func (e *engine) scanEach(ctx context.Context, s Side, ordered bool, knownAt func(string) (Entry, bool), keep func(Entry) error) error {
	var mu sync.Mutex
	n := 0
	opts := ScanOptions{Prune: e.pruneFor(s), FollowLinks: e.o.Links == LinksFollow, Threads: e.eps[s].ScanThreads, Ordered: ordered,
		Pause: e.o.ScanPause, PauseEvery: e.o.ScanPauseEvery, PartialMaxAge: cmp.Or(e.o.ResumeAge, 5*24*time.Hour)}
	settled := e.settled[s]
	opts.Prune.Settled = settled
	opts.Known, opts.KnownAt = e.known[s], knownAt
	opts.TempToken = e.meta.TempToken
	opts.Unreadable = func(p string, err error) error {
		e.unreadable.add(s, p, err)
		return nil
	}
	start := time.Now()
	err := e.eps[s].Backend.Scan(ctx, opts, func(en Entry) error {
		if en.Type == TypeSymlink && e.o.Links == LinksSkip {
			e.skippedLink(s, en.Path)
			return nil
		}
		if e.hidden(&en) {
			return nil
		}
		if e.lv.trace && en.Type == TypeDir {
			e.log.Log(ctx, LevelTrace, "scan dir", "side", s.String(), "path", DisplayPath(en.Path))
		}
		if t, ok := settled[en.Path]; ok && en.Type == TypeDir && t.Equal(en.MTime) {
			e.skipped[s].Store(en.Path, true) // reported, not listed
		}
		mu.Lock()
		defer mu.Unlock()
		n++
		return keep(en)
	})
	if err != nil {
		return fmt.Errorf("scan %s side %s: %w", s, e.eps[s].URL, err)
	}
	if e.lv.debug {
		e.log.Debug("scanned", "side", s.String(), "entries", n, "took", time.Since(start))
	}
	return nil
}

// skippedLink notes a symbolic link left out by LinksSkip (held back
// while a streamed scan may be made again: see holdLinks).
func (e *engine) skippedLink(s Side, p string) {
	if e.o.SkippedLink == nil {
		return
	}
	e.links.mu.Lock()
	if e.links.hold[s] {
		e.links.held[s] = append(e.links.held[s], p)
		e.links.mu.Unlock()
		return
	}
	e.links.mu.Unlock()
	e.o.SkippedLink(s, p)
}

// heldLinks are the symbolic links a streamed scan skipped, told once the
// join that consumes it stands (a join that falls back scans again).
type heldLinks struct {
	mu   sync.Mutex
	hold [2]bool
	held [2][]string
}

// holdLinks holds back the links side s's scan skips.
func (e *engine) holdLinks(s Side) {
	e.links.mu.Lock()
	e.links.hold[s] = true
	e.links.mu.Unlock()
}

// releaseLinks tells the links held back (tell) or forgets them, and
// holds no more.
func (e *engine) releaseLinks(tell bool) {
	e.links.mu.Lock()
	held := e.links.held
	e.links.hold, e.links.held = [2]bool{}, [2][]string{}
	e.links.mu.Unlock()
	for s := range 2 {
		for _, p := range held[s] {
			if tell {
				e.o.SkippedLink(Side(s), p)
			}
		}
	}
}

// pruneFor is what side s's scan leaves out: the user's excludes, the keep
// directories (never synchronized) and the old directories.
func (e *engine) pruneFor(s Side) Prune {
	p := Prune{Filter: e.o.Filter.List()}
	p.Subtrees = append(p.Subtrees, e.o.Private[s]...)
	p.Subtrees = append(p.Subtrees, keepDirs(e.keepDirs, e.o.Policy.KeepDir[:])...)
	for d := range e.old {
		p.Subtrees = append(p.Subtrees, d)
	}
	slices.Sort(p.Subtrees)
	return p
}

// skipFor is side s's scan filter as a function (nil: nothing skipped).
func (e *engine) skipFor(s Side) func(string, bool) bool {
	p := e.pruneFor(s)
	skip, _ := p.funcs(e.o.Filter)
	return skip
}

// settledDirs maps the directories of agreed records to their mtimes.
func settledDirs(recs []Record) map[string]time.Time {
	m := map[string]time.Time{}
	for i := range recs {
		if r := &recs[i]; r.Type == TypeDir && r.Status == StatusSynced {
			m[r.Path] = r.MTime
		}
	}
	return m
}

// fromSettled adds to a side's scan the recorded entries below the
// directories it did not list (--assume-no-mods), as unchanged.
func (e *engine) fromSettled(s Side, scan []Entry, recs []Record) []Entry {
	under := func(p string) bool {
		for d := Parent(p); d != ""; d = Parent(d) {
			if _, ok := e.skipped[s].Load(d); ok {
				return true
			}
		}
		return false
	}
	for i := range recs {
		if r := &recs[i]; under(r.Path) && r.Type != TypeNone {
			scan = append(scan, r.Entry) // conflicts too: they stay conflicts
		}
	}
	return scan
}

// oldDirs returns the directories whose recursive mtime, over both sides'
// records, is before cutoff.
func oldDirs(recs [2][]Record, cutoff time.Time) map[string]bool {
	newest := map[string]time.Time{}
	dirs := map[string]bool{}
	for s := range 2 {
		for i := range recs[s] {
			r := &recs[s][i]
			if r.Type == TypeDir {
				dirs[r.Path] = true
			}
			for p := r.Path; p != ""; p = Parent(p) {
				if p != r.Path || r.Type == TypeDir {
					if t, ok := newest[p]; !ok || r.MTime.After(t) {
						newest[p] = r.MTime
					}
				}
			}
		}
	}
	old := map[string]bool{}
	for d := range dirs {
		if newest[d].Before(cutoff) {
			old[d] = true
		}
	}
	return old
}

// underOld reports whether p is an old directory or lies below one.
func (e *engine) underOld(p string) bool {
	for ; p != ""; p = Parent(p) {
		if e.old[p] {
			return true
		}
	}
	return false
}

// hidden reports whether a scanned directory is only passed through (an
// ancestor of what an include rule names), not synchronized itself.
func (e *engine) hidden(en *Entry) bool {
	return en.Type == TypeDir && !e.o.Filter.Empty() && e.o.Filter.Decide(en.Path, true) == filter.Traverse
}

// load reads one side's snapshot records, leaving out entries the filters
// exclude now (they are left alone, not deleted).
func (e *engine) load(ctx context.Context, s Side) ([]Record, error) {
	if e.eps[s].Store == nil {
		return nil, nil
	}
	out := sized[Record](e.sizes[s])
	start := time.Now()
	err := e.loadEach(ctx, s, func(r Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cap(out) > 64+len(out)+len(out)/4 { // the hint counted stale versions
		out = slices.Clone(out)
	}
	if e.lv.debug {
		e.log.Debug("snapshot loaded", "side", s.String(), "records", len(out), "took", time.Since(start))
	}
	return out, nil
}

// loadEach passes fn one side's snapshot records, in the store's order,
// leaving out entries the filters exclude now (they are left alone, not
// deleted: --clean-excluded notes them in e.excluded).
func (e *engine) loadEach(ctx context.Context, s Side, fn func(Record) error) error {
	st := e.eps[s].Store
	if st == nil {
		return nil
	}
	ex := newExclusion(e.skipFor(s))
	var dropped []string
	err := st.Load(ctx, func(r Record) error {
		switch {
		case r.Path == "":
		case !ex.excluded(r.Path, r.Type == TypeDir) && !e.hidden(&r.Entry):
			return fn(r)
		case e.o.CleanExcluded:
			dropped = append(dropped, r.Path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load %s snapshot: %w", s, err)
	}
	e.excluded[s] = dropped
	return nil
}

// exclusion answers whether a path is excluded by the filter, itself or
// through an excluded ancestor directory.
type exclusion struct {
	skip func(string, bool) bool
	dirs map[string]bool
}

func newExclusion(skip func(string, bool) bool) *exclusion {
	return &exclusion{skip: skip, dirs: map[string]bool{}}
}

func (x *exclusion) excluded(p string, isDir bool) bool {
	if x.skip == nil {
		return false
	}
	if par := Parent(p); par != "" && x.dirExcluded(par) {
		return true
	}
	return x.skip(p, isDir)
}

func (x *exclusion) dirExcluded(p string) bool {
	if v, ok := x.dirs[p]; ok {
		return v
	}
	v := x.excluded(p, true)
	x.dirs[p] = v
	return v
}

// begin records the session identity on both sides before anything
// changes, and drops the records --clean-excluded names.
func (e *engine) begin(ctx context.Context) error {
	if e.noop && len(e.unreadable.list) == 0 && len(e.excluded[Local])+len(e.excluded[Remote]) == 0 {
		// Nothing will change before end records the run: a crash in
		// between leaves the snapshots as the last run left them, which
		// still describe the trees (one sync of each snapshot, not two).
		return nil
	}
	for s := range 2 {
		for _, p := range e.excluded[s] {
			if err := e.eps[s].Store.Delete(ctx, p); err != nil {
				return fmt.Errorf("write %s snapshot: %w", Side(s), err)
			}
		}
		m := e.meta
		m.Side = Side(s).String()
		if err := e.eps[s].Store.SetMeta(ctx, m); err != nil {
			return fmt.Errorf("write %s snapshot: %w", Side(s), err)
		}
	}
	return nil
}

// keepsMeta reports whether side s's snapshot can be left as it is at the
// end of the run instead of recording m: the run changed nothing (begin
// wrote nothing either), the snapshot's last run ended cleanly, and m
// differs from what it holds only in the run's start and stop times. A
// run that changes nothing then writes nothing to the snapshots, which
// spares each its database's writes at close (a new table, the manifest,
// their syncs): the recorded times stay those of the last run that
// changed something; the status file has every run's.
func (e *engine) keepsMeta(s Side, m Meta) bool {
	r := e.recorded[s]
	if !e.noop || r == nil || r.Stopped.IsZero() || len(e.unreadable.list) > 0 ||
		len(e.excluded[Local])+len(e.excluded[Remote]) > 0 {
		return false
	}
	return reflect.DeepEqual(identity(*r), identity(m))
}

// identity is m without the times of its run, its empty lists nil (a
// store may give back nil for an empty list, or the other way round).
func identity(m Meta) Meta {
	m.Started, m.Stopped = time.Time{}, time.Time{}
	if len(m.Filters) == 0 {
		m.Filters = nil
	}
	if len(m.KeepDirs) == 0 {
		m.KeepDirs = nil
	}
	return m
}

// end makes the snapshots durable and records the stop time.
func (e *engine) end(ctx context.Context) error {
	var errs []error
	for s := range 2 {
		m := e.meta
		m.Side = Side(s).String()
		m.Stopped = time.Now().UTC()
		if e.complete && e.stats.Conflicts.Load()+e.stats.Errors.Load()+e.stats.Skipped.Load()+e.stats.Renamed.Load() == 0 {
			// Only a run that settled everything can stand for the
			// journal's past: the next run reads only what changed since.
			m.Journal = e.o.Journal[s]
		}
		st := e.eps[s].Store
		if err := st.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush %s snapshot: %w", Side(s), err))
		}
		if e.keepsMeta(Side(s), m) {
			continue
		}
		if err := st.SetMeta(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("write %s snapshot: %w", Side(s), err))
		}
	}
	return errors.Join(errs...)
}
