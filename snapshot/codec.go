package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
	"unsafe"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/varint"
)

// Key prefixes. Every record key is prefixRecord followed by the path with
// '/' replaced by 0x00, so that byte order equals core.ComparePaths order.
const (
	prefixMeta   byte = 'm'
	prefixRecord byte = 'r'
)

// recordVersion is the first byte of every encoded record.
const recordVersion byte = 1

// metaKey is the key the session Meta is stored under.
func metaKey() []byte { return []byte{prefixMeta} }

// recordKey returns the key of path.
func recordKey(path string) []byte {
	return appendRecordKey(make([]byte, 0, 1+len(path)), path)
}

// appendRecordKey appends path's record key to k.
func appendRecordKey(k []byte, path string) []byte {
	at := len(k)
	k = append(append(k, prefixRecord), path...)
	for i := at + 1; i < len(k); i++ {
		if k[i] == '/' {
			k[i] = 0
		}
	}
	return k
}

// keyPath is the inverse of recordKey.
func keyPath(k []byte) string {
	var sb strings.Builder
	sb.Grow(len(k) - 1)
	appendKeyPath(&sb, k)
	return sb.String()
}

// appendKeyPath writes the path of key k to sb.
func appendKeyPath(sb *strings.Builder, k []byte) {
	for _, c := range k[1:] {
		if c == 0 {
			c = '/'
		}
		sb.WriteByte(c)
	}
}

// encodeRecord appends the binary form of r (without its path, which is the
// key) to buf. Layout: version byte, then uvarint status, uvarint type,
// varint size, varint mtime seconds, uvarint mtime nanoseconds, uvarint mode,
// varint uid, varint gid, then length-prefixed target, hash, token, fileid
// and note.
func encodeRecord(buf []byte, r *core.Record) []byte {
	buf = append(buf, recordVersion)
	buf = varint.AppendUvarint(buf, uint64(r.Status))
	buf = varint.AppendUvarint(buf, uint64(r.Type))
	buf = varint.AppendVarint(buf, r.Size)
	buf = varint.AppendVarint(buf, r.MTime.Unix())
	buf = varint.AppendUvarint(buf, uint64(r.MTime.Nanosecond()))
	buf = varint.AppendUvarint(buf, uint64(r.Mode))
	buf = varint.AppendVarint(buf, int64(r.UID))
	buf = varint.AppendVarint(buf, int64(r.GID))
	for _, s := range [...]string{r.Target, r.Hash, r.Token, r.FileID, r.Note} {
		buf = varint.AppendPrefixed(buf, s)
	}
	return buf
}

// decoder reads the fields of an encoded record in order.
type decoder struct {
	b   []byte
	err error
}

// errShort reports a record that ends early.
func errShort() error { return errors.New("truncated record") }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, rest, ok := varint.Uvarint(d.b)
	if !ok {
		d.err = errShort()
		return 0
	}
	d.b = rest
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, rest, ok := varint.Varint(d.b)
	if !ok {
		d.err = errShort()
		return 0
	}
	d.b = rest
	return v
}

// bytes returns the next length-prefixed string, in place.
func (d *decoder) bytes() []byte {
	if d.err != nil {
		return nil
	}
	s, rest, ok := varint.Prefixed(d.b)
	if !ok {
		d.err = errShort()
		return nil
	}
	d.b = rest
	return s
}

// decodeHeader checks the version byte and returns a decoder positioned at
// the status field.
func decodeHeader(b []byte) (decoder, error) {
	if len(b) == 0 {
		return decoder{}, errShort()
	}
	if b[0] != recordVersion {
		return decoder{}, fmt.Errorf("unknown record version %d", b[0])
	}
	return decoder{b: b[1:]}, nil
}

// decodeStatus returns only the status of an encoded record.
func decodeStatus(b []byte) (core.Status, error) {
	d, err := decodeHeader(b)
	if err != nil {
		return 0, err
	}
	s := core.Status(d.uvarint())
	return s, d.err
}

// decodeRecord fills r (except its path) from b.
func decodeRecord(b []byte, r *core.Record) error {
	return decodeKeyRecord(nil, b, r)
}

// decodeKeyRecord fills r from b and, unless key is nil, r.Path from key.
// The record's strings share one allocation: a loaded record costs one
// small object besides itself.
func decodeKeyRecord(key, b []byte, r *core.Record) error {
	d, err := decodeHeader(b)
	if err != nil {
		return err
	}
	r.Status = core.Status(d.uvarint())
	r.Type = core.Type(d.uvarint())
	r.Size = d.varint()
	sec := d.varint()
	nsec := d.uvarint()
	r.Mode = fs.FileMode(d.uvarint())
	r.UID = int(d.varint())
	r.GID = int(d.varint())
	var strs [5][]byte // target, hash, token, fileid, note
	total := 0
	if key != nil {
		total = len(key) - 1
	}
	for i := range strs {
		strs[i] = d.bytes()
		total += len(strs[i])
	}
	if d.err != nil {
		return d.err
	}
	if nsec >= 1e9 {
		return fmt.Errorf("bad mtime nanoseconds %d", nsec)
	}
	r.MTime = time.Unix(sec, int64(nsec)).UTC()
	// One allocation for all of them, filled in place: the path's 0x00
	// separators become '/' there (the buffer is never written again once
	// it is a string).
	buf := make([]byte, total)
	at := 0
	if key != nil {
		at = copy(buf, key[1:])
		for i, c := range buf[:at] {
			if c == 0 {
				buf[i] = '/'
			}
		}
	}
	for _, s := range strs {
		at += copy(buf[at:], s)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	at = 0
	next := func(n int) string {
		s := all[at : at+n]
		at += n
		return s
	}
	if key != nil {
		r.Path = next(len(key) - 1)
	}
	r.Target = next(len(strs[0]))
	r.Hash = next(len(strs[1]))
	r.Token = next(len(strs[2]))
	r.FileID = next(len(strs[3]))
	r.Note = next(len(strs[4]))
	return nil
}
