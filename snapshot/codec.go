package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/async-sync/async/core"
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
	k := make([]byte, 1+len(path))
	k[0] = prefixRecord
	copy(k[1:], path)
	for i := 1; i < len(k); i++ {
		if k[i] == '/' {
			k[i] = 0
		}
	}
	return k
}

// keyPath is the inverse of recordKey.
func keyPath(k []byte) string {
	k = k[1:]
	var sb strings.Builder
	sb.Grow(len(k))
	for _, c := range k {
		if c == 0 {
			c = '/'
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// encodeRecord appends the binary form of r (without its path, which is the
// key) to buf. Layout: version byte, then uvarint status, uvarint type,
// varint size, varint mtime seconds, uvarint mtime nanoseconds, uvarint mode,
// varint uid, varint gid, then length-prefixed target, hash, token, fileid
// and note.
func encodeRecord(buf []byte, r *core.Record) []byte {
	buf = append(buf, recordVersion)
	buf = binary.AppendUvarint(buf, uint64(r.Status))
	buf = binary.AppendUvarint(buf, uint64(r.Type))
	buf = binary.AppendVarint(buf, r.Size)
	buf = binary.AppendVarint(buf, r.MTime.Unix())
	buf = binary.AppendUvarint(buf, uint64(r.MTime.Nanosecond()))
	buf = binary.AppendUvarint(buf, uint64(r.Mode))
	buf = binary.AppendVarint(buf, int64(r.UID))
	buf = binary.AppendVarint(buf, int64(r.GID))
	for _, s := range [...]string{r.Target, r.Hash, r.Token, r.FileID, r.Note} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
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
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShort()
		return ""
	}
	if n == 0 {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
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
	r.Target = d.str()
	r.Hash = d.str()
	r.Token = d.str()
	r.FileID = d.str()
	r.Note = d.str()
	if d.err != nil {
		return d.err
	}
	if nsec >= 1e9 {
		return fmt.Errorf("bad mtime nanoseconds %d", nsec)
	}
	r.MTime = time.Unix(sec, int64(nsec)).UTC()
	return nil
}
