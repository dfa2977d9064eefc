package watchd

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/async-sync/async/internal/badgerfix"
	badger "github.com/dgraph-io/badger/v4"
)

// journal is the service's change journal on Badger: key tree id (4
// bytes) + cursor (8 bytes, big-endian) → path relative to the tree. It
// holds one epoch: it is emptied when the service starts, since nothing
// was watched while it was down.
type journal struct {
	db *badger.DB
}

func openJournal(dir string) (*journal, error) {
	// A watchd killed while Badger created a file leaves it empty, and
	// Badger would refuse the directory from then on.
	if _, err := badgerfix.RemoveTorn(dir); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithMemTableSize(4 << 20).
		WithValueThreshold(4 << 10).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithNumVersionsToKeep(1).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithSyncWrites(false).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	if err := db.DropAll(); err != nil {
		db.Close()
		return nil, fmt.Errorf("reset journal %s: %w", dir, err)
	}
	return &journal{db: db}, nil
}

func jkey(tree uint32, seq uint64) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint32(k, tree)
	binary.BigEndian.PutUint64(k[4:], seq)
	return k
}

// entry is one journaled path.
type entry struct {
	seq  uint64
	path string
}

// append writes entries of one tree.
func (j *journal) append(tree uint32, es []entry) error {
	wb := j.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range es {
		if err := wb.Set(jkey(tree, e.seq), []byte(e.path)); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

var errStop = errors.New("stop")

// since calls fn for the tree's entries after cursor since, up to and
// including upto, in cursor order; fn returning false stops.
func (j *journal) since(tree uint32, since, upto uint64, fn func(path string) bool) error {
	err := j.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: jkey(tree, 0)[:4], PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Seek(jkey(tree, since+1)); it.Valid(); it.Next() {
			item := it.Item()
			if binary.BigEndian.Uint64(item.Key()[4:]) > upto {
				return nil
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !fn(string(v)) {
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// trim drops the tree's entries up to and including cursor upto.
func (j *journal) trim(tree uint32, upto uint64) error {
	var keys [][]byte
	err := j.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: jkey(tree, 0)[:4]})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if binary.BigEndian.Uint64(k[4:]) > upto {
				break
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	wb := j.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (j *journal) close() error { return j.db.Close() }

// nthSeq returns the cursor of the tree's n-th oldest entry (0: fewer).
func (j *journal) nthSeq(tree uint32, n int) uint64 {
	var seq uint64
	j.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: jkey(tree, 0)[:4]})
		defer it.Close()
		i := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if i++; i == n {
				seq = binary.BigEndian.Uint64(it.Item().Key()[4:])
				return nil
			}
		}
		return nil
	})
	return seq
}
