package core

import (
	"encoding/binary"
	"io/fs"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// entryTable holds a scan compactly, for the streaming join: an Entry takes
// some 160 bytes and three or four strings of its own, while most of a
// resync's entries are only compared with their records and dropped. Each
// entry is encoded into chunks of one byte arena (varints; a change token
// and a file ID that are numbers as numbers), and expanded into an Entry
// only when it is looked at (at). The strings of an expanded entry are
// views into the arena, which is never written to again: expanding copies
// no text. An entry the encoding would not give back exactly (a time in
// another location, with a monotonic reading, outside the years 1678 to
// 2261) is kept whole aside.
type entryTable struct {
	chunks [][]byte
	// refs locate the entries (chunk<<32 | offset, or bigRef|index in
	// big), in the order added, and in path order after sort.
	refs []uint64
	big  []Entry
	buf  []byte // the encoding of the entry being added
}

const (
	// tableChunk is the size of an arena chunk; an encoding of more than
	// a quarter of it is kept whole aside.
	tableChunk = 1 << 20
	bigRef     = 1 << 63
)

// The flags byte of an encoded entry: its type, how its times are kept,
// and how its token and file ID are. A filesystem's times and change
// token (ctime) are close to each other: the access time and a numeric
// token are kept as their distance from the modification time.
const (
	flagType       = 0x03
	flagMTimeShift = 2    // 2 bits: timeZero, timeLocal, timeUTC
	flagTokenShift = 4    // 2 bits: tokenString, tokenNumber, tokenDelta
	flagFileIDNum  = 0x40 // the file ID is "number:number"
	flagATimeDelta = 0x80 // the access time is kept as mtime+delta, of mtime's kind
)

const (
	timeZero = iota
	timeLocal
	timeUTC
)

const (
	tokenString = iota
	tokenNumber
	tokenDelta
)

// newEntryTable returns a table with room for about n entries.
func newEntryTable(n int) *entryTable {
	return &entryTable{refs: sized[uint64](n)}
}

// len returns the number of entries.
func (t *entryTable) len() int {
	if t == nil {
		return 0
	}
	return len(t.refs)
}

// add appends a copy of e.
func (t *entryTable) add(e *Entry) {
	b, ok := t.encode(e)
	if !ok || len(b) > tableChunk/4 {
		t.refs = append(t.refs, bigRef|uint64(len(t.big)))
		t.big = append(t.big, *e)
		return
	}
	last := len(t.chunks) - 1
	if last < 0 || cap(t.chunks[last])-len(t.chunks[last]) < len(b) {
		t.chunks = append(t.chunks, make([]byte, 0, tableChunk))
		last++
	}
	c := t.chunks[last]
	t.refs = append(t.refs, uint64(last)<<32|uint64(len(c)))
	t.chunks[last] = append(c, b...)
}

// encode encodes e into t.buf; ok is false when it would not decode to
// e exactly.
func (t *entryTable) encode(e *Entry) ([]byte, bool) {
	mk, mt, ok := timeKind(e.MTime)
	if !ok {
		return nil, false
	}
	ak, at, ok := timeKind(e.ATime)
	if !ok || e.Type > flagType {
		return nil, false
	}
	flags := byte(e.Type) | byte(mk)<<flagMTimeShift
	aDelta := mk != timeZero && ak == mk && mt >= 0 && at >= 0
	if aDelta {
		flags |= flagATimeDelta
	}
	tk := tokenString
	tok, isNum := decimal(e.Token)
	switch {
	case isNum && mk != timeZero && mt >= 0 && tok <= math.MaxInt64:
		tk = tokenDelta
	case isNum:
		tk = tokenNumber
	}
	flags |= byte(tk) << flagTokenShift
	dev, ino, idNum := numericID(e.FileID)
	if idNum {
		flags |= flagFileIDNum
	}
	b := appendString(t.buf[:0], e.Path)
	b = append(b, flags)
	b = binary.AppendVarint(b, e.Size)
	if mk != timeZero {
		b = binary.AppendVarint(b, mt)
	}
	switch {
	case aDelta:
		b = binary.AppendVarint(b, at-mt)
	case ak == timeZero:
		b = append(b, timeZero)
	default:
		b = append(b, byte(ak))
		b = binary.AppendVarint(b, at)
	}
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendVarint(b, int64(e.UID))
	b = binary.AppendVarint(b, int64(e.GID))
	b = appendString(b, e.Target)
	b = appendString(b, e.Hash)
	switch tk {
	case tokenDelta:
		b = binary.AppendVarint(b, int64(tok)-mt)
	case tokenNumber:
		b = binary.AppendUvarint(b, tok)
	default:
		b = appendString(b, e.Token)
	}
	if idNum {
		b = binary.AppendUvarint(b, dev)
		b = binary.AppendUvarint(b, ino)
	} else {
		b = appendString(b, e.FileID)
	}
	t.buf = b
	return b, true
}

// timeKind returns how tm is kept and its Unix time in nanoseconds; ok is
// false when decoding would not give tm back exactly.
func timeKind(tm time.Time) (kind int, ns int64, ok bool) {
	if tm == (time.Time{}) {
		return timeZero, 0, true
	}
	ns = tm.UnixNano()
	back := time.Unix(0, ns)
	switch tm.Location() {
	case time.Local:
		kind = timeLocal
	case time.UTC:
		kind, back = timeUTC, back.UTC()
	default:
		return 0, 0, false
	}
	return kind, ns, back == tm
}

// decimal reports whether s is a number as strconv.FormatUint writes it.
func decimal(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// numericID reports whether s is two numbers joined by a colon, as a
// filesystem's file ID ("dev:ino").
func numericID(s string) (a, b uint64, ok bool) {
	x, y, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	a, okA := decimal(x)
	b, okB := decimal(y)
	return a, b, okA && okB
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// bytesAt returns the encoding of the entry ref locates (nil: kept whole).
func (t *entryTable) bytesAt(ref uint64) []byte {
	if ref&bigRef != 0 {
		return nil
	}
	return t.chunks[ref>>32][uint32(ref):]
}

// path returns the path of entry i.
func (t *entryTable) path(i int) string { return t.pathOf(t.refs[i]) }

// at expands entry i into e.
func (t *entryTable) at(i int, e *Entry) {
	ref := t.refs[i]
	b := t.bytesAt(ref)
	if b == nil {
		*e = t.big[ref&^bigRef]
		return
	}
	d := decoder{b: b}
	e.Path = d.string()
	flags := d.byte()
	e.Type = Type(flags & flagType)
	e.Size = d.varint()
	mk := int(flags>>flagMTimeShift) & 3
	var mt int64
	if mk != timeZero {
		mt = d.varint()
	}
	e.MTime = unixTime(mk, mt)
	if flags&flagATimeDelta != 0 {
		e.ATime = unixTime(mk, mt+d.varint())
	} else if ak := int(d.byte()); ak != timeZero {
		e.ATime = unixTime(ak, d.varint())
	} else {
		e.ATime = time.Time{}
	}
	e.Mode = fs.FileMode(d.uvarint())
	e.UID = int(d.varint())
	e.GID = int(d.varint())
	e.Target = d.string()
	e.Hash = d.string()
	switch int(flags>>flagTokenShift) & 3 {
	case tokenDelta:
		e.Token = strconv.FormatUint(uint64(mt+d.varint()), 10)
	case tokenNumber:
		e.Token = strconv.FormatUint(d.uvarint(), 10)
	default:
		e.Token = d.string()
	}
	if flags&flagFileIDNum != 0 {
		var id [41]byte
		s := strconv.AppendUint(id[:0], d.uvarint(), 10)
		s = append(s, ':')
		s = strconv.AppendUint(s, d.uvarint(), 10)
		e.FileID = string(s)
	} else {
		e.FileID = d.string()
	}
}

// unixTime is the time of kind kind at ns nanoseconds since 1970.
func unixTime(kind int, ns int64) time.Time {
	switch kind {
	case timeLocal:
		return time.Unix(0, ns)
	case timeUTC:
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}

// entries expands every entry, in the table's order.
func (t *entryTable) entries() []Entry {
	if t.len() == 0 {
		return nil
	}
	out := make([]Entry, len(t.refs))
	for i := range out {
		t.at(i, &out[i])
	}
	return out
}

// sort puts the entries in path order (ComparePaths).
func (t *entryTable) sort() {
	slices.SortFunc(t.refs, func(a, b uint64) int { return ComparePaths(t.pathOf(a), t.pathOf(b)) })
}

// pathOf returns the path of the entry ref locates.
func (t *entryTable) pathOf(ref uint64) string {
	b := t.bytesAt(ref)
	if b == nil {
		return t.big[ref&^bigRef].Path
	}
	s, _ := readString(b)
	return s
}

// find returns the position of p in a sorted table.
func (t *entryTable) find(p string) (int, bool) {
	if t == nil {
		return 0, false
	}
	return slices.BinarySearchFunc(t.refs, p, func(ref uint64, p string) int { return ComparePaths(t.pathOf(ref), p) })
}

// readString reads a length-prefixed string from b as a view of b's bytes.
func readString(b []byte) (string, int) {
	n, k := binary.Uvarint(b)
	if n == 0 {
		return "", k
	}
	return unsafe.String(&b[k], int(n)), k + int(n)
}

// decoder reads an entry's encoding.
type decoder struct {
	b []byte
}

func (d *decoder) byte() byte {
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, k := binary.Uvarint(d.b)
	d.b = d.b[k:]
	return v
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	d.b = d.b[k:]
	return v
}

func (d *decoder) string() string {
	s, k := readString(d.b)
	d.b = d.b[k:]
	return s
}

// all yields each entry, expanded anew.
func (t *entryTable) all() iter.Seq[*Entry] {
	return func(yield func(*Entry) bool) {
		for i := range t.len() {
			e := new(Entry)
			t.at(i, e)
			if !yield(e) {
				return
			}
		}
	}
}
