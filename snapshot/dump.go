package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/async-sync/async/core"
	"github.com/dgraph-io/badger/v4"
)

// The load dump: a copy of every record of the snapshot in key order, in
// one flat file beside the Badger files, that Load streams for about half
// the CPU time of iterating Badger (BenchmarkLoad; docs/architecture.md).
// Badger stays the store: the dump is a cache of it, written by Close and
// used only while it provably matches.
//
// The proof is the stamp: 16 random bytes stored in Badger (stampKey) and
// replaced, in the same write batch and ahead of its records, by every
// batch that writes records. The dump carries the stamp of the Badger state
// it was read from (in the same transaction). Any later write, a run that
// crashed after writing, or a dump copied from another session, leaves the
// stamps different, and Load reads Badger. Badger replays its log in order,
// so a record write that survived a crash has its new stamp with it.
//
// Layout: dumpMagic, uvarint stamp length, stamp; per record a uvarint key
// length, the Badger key, a uvarint value length, the encoded record; then
// a 20-byte trailer: the record count (8 bytes, little endian), the CRC-32C
// of everything before the CRC (4 bytes), dumpEnd. The file is checked
// whole (trailer, size, CRC) before its first record is passed on, so a
// torn or damaged dump falls back to Badger instead of feeding a run.
const (
	dumpFile    = "records.dump"
	dumpTemp    = ".records.dump-*.tmp"
	dumpMagic   = "asdump01"
	dumpEnd     = "asdumpEN"
	trailerSize = 8 + 4 + len(dumpEnd)
	stampSize   = 16
	// dumpMinRecords: smaller snapshots load from Badger fast enough that
	// a dump is not worth its write and fsync at the end of a run.
	dumpMinRecords = 20_000
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stampKey is the key of the stamp. It sorts before metaKey and the records.
func stampKey() []byte { return []byte{'g'} }

// newStamp returns a fresh random stamp.
func newStamp() []byte {
	b := make([]byte, stampSize)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// readStamp returns the stamp stored in txn, nil when none is.
func readStamp(txn *badger.Txn) ([]byte, error) {
	item, err := txn.Get(stampKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stamp: %w", err)
	}
	return item.ValueCopy(nil)
}

// dumpPath returns the path of db's dump.
func (db *DB) dumpPath() string { return filepath.Join(db.dir, dumpFile) }

// loadDump streams the records of db's dump to fn when the dump is whole
// and its stamp is the one in Badger now; used reports whether it did (an
// error with used set is fn's or a damaged record's). A missing, stale or
// damaged dump returns used false and no error: the caller reads Badger.
func (db *DB) loadDump(ctx context.Context, fn func(core.Record) error) (used bool, err error) {
	f, err := os.Open(db.dumpPath())
	if err != nil {
		return false, nil
	}
	defer f.Close()
	var stamp []byte
	if err := db.view(func(txn *badger.Txn) (err error) {
		stamp, err = readStamp(txn)
		return err
	}); err != nil || stamp == nil {
		return false, nil
	}
	body, count, ok := checkDump(f, stamp)
	if !ok {
		return false, nil
	}
	db.trackFrom(stamp)
	if err := streamDump(ctx, body, count, fn); err != nil {
		return true, err
	}
	db.loaded.Store(int64(count))
	db.loadedAll.Store(true)
	return true, nil
}

// checkDump reads f whole and checks its header (against stamp), its
// trailer and its CRC. It returns a reader of the records and their count.
func checkDump(f *os.File, stamp []byte) (io.Reader, uint64, bool) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, false
	}
	size := fi.Size()
	head := make([]byte, len(dumpMagic)+1+stampSize)
	if _, err := f.ReadAt(head, 0); err != nil || string(head[:len(dumpMagic)]) != dumpMagic {
		return nil, 0, false
	}
	if head[len(dumpMagic)] != stampSize || !bytes.Equal(head[len(dumpMagic)+1:], stamp) {
		return nil, 0, false // stale
	}
	bodyEnd := size - int64(trailerSize)
	if bodyEnd < int64(len(head)) {
		return nil, 0, false
	}
	tr := make([]byte, trailerSize)
	if _, err := f.ReadAt(tr, bodyEnd); err != nil || string(tr[12:]) != dumpEnd {
		return nil, 0, false
	}
	count := binary.LittleEndian.Uint64(tr[:8])
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, bodyEnd+8)); err != nil {
		return nil, 0, false
	}
	if h.Sum32() != binary.LittleEndian.Uint32(tr[8:12]) {
		return nil, 0, false
	}
	off := int64(len(head))
	return io.NewSectionReader(f, off, bodyEnd-off), count, true
}

// trackFrom has db keep its record writes from here on (changeSet), when
// Badger still holds stamp: the dump stamped stamp is then the state the
// writes apply to. Holding flushMu, no write falls between the two.
func (db *DB) trackFrom(stamp []byte) {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	var now []byte
	if err := db.view(func(txn *badger.Txn) (err error) {
		now, err = readStamp(txn)
		return err
	}); err == nil && bytes.Equal(now, stamp) {
		db.changes.start(stamp)
	}
}

// streamDump decodes count records from body and passes them to fn.
func streamDump(ctx context.Context, body io.Reader, count uint64, fn func(core.Record) error) error {
	return rawDump(ctx, body, count, func(key, val []byte) error {
		var rec core.Record
		if err := decodeKeyRecord(key, val, &rec); err != nil {
			return fmt.Errorf("dump record %q: %w", keyPath(key), err)
		}
		if err := fn(rec); err != nil {
			return callerError{err}
		}
		return nil
	})
}

// rawDump passes the key and encoded record of each of body's count
// records to fn, in one buffer that fn must not keep.
func rawDump(ctx context.Context, body io.Reader, count uint64, fn func(key, val []byte) error) error {
	r := bufio.NewReaderSize(body, 256<<10)
	var buf []byte
	n := uint64(0)
	for ; ; n++ {
		if n%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		kl, err := binary.ReadUvarint(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("dump record %d: %w", n, err)
		}
		// Key and value are read into one buffer; decodeKeyRecord copies
		// what it keeps.
		if kl == 0 || kl > 1<<20 {
			return fmt.Errorf("dump record %d: bad key length %d", n, kl)
		}
		buf = grow(buf, int(kl))
		if _, err := io.ReadFull(r, buf[:kl]); err != nil {
			return fmt.Errorf("dump record %d: %w", n, err)
		}
		vl, err := binary.ReadUvarint(r)
		if err != nil || vl > 1<<20 {
			return fmt.Errorf("dump record %d: bad value length", n)
		}
		buf = grow(buf, int(kl+vl))
		if _, err := io.ReadFull(r, buf[kl:kl+vl]); err != nil {
			return fmt.Errorf("dump record %d: %w", n, err)
		}
		if err := fn(buf[:kl], buf[kl:kl+vl]); err != nil {
			return err
		}
	}
	if n != count {
		return fmt.Errorf("dump holds %d records, its trailer says %d", n, count)
	}
	return nil
}

// grow returns b with room for n bytes (its contents kept).
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:cap(b)]
	}
	nb := make([]byte, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// saveDump brings db's dump up to date, at Close, after a Load of every
// record (without one it does nothing: the dump, if any, stays stale): a
// current dump is left alone; otherwise a new one is written when db holds
// at least dumpMin records, and a stale one is removed when it holds
// fewer. A snapshot written before stamps existed gets its first stamp
// here.
func (db *DB) saveDump(ctx context.Context) error {
	if !db.loadedAll.Load() {
		return nil
	}
	path := db.dumpPath()
	var stamp []byte
	if err := db.bdb.Load().View(func(txn *badger.Txn) (err error) {
		stamp, err = readStamp(txn)
		return err
	}); err != nil {
		return db.errorf(fmt.Errorf("dump: %w", err))
	}
	if stamp != nil {
		if f, err := os.Open(path); err == nil {
			head := make([]byte, len(dumpMagic)+1+stampSize)
			_, err := f.ReadAt(head, 0)
			f.Close()
			if err == nil && bytes.Equal(head, dumpHeader(stamp)) {
				return nil // current (its body was checked when it was written)
			}
		}
	}
	if est := max(int64(db.SizeHint()), db.loaded.Load()) + db.written.Load(); est < int64(db.dumpMin) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return db.errorf(fmt.Errorf("dump: %w", err))
		}
		return nil
	}
	if stamp == nil {
		bdb, err := db.writable()
		if err != nil {
			return err
		}
		if err := bdb.Update(func(txn *badger.Txn) error { return txn.Set(stampKey(), newStamp()) }); err != nil {
			return db.errorf(fmt.Errorf("dump: stamp: %w", err))
		}
		if err := bdb.Sync(); err != nil {
			return db.errorf(fmt.Errorf("dump: stamp: %w", err))
		}
	}
	if old, _ := filepath.Glob(filepath.Join(db.dir, dumpTemp)); len(old) > 0 {
		for _, p := range old { // left by a process killed while writing one
			_ = os.Remove(p)
		}
	}
	if err := db.writeDump(ctx, path); err != nil {
		return db.errorf(fmt.Errorf("dump: %w", err))
	}
	return nil
}

// dumpHeader returns the header of a dump of the Badger state stamped stamp.
func dumpHeader(stamp []byte) []byte {
	h := append([]byte(dumpMagic), byte(len(stamp)))
	return append(h, stamp...)
}

// writeDump writes a dump of db to path atomically: a temporary file in
// the same directory, synced, renamed over path, and the directory synced.
// Its records come from the dump at path merged with the writes made since
// it was loaded (changeSet) when db kept them, and from one Badger
// transaction, with the stamp, otherwise.
func (db *DB) writeDump(ctx context.Context, path string) (err error) {
	base, baseCount, merge := db.mergeBase(path)
	if base != nil {
		defer base.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(path), dumpTemp)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			_ = os.Remove(tmp)
		}
	}()
	h := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	var count uint64
	var buf []byte
	emit := func(key, val []byte) error {
		if count++; count%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		buf = binary.AppendUvarint(buf[:0], uint64(len(key)))
		buf = append(buf, key...)
		buf = binary.AppendUvarint(buf, uint64(len(val)))
		buf = append(buf, val...)
		_, err := w.Write(buf)
		return err
	}
	err = db.bdb.Load().View(func(txn *badger.Txn) error {
		stamp, err := readStamp(txn)
		if err != nil {
			return err
		}
		if stamp == nil {
			return errors.New("no stamp")
		}
		if _, err := w.Write(dumpHeader(stamp)); err != nil {
			return err
		}
		if merge != nil {
			return db.mergeChanges(ctx, merge, baseCount, emit)
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}})
		defer it.Close()
		for it.Seek([]byte{prefixRecord}); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { return emit(item.Key(), v) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var tr [trailerSize]byte
	binary.LittleEndian.PutUint64(tr[:8], count)
	if _, err := w.Write(tr[:8]); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(tr[8:12], h.Sum32())
	copy(tr[12:], dumpEnd)
	if _, err := f.Write(tr[8:]); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// mergeBase opens the dump at path for writeDump to merge db's changes
// into: only when db kept every write since it loaded that very dump
// (changeSet), and the file is still whole. It returns the open file (to
// close), and a reader of its records with their count; a nil reader:
// read Badger instead.
func (db *DB) mergeBase(path string) (*os.File, uint64, io.Reader) {
	db.flushMu.Lock()
	base := db.changes.base
	db.flushMu.Unlock()
	if base == nil {
		return nil, 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil
	}
	body, count, ok := checkDump(f, base)
	if !ok {
		return f, 0, nil
	}
	return f, count, body
}

// mergeChanges passes to emit, in key order, the records of the dump body
// (count of them) with db's changes applied: a written key's last value
// in its place, a deleted key left out.
func (db *DB) mergeChanges(ctx context.Context, body io.Reader, count uint64, emit func(key, val []byte) error) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	writes := db.changes.writes
	keys := db.changes.sortedKeys()
	// flush emits the written keys that sort before key (all of them when
	// key is nil), and reports whether key itself was written.
	flush := func(key []byte) (written bool, err error) {
		for len(keys) > 0 && (key == nil || keys[0] <= string(key)) {
			k := keys[0]
			keys = keys[1:]
			if v := writes[k]; v != nil {
				if err := emit([]byte(k), v); err != nil {
					return false, err
				}
			}
			if key != nil && k == string(key) {
				return true, nil
			}
		}
		return false, nil
	}
	if err := rawDump(ctx, body, count, func(key, val []byte) error {
		written, err := flush(key)
		if err != nil || written {
			return err
		}
		return emit(key, val)
	}); err != nil {
		return err
	}
	_, err := flush(nil)
	return err
}

// syncDir makes the entries of dir durable (a rename, a removal).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
