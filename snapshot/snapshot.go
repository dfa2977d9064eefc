// Package snapshot keeps a session's snapshot of one side of a sync: the
// last agreed record of every path plus the session identity (core.Meta), in
// a small embedded Badger database, and a status file beside it.
//
// A snapshot directory holds the Badger files, a "pid" file naming the
// process that has it open for writing, and "status.json" (see WriteStatus).
package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/badgerfix"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Tuning of the write buffer.
const (
	flushCount = 2000                   // pending writes that trigger a flush
	flushDelay = 200 * time.Millisecond // age of the oldest pending write that triggers a flush
	pidFile    = "pid"                  // file naming the writer's pid
)

var (
	_ core.Store = (*DB)(nil)
	_ core.Sizer = (*DB)(nil)
)

// Options controls how Open opens a snapshot.
type Options struct {
	// ReadOnly opens the snapshot without writing (for async admin). It
	// works while no writer holds the snapshot; Put, Delete and SetMeta
	// return an error.
	ReadOnly bool
}

// LockedError reports a snapshot directory held by another live process (or
// by another DB in this process).
type LockedError struct {
	Dir string // the snapshot directory
	PID int    // the holder's pid, 0 when unknown (e.g. a read-only holder)
}

// Error returns "session snapshot DIR is in use by pid N".
func (e *LockedError) Error() string {
	if e.PID <= 0 {
		return fmt.Sprintf("session snapshot %s is in use by another process", e.Dir)
	}
	return fmt.Sprintf("session snapshot %s is in use by pid %d", e.Dir, e.PID)
}

// DB is an open snapshot. It implements core.Store and is safe for
// concurrent use. Put and Delete are buffered and written in batches; Flush
// and Close make them durable.
//
// A DB opened for writing reads through a read-only Badger handle until
// its first write (see Open): a run that changes nothing never opens
// Badger for writing, which costs a memtable, a new value-log file,
// compactors and syncs at open and close.
type DB struct {
	dir      string
	readOnly bool
	// bdb is the handle reads and writes use: the read-only one of a
	// writer until its first write, the writing one from then on.
	bdb atomic.Pointer[badger.DB]
	// reader is a writer's read-only handle (nil when Badger was opened
	// for writing at once). It stays open until Close: a read begun on it
	// may still run when the first write reopens the database.
	reader *badger.DB
	// unlock drops the directory lock the DB holds itself while it reads
	// through reader (Badger holds it otherwise); nil when Badger does.
	unlock func()
	// upMu serialises reopening for writing; writing tells it was done.
	upMu    sync.Mutex
	writing bool

	// flushMu serialises flushes so that batches reach Badger in the order
	// they were taken from pending.
	flushMu sync.Mutex
	// unsynced: a batch reached Badger since its files were last synced
	// (guarded by flushMu). A flush with nothing new to make durable skips
	// the sync, so a run that changes nothing pays no fsync for it.
	unsynced bool
	// changes are the record writes made since Load streamed a current
	// dump (guarded by flushMu; see dump.go): Close writes the next dump
	// from that one and these.
	changes changeSet

	mu       sync.Mutex
	pending  []pendingWrite // in the order they were made
	first    time.Time      // when the oldest pending write was made
	bgErr    error          // error of a background flush, reported once
	closed   bool
	kick     chan struct{} // wakes the flusher: pending became non-empty or full
	done     chan struct{} // closed by Close to stop the flusher
	stopped  chan struct{} // closed by the flusher when it returns
	encodBuf []byte        // where Put encodes a record (guarded by mu)

	// prefetch has Badger's iterator fetch values ahead (BenchmarkLoad
	// compares it with reading them in place, which is what Load does).
	prefetch bool
	// noDump has Load read Badger even when the dump is current
	// (BenchmarkLoad compares the two).
	noDump bool
	// dumpMin is the least number of records for which Close writes a
	// dump (dumpMinRecords; lowered by tests), as estimated from SizeHint,
	// loaded (records the last whole Load passed on) and written (record
	// writes since Open).
	dumpMin         int
	loaded, written atomic.Int64
	// loadedAll: a Load passed on every record since Open. Only then does
	// Close write a dump: a run that read a few paths (LoadPaths, a
	// journal-driven resync) must not pay for reading them all at its end;
	// it leaves the dump stale, and its stamp says so.
	loadedAll atomic.Bool
}

const (
	// memTableSize is the size of Badger's memtables; its largest write
	// batch is 15 % of it.
	memTableSize = 2 << 20
	// valueThreshold is the size under which Badger keeps a value in the
	// LSM tree: every record, a few dozen bytes, is. It is Badger's
	// largest batch (the most it accepts), because Badger builds, at every
	// open, a histogram of one bucket per step between the threshold and
	// that size, for a dynamic threshold that is off here (VLogPercentile
	// 0): at 64 KiB it had 1,024 buckets, some 16 KB built at every open.
	valueThreshold = memTableSize * 15 / 100
)

// badgerOptions returns Badger options tuned for a small embedded database
// that is opened on every run. Records (a few dozen bytes) stay in the LSM
// tree (ValueThreshold), so Load reads them in key order without touching
// the value log and without prefetching; tables are not compressed, which
// makes Load of a million records about a third faster and allocate a
// quarter as much (BenchmarkLoad). Existing Snappy tables are still read.
// Level 0 is not compacted on close, and holds up to 8 tables before it
// is: a run that changed a few hundred records (a journal-driven resync)
// adds one small table instead of rewriting the level below, which
// halved the CPU time of a 1 %-modified resync of 50k files; point reads
// (LoadPaths) skip the extra tables by their Bloom filters, and Load did
// not get slower (BenchmarkLoad). There is no block cache and no index
// cache: Badger needs neither without compression or encryption (blocks
// and indexes are read in place from the mapped tables), and their two
// caches cost every open ~0.8 MB of allocations, two goroutines and
// their share of the first collections of a short run (BenchmarkOpenClose).
func badgerOptions(dir string, readOnly bool) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(nil).
		WithReadOnly(readOnly).
		WithMemTableSize(memTableSize).
		WithValueThreshold(valueThreshold).
		WithNumMemtables(2).
		WithNumLevelZeroTables(8).
		WithNumLevelZeroTablesStall(16).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithNumVersionsToKeep(1).
		WithValueLogFileSize(4 << 20).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithCompactL0OnClose(false).
		WithCompression(options.None)
}

// Open opens the snapshot database in dir, creating dir (mode 0700) and its
// parents unless opts.ReadOnly is set. A dir held by another live process,
// or already open in this process, returns a *LockedError. Empty memtable
// and value-log files left by a process killed while creating them are
// removed first (when nobody holds the directory).
//
// A writer takes Badger's directory lock itself (the exclusive flock of
// the directory Badger's Open would take, so that every other opener,
// read-only ones included, still finds it held) and opens Badger
// read-only when the directory was closed cleanly (it has a manifest and
// no memtable to replay); the first write reopens it for writing under the
// same lock (writable). Otherwise, or where the lock cannot be taken so,
// it opens Badger for writing at once, as a run always did.
func Open(dir string, opts Options) (*DB, error) {
	if opts.ReadOnly {
		if !Exists(dir) {
			return nil, fmt.Errorf("snapshot %s: %w", dir, os.ErrNotExist)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	// A process killed while Badger created a file leaves it empty, and
	// Badger then refuses the directory: such a file holds nothing.
	_, _ = badgerfix.RemoveTorn(dir)
	db := &DB{
		dir:      dir,
		readOnly: opts.ReadOnly,
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		dumpMin:  dumpMinRecords,
		changes:  changeSet{max: changesMaxBytes},
	}
	var (
		bdb *badger.DB
		err error
	)
	if !opts.ReadOnly {
		if bdb, err = db.openReader(); err != nil {
			return nil, err // a *LockedError
		}
	}
	if bdb == nil && err == nil {
		bdb, err = badger.Open(badgerOptions(dir, opts.ReadOnly))
		if err != nil && isLockFailure(err) {
			return nil, &LockedError{Dir: dir, PID: holderPID(dir)}
		}
		db.writing = !opts.ReadOnly
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	db.bdb.Store(bdb)
	if opts.ReadOnly {
		close(db.stopped)
		return db, nil
	}
	// The directory lock is authoritative; a pid file left by a dead
	// writer is simply overwritten.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	// Through the directory's os.Root: a link planted in the pid file's
	// place cannot take the write outside the directory.
	if err := writeInDir(dir, pidFile, pid); err != nil {
		if db.reader == nil {
			_ = bdb.Close()
		}
		_ = db.dropLock()
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	go db.flusher()
	return db, nil
}

// openReader takes the directory lock and opens Badger read-only without
// its own lock, for a writer whose snapshot was closed cleanly. It returns
// a nil handle and no error when that is not how to open it (no manifest:
// a new snapshot; a memtable file: Badger must replay it; a system without
// the lock; a read-only open that fails), holding no lock then; a
// *LockedError when another holds the directory.
func (db *DB) openReader() (*badger.DB, error) {
	ents, err := os.ReadDir(db.dir)
	if err != nil {
		return nil, nil
	}
	manifest := false
	for _, e := range ents {
		switch n := e.Name(); {
		case n == badger.ManifestFilename:
			manifest = true
		case strings.HasSuffix(n, ".mem"):
			return nil, nil
		}
	}
	if !manifest {
		return nil, nil
	}
	unlock, err := lockDir(db.dir)
	var le *LockedError
	if errors.As(err, &le) {
		return nil, err
	}
	if err != nil {
		return nil, nil // no such lock here: Badger takes its own
	}
	bdb, err := badger.Open(badgerOptions(db.dir, true).WithBypassLockGuard(true))
	if err != nil {
		unlock()
		return nil, nil
	}
	db.reader, db.unlock = bdb, unlock
	return bdb, nil
}

// writable returns the handle to write with: at the first write of a DB
// that reads through a read-only handle, Badger reopened for writing under
// the directory lock the DB holds (the read-only handle stays open for
// the reads that may still use it until Close).
func (db *DB) writable() (*badger.DB, error) {
	db.upMu.Lock()
	defer db.upMu.Unlock()
	if db.writing {
		return db.bdb.Load(), nil
	}
	bdb, err := badger.Open(badgerOptions(db.dir, false).WithBypassLockGuard(true))
	if err != nil {
		return nil, db.errorf(fmt.Errorf("open for writing: %w", err))
	}
	db.bdb.Store(bdb)
	db.writing = true
	return bdb, nil
}

// dropLock closes the read-only handle of a writer and drops the
// directory lock the DB holds itself, if any.
func (db *DB) dropLock() error {
	var err error
	if db.reader != nil {
		err = db.reader.Close()
		db.reader = nil
	}
	if db.unlock != nil {
		db.unlock()
		db.unlock = nil
	}
	return err
}

// writeInDir writes dir/name through dir's os.Root, replacing a link in
// name's place rather than writing through it.
func writeInDir(dir, name string, b []byte) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		if err := root.Remove(name); err != nil {
			return err
		}
	}
	return root.WriteFile(name, b, 0o600)
}

// isLockFailure reports whether err is Badger failing to take its directory
// lock. Badger flattens the underlying error into text, so match the text.
func isLockFailure(err error) bool {
	return strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// holderPID returns the pid of the writer holding dir, or 0 when it cannot
// be told (no pid file, or a pid file naming a dead process).
func holderPID(dir string) int {
	for _, name := range []string{pidFile, "LOCK"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if processAlive(pid) {
			return pid
		}
	}
	return 0
}

// errorf wraps err with the snapshot directory.
func (db *DB) errorf(err error) error {
	return fmt.Errorf("snapshot %s: %w", db.dir, err)
}

// check returns an error when db is closed or ctx is done.
func (db *DB) check(ctx context.Context, write bool) error {
	if err := ctx.Err(); err != nil {
		return db.errorf(err)
	}
	if write && db.readOnly {
		return db.errorf(errors.New("opened read-only"))
	}
	return nil
}

// Meta returns the stored session identity; ok is false when none is stored.
func (db *DB) Meta(ctx context.Context) (core.Meta, bool, error) {
	var m core.Meta
	if err := db.check(ctx, false); err != nil {
		return m, false, err
	}
	ok := false
	err := db.view(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &m) })
	})
	if err != nil {
		return core.Meta{}, false, db.errorf(fmt.Errorf("meta: %w", err))
	}
	return m, ok, nil
}

// SetMeta replaces the stored session identity. It is durable on return,
// and so is the copy of it that PeekMeta reads, kept for the identity of
// a run that stopped (m.Stopped set) only.
func (db *DB) SetMeta(ctx context.Context, m core.Meta) error {
	if err := db.check(ctx, true); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return db.errorf(fmt.Errorf("meta: %w", err))
	}
	if err := db.alive(); err != nil {
		return err
	}
	// The copy PeekMeta reads goes first and comes back last (metaFile).
	if err := db.dropMetaCopy(); err != nil {
		return err
	}
	bdb, err := db.writable()
	if err != nil {
		return err
	}
	if err := bdb.Update(func(txn *badger.Txn) error { return txn.Set(metaKey(), b) }); err != nil {
		return db.errorf(fmt.Errorf("meta: %w", err))
	}
	if err := bdb.Sync(); err != nil {
		return db.errorf(fmt.Errorf("meta: %w", err))
	}
	if m.Stopped.IsZero() {
		return nil // a run's identity while it goes on: nothing to peek at
	}
	return db.writeMetaCopy(b)
}

// alive returns an error once db is closed.
func (db *DB) alive() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return db.errorf(errors.New("closed"))
	}
	return nil
}

// view runs fn in a read transaction unless db is closed.
func (db *DB) view(fn func(*badger.Txn) error) error {
	if err := db.alive(); err != nil {
		return err
	}
	return db.bdb.Load().View(fn)
}

// Load calls fn for every record in core.ComparePaths order of their paths.
// Pending writes are written first, so Load sees them. It streams the dump
// that Close wrote when that is current (see dump.go), and reads Badger
// otherwise. An error from fn stops Load and is returned as is.
func (db *DB) Load(ctx context.Context, fn func(core.Record) error) error {
	if err := db.readable(ctx); err != nil {
		return err
	}
	if !db.noDump {
		used, err := db.loadDump(ctx, fn)
		var ce callerError
		switch {
		case errors.As(err, &ce):
			return ce.err
		case err != nil:
			return db.errorf(fmt.Errorf("load: %w", err))
		case used:
			return nil
		}
	}
	var n int64
	err := db.records(ctx, "load", func(item *badger.Item) error {
		var r core.Record
		if err := item.Value(func(v []byte) error { return decodeKeyRecord(item.Key(), v, &r) }); err != nil {
			return fmt.Errorf("record %q: %w", keyPath(item.Key()), err)
		}
		if err := fn(r); err != nil {
			return callerError{err}
		}
		n++
		return nil
	})
	if err == nil {
		db.loaded.Store(n)
		db.loadedAll.Store(true)
	}
	return err
}

// SizeHint returns about how many records db holds (core.Sizer): the keys
// of its tables, stale versions and the session identity included, not
// those still in memory. It reads no record.
func (db *DB) SizeHint() int {
	if db.alive() != nil {
		return 0
	}
	n := 0
	for _, t := range db.bdb.Load().Tables() {
		n += int(t.KeyCount)
	}
	return n
}

// Count returns the number of records per status.
func (db *DB) Count(ctx context.Context) (map[core.Status]int, error) {
	counts := make(map[core.Status]int)
	err := db.records(ctx, "count", func(item *badger.Item) error {
		var s core.Status
		err := item.Value(func(v []byte) (err error) {
			s, err = decodeStatus(v)
			return err
		})
		if err != nil {
			return fmt.Errorf("record %q: %w", keyPath(item.Key()), err)
		}
		counts[s]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// callerError marks an error of Load's caller, passed on as is rather
// than as a database error.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }

// readable readies db for a read: ctx and db are live, and what is
// pending is written, so that the read sees it.
func (db *DB) readable(ctx context.Context) error {
	if err := db.check(ctx, false); err != nil {
		return err
	}
	if err := db.alive(); err != nil {
		return err
	}
	return db.write(false)
}

// records calls fn for every record item in key order, after writing what
// is pending. An error from fn stops the walk; a callerError is returned
// unwrapped, any other as the database's.
func (db *DB) records(ctx context.Context, op string, fn func(*badger.Item) error) error {
	if err := db.readable(ctx); err != nil {
		return err
	}
	err := db.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{
			PrefetchValues: db.prefetch,
			PrefetchSize:   256,
			Prefix:         []byte{prefixRecord},
		})
		defer it.Close()
		n := 0
		for it.Seek([]byte{prefixRecord}); it.Valid(); it.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := fn(it.Item()); err != nil {
				return err
			}
		}
		return nil
	})
	return db.readError(op, err)
}

// readError is what a read returns for err: the caller's own error as it
// was (a callerError), the store's wrapped with op, or nil.
func (db *DB) readError(op string, err error) error {
	var ce callerError
	switch {
	case errors.As(err, &ce):
		return ce.err
	case err != nil:
		return db.errorf(fmt.Errorf("%s: %w", op, err))
	}
	return nil
}

// Put records r, replacing the record of the same path. The write is
// buffered; Flush makes it durable.
func (db *DB) Put(ctx context.Context, r core.Record) error {
	if err := db.check(ctx, true); err != nil {
		return err
	}
	db.mu.Lock()
	db.encodBuf = encodeRecord(db.encodBuf[:0], &r)
	kv := appendRecordKey(make([]byte, 0, 1+len(r.Path)+len(db.encodBuf)), r.Path)
	n := len(kv)
	kv = append(kv, db.encodBuf...)
	return db.enqueueLocked(pendingWrite{key: kv[:n:n], val: kv[n:]})
}

// pendingWrite is a Put or Delete not yet written to Badger. A Put's key
// and value share one allocation, which Badger is given as they are: a
// first copy puts two records per file.
type pendingWrite struct {
	key, val []byte // val is nil for a Delete
}

// Delete drops the record of path, if any. The write is buffered; Flush
// makes it durable.
func (db *DB) Delete(ctx context.Context, path string) error {
	if err := db.check(ctx, true); err != nil {
		return err
	}
	key := recordKey(path)
	db.mu.Lock()
	return db.enqueueLocked(pendingWrite{key: key})
}

// enqueueLocked adds one pending write; db.mu is held and released here.
// Writes to the same key stay in order: the last one counts.
func (db *DB) enqueueLocked(w pendingWrite) error {
	if db.closed {
		db.mu.Unlock()
		return db.errorf(errors.New("closed"))
	}
	if err := db.bgErr; err != nil {
		db.bgErr = nil
		db.mu.Unlock()
		return err
	}
	if len(db.pending) == 0 {
		db.first = time.Now()
	}
	db.pending = append(db.pending, w)
	n := len(db.pending)
	db.mu.Unlock()
	if n == 1 || n >= flushCount {
		select {
		case db.kick <- struct{}{}:
		default:
		}
	}
	if n >= 4*flushCount {
		// The flusher is falling behind: write here to bound memory.
		return db.write(false)
	}
	return nil
}

// flusher writes pending records in the background once flushCount are
// pending or flushDelay has passed since the oldest of them.
func (db *DB) flusher() {
	defer close(db.stopped)
	timer := time.NewTimer(flushDelay)
	timer.Stop()
	for {
		select {
		case <-db.done:
			timer.Stop()
			return
		case <-db.kick:
		case <-timer.C:
		}
		db.mu.Lock()
		n, first := len(db.pending), db.first
		db.mu.Unlock()
		if n == 0 {
			continue
		}
		if wait := flushDelay - time.Since(first); n < flushCount && wait > 0 {
			timer.Reset(wait)
			continue
		}
		if err := db.write(false); err != nil {
			db.mu.Lock()
			if db.bgErr == nil {
				db.bgErr = err
			}
			db.mu.Unlock()
		}
	}
}

// write writes every pending record to Badger, and syncs Badger's files
// when sync is set.
func (db *DB) write(sync bool) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mu.Lock()
	batch := db.pending
	if len(batch) > 0 {
		db.pending = make([]pendingWrite, 0, len(batch))
	}
	err := db.bgErr
	db.bgErr = nil
	db.mu.Unlock()
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		bdb, err := db.writable()
		if err != nil {
			db.changes.drop()
			return err
		}
		wb := bdb.NewWriteBatch()
		// A new stamp ahead of the records: any dump is stale from here
		// on, also after a crash that keeps some of this batch. Writes
		// to one key are given in order, and Badger keeps the last.
		err = wb.Set(stampKey(), newStamp())
		for _, w := range batch {
			if err != nil {
				break
			}
			if w.val == nil {
				err = wb.Delete(w.key)
			} else {
				err = wb.Set(w.key, w.val)
			}
		}
		if err == nil {
			err = wb.Flush()
		} else {
			wb.Cancel()
		}
		if err != nil {
			db.changes.drop() // part of the batch may have been written
			return db.errorf(fmt.Errorf("write: %w", err))
		}
		db.changes.add(batch)
		db.unsynced = true
		db.written.Add(int64(len(batch)))
	}
	if sync && !db.readOnly && db.unsynced {
		if err := db.bdb.Load().Sync(); err != nil {
			return db.errorf(fmt.Errorf("sync: %w", err))
		}
		db.unsynced = false
	}
	return nil
}

// Flush writes every pending Put and Delete and makes them durable.
func (db *DB) Flush(ctx context.Context) error {
	if err := db.check(ctx, false); err != nil {
		return err
	}
	if err := db.alive(); err != nil {
		return err
	}
	return db.write(true)
}

// Close flushes pending writes, stops the background flusher, reclaims
// value-log space opportunistically and closes the database. Closing a
// closed DB does nothing.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true // refuses new writes from here on
	db.mu.Unlock()
	if db.readOnly {
		if err := db.bdb.Load().Close(); err != nil {
			return db.errorf(fmt.Errorf("close: %w", err))
		}
		return nil
	}
	var errs []error
	close(db.done)
	<-db.stopped
	if err := db.write(true); err != nil {
		errs = append(errs, err)
	} else if err := db.saveDump(context.Background()); err != nil {
		errs = append(errs, err)
	}
	db.upMu.Lock()
	writing := db.writing
	db.upMu.Unlock()
	bdb := db.bdb.Load()
	if writing {
		for range 4 {
			if bdb.RunValueLogGC(0.5) != nil {
				break // ErrNoRewrite or anything else: nothing more to reclaim
			}
		}
	}
	// Remove the pid file while the directory lock is still held, so it
	// never removes the pid file of a writer that opened after us.
	if err := os.Remove(filepath.Join(db.dir, pidFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, db.errorf(err))
	}
	if writing || db.reader == nil {
		// The writing handle first: the read-only one has nothing to
		// write, and is closed (with the lock) once the other is.
		if err := bdb.Close(); err != nil {
			errs = append(errs, db.errorf(fmt.Errorf("close: %w", err)))
		}
	}
	if err := db.dropLock(); err != nil {
		errs = append(errs, db.errorf(fmt.Errorf("close: %w", err)))
	}
	return errors.Join(errs...)
}
