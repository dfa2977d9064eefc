// Package varint reads and writes the integers and length-prefixed byte
// strings that the agent wire protocol and the snapshot records are made
// of: unsigned and zig-zag signed varints (encoding/binary's forms) and a
// uvarint length followed by that many bytes.
//
// The readers never read past their input and never allocate: a length
// larger than what is left fails instead.
package varint

import "encoding/binary"

// Uvarint decodes the unsigned varint at the front of b and returns it
// with the bytes after it. ok is false when b ends before the number does
// or the number overflows 64 bits.
func Uvarint(b []byte) (v uint64, rest []byte, ok bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

// Varint decodes the signed (zig-zag) varint at the front of b, as
// Uvarint does.
func Varint(b []byte) (v int64, rest []byte, ok bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

// Prefixed decodes a uvarint length and that many bytes from the front of
// b. field shares b's memory and its capacity ends with it, so appending
// to it never overwrites what follows. ok is false when b is too short.
func Prefixed(b []byte) (field, rest []byte, ok bool) {
	n, r, ok := Uvarint(b)
	if !ok || n > uint64(len(r)) {
		return nil, b, false
	}
	return r[:n:n], r[n:], true
}

// AppendUvarint appends the unsigned varint v to buf.
func AppendUvarint(buf []byte, v uint64) []byte { return binary.AppendUvarint(buf, v) }

// AppendVarint appends the signed (zig-zag) varint v to buf.
func AppendVarint(buf []byte, v int64) []byte { return binary.AppendVarint(buf, v) }

// AppendPrefixed appends the length of s as a uvarint, then s, to buf.
func AppendPrefixed[S string | []byte](buf []byte, s S) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}
