package core

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	base := Entry{Path: "f", Type: TypeFile, Size: 10, MTime: t0, Mode: 0o644, Token: "1", Hash: "sha1_sparse:aa"}
	with := func(f func(e *Entry)) *Entry { e := base; f(&e); return &e }
	rec := &Record{Entry: base}
	opts := DiffOptions{Checksum: ChecksumSHA1Sparse}
	for _, tc := range []struct {
		name string
		base *Record
		cur  *Entry
		want Change
	}{
		{"absent", nil, nil, Absent},
		{"created", nil, &base, Created},
		{"deleted", rec, nil, Deleted},
		{"unchanged", rec, &base, Unchanged},
		{"conflict record counts as none", &Record{Entry: base, Status: StatusConflict}, &base, Created},
		{"size", rec, with(func(e *Entry) { e.Size = 11 }), Modified},
		{"mode only", rec, with(func(e *Entry) { e.Mode = 0o600; e.Token = "2" }), AttrChanged},
		{"token moved, no fingerprint", rec, with(func(e *Entry) { e.Token = "2"; e.Hash = "" }), Modified},
		{"token moved, hash proves same", rec, with(func(e *Entry) { e.Token = "2"; e.Hash = base.Hash }), Unchanged},
		{"touched, hash proves same", rec, with(func(e *Entry) { e.MTime = t0.Add(time.Second); e.Hash = base.Hash }), AttrChanged},
		{"touched big file, sparse proves nothing", &Record{Entry: *with(func(e *Entry) { e.Size = 5 << 20 })},
			with(func(e *Entry) { e.Size = 5 << 20; e.MTime = t0.Add(time.Second); e.Hash = base.Hash }), Modified},
		{"type", rec, with(func(e *Entry) { e.Type = TypeDir }), Modified},
		{"dir mode", &Record{Entry: Entry{Type: TypeDir, Mode: 0o755}}, &Entry{Type: TypeDir, Mode: 0o700}, AttrChanged},
		{"dir mtime ignored", &Record{Entry: Entry{Type: TypeDir, Mode: 0o755}}, &Entry{Type: TypeDir, Mode: 0o755, MTime: t0}, Unchanged},
		{"link target", &Record{Entry: Entry{Type: TypeSymlink, Target: "a"}}, &Entry{Type: TypeSymlink, Target: "b"}, Modified},
	} {
		if got := Diff(tc.base, tc.cur, opts); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if !NeedsRehash(rec, with(func(e *Entry) { e.MTime = t0.Add(time.Second); e.Hash = "" }), opts) {
		t.Errorf("a touched small file needs its fingerprint")
	}
}

func TestContentEqual(t *testing.T) {
	a := &Entry{Type: TypeFile, Size: 10, MTime: t0, Hash: "sha1:11"}
	b := *a
	for _, tc := range []struct {
		name      string
		algo      Checksum
		change    func(e *Entry)
		equal, ok bool
	}{
		{"same", ChecksumSHA1, func(*Entry) {}, true, true},
		{"full hash ignores mtime", ChecksumSHA1, func(e *Entry) { e.MTime = t0.Add(time.Hour) }, true, true},
		{"other hash", ChecksumSHA1, func(e *Entry) { e.Hash = "sha1:22" }, false, true},
		{"missing hash", ChecksumSHA1, func(e *Entry) { e.Hash = "" }, false, false},
		{"none: size and mtime", ChecksumNone, func(e *Entry) { e.Hash = "" }, true, true},
		{"none: mtime differs", ChecksumNone, func(e *Entry) { e.MTime = t0.Add(time.Hour) }, false, true},
		{"size differs", ChecksumSHA1, func(e *Entry) { e.Size = 9 }, false, true},
	} {
		c := b
		tc.change(&c)
		eq, ok := ContentEqual(a, &c, tc.algo)
		if eq != tc.equal || ok != tc.ok {
			t.Errorf("%s: equal=%v ok=%v, want %v %v", tc.name, eq, ok, tc.equal, tc.ok)
		}
	}
	big := &Entry{Type: TypeFile, Size: 5 << 20, MTime: t0, Hash: "sha1_sparse:11"}
	other := *big
	other.MTime = t0.Add(time.Hour)
	if eq, ok := ContentEqual(big, &other, ChecksumSHA1Sparse); eq || !ok {
		t.Errorf("sparse with other mtimes must not prove equality")
	}
}

func TestParseChecksum(t *testing.T) {
	for in, want := range map[string]Checksum{"sha1": ChecksumSHA1, "SHA1-SPARSE": ChecksumSHA1Sparse, "md5_sparse": ChecksumMD5Sparse, "sha256": ChecksumSHA256, "none": ChecksumNone} {
		if got, err := ParseChecksum(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseChecksum("crc32"); err == nil {
		t.Errorf("crc32 accepted")
	}
}

func TestStreamedFingerprintEqualsSampled(t *testing.T) {
	for _, size := range []int{0, 1, SparseWhole, SparseWhole + 1, 5<<20 + 7} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*31 + i/7)
		}
		for _, algo := range []Checksum{ChecksumSHA1, ChecksumMD5, ChecksumSHA256, ChecksumSHA1Sparse, ChecksumMD5Sparse} {
			h := NewContentHasher(algo, int64(size))
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1+len(rest)%77777)
				h.Write(rest[:n])
				rest = rest[n:]
			}
			want, err := HashReaderAt(bytes.NewReader(data), int64(size), algo)
			if err != nil || h.Sum() != want {
				t.Errorf("%s size %d: streamed %s, sampled %s (%v)", algo, size, h.Sum(), want, err)
			}
		}
		if size <= SparseWhole {
			sum := sha1.Sum(data)
			if got, _ := HashReaderAt(bytes.NewReader(data), int64(size), ChecksumSHA1Sparse); got != "sha1_sparse:"+hex.EncodeToString(sum[:]) {
				t.Errorf("small sparse fingerprint is not the whole-file sha1: %s", got)
			}
		}
	}
	if offs := SparseOffsets(5 << 20); len(offs) != SparseBlocks || offs[0] != 0 || offs[len(offs)-1] != 5<<20-SparseBlock {
		t.Errorf("offsets %v", offs)
	}
}
