package varint

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
)

func TestGolden(t *testing.T) {
	var b []byte
	b = AppendUvarint(b, 0)
	b = AppendUvarint(b, 300)
	b = AppendUvarint(b, math.MaxUint64)
	b = AppendVarint(b, -1)
	b = AppendVarint(b, 150)
	b = AppendVarint(b, math.MinInt64)
	b = AppendPrefixed(b, "ab")
	b = AppendPrefixed(b, []byte{})
	const want = "00" + "ac02" + "ffffffffffffffffff01" + "01" + "ac02" + "ffffffffffffffffff01" + "026162" + "00"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("bytes\n got %s\nwant %s", got, want)
	}
	for _, w := range []uint64{0, 300, math.MaxUint64} {
		v, r, ok := Uvarint(b)
		if !ok || v != w {
			t.Fatalf("Uvarint = %d, %v, want %d", v, ok, w)
		}
		b = r
	}
	for _, w := range []int64{-1, 150, math.MinInt64} {
		v, r, ok := Varint(b)
		if !ok || v != w {
			t.Fatalf("Varint = %d, %v, want %d", v, ok, w)
		}
		b = r
	}
	for _, w := range []string{"ab", ""} {
		f, r, ok := Prefixed(b)
		if !ok || string(f) != w || cap(f) != len(f) {
			t.Fatalf("Prefixed = %q (cap %d), %v, want %q", f, cap(f), ok, w)
		}
		b = r
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
}

func TestShort(t *testing.T) {
	for _, in := range [][]byte{nil, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}} {
		if _, r, ok := Uvarint(in); ok || !bytes.Equal(r, in) {
			t.Errorf("Uvarint(%x) ok", in)
		}
		if _, r, ok := Varint(in); ok || !bytes.Equal(r, in) {
			t.Errorf("Varint(%x) ok", in)
		}
	}
	for _, in := range [][]byte{nil, {3, 'a', 'b'}, {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, r, ok := Prefixed(in); ok || !bytes.Equal(r, in) {
			t.Errorf("Prefixed(%x) ok", in)
		}
	}
}
