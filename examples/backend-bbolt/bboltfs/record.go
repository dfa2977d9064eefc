package bboltfs

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"strconv"
	"time"

	"github.com/async-sync/async/core"
)

// record is what the meta bucket keeps for an entry.
type record struct {
	typ    core.Type
	mode   fs.FileMode
	size   int64
	mtime  time.Time
	atime  time.Time
	token  uint64 // changes on every write
	ino    uint64 // survives renames (core.Entry.FileID)
	blob   uint64 // the content's blob (files with content only)
	target string // symbolic links
}

// recordSize is the fixed part of an encoded record; the link target follows.
const recordSize = 1 + 4 + 8 + 12 + 12 + 8 + 8 + 8

var errCorrupt = errors.New("bboltfs: corrupt record")

func putTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b, uint64(t.Unix()))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

func getTime(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

func (r *record) encode() []byte {
	b := make([]byte, recordSize+len(r.target))
	b[0] = byte(r.typ)
	binary.BigEndian.PutUint32(b[1:], uint32(r.mode))
	binary.BigEndian.PutUint64(b[5:], uint64(r.size))
	putTime(b[13:], r.mtime)
	putTime(b[25:], r.atime)
	binary.BigEndian.PutUint64(b[37:], r.token)
	binary.BigEndian.PutUint64(b[45:], r.ino)
	binary.BigEndian.PutUint64(b[53:], r.blob)
	copy(b[recordSize:], r.target)
	return b
}

func decode(b []byte) (record, error) {
	if len(b) < recordSize {
		return record{}, errCorrupt
	}
	return record{
		typ:    core.Type(b[0]),
		mode:   fs.FileMode(binary.BigEndian.Uint32(b[1:])),
		size:   int64(binary.BigEndian.Uint64(b[5:])),
		mtime:  getTime(b[13:]),
		atime:  getTime(b[25:]),
		token:  binary.BigEndian.Uint64(b[37:]),
		ino:    binary.BigEndian.Uint64(b[45:]),
		blob:   binary.BigEndian.Uint64(b[53:]),
		target: string(b[recordSize:]),
	}, nil
}

// entry describes the record as the entry at path p.
func (r *record) entry(p string) core.Entry {
	return core.Entry{
		Path:   p,
		Type:   r.typ,
		Size:   r.size,
		MTime:  r.mtime,
		ATime:  r.atime,
		Mode:   r.mode,
		UID:    core.NoID,
		GID:    core.NoID,
		Target: r.target,
		Token:  strconv.FormatUint(r.token, 36),
		FileID: strconv.FormatUint(r.ino, 10),
	}
}
