package core

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"
	"unsafe"
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

// TestDiffChanges covers every Change value and the rules of docs/reference.md §5.2
// and §5.6 that decide between Unchanged, AttrChanged and Modified.
func TestDiffChanges(t *testing.T) {
	const big = 5 << 20
	small := Entry{Path: "f", Type: TypeFile, Size: 100, MTime: t0, Mode: 0o644, UID: 1, GID: 1, Token: "ino1:ct1", Hash: "sha1_sparse:0a"}
	large := small
	large.Size = big
	dirE := Entry{Path: "d", Type: TypeDir, MTime: t0, Mode: 0o755, UID: 1, GID: 1, Token: "ino2:ct1"}
	link := Entry{Path: "l", Type: TypeSymlink, MTime: t0, Mode: 0o777, Target: "a", Token: "ino3:ct1"}
	mod := func(e Entry, f func(e *Entry)) *Entry { f(&e); return &e }
	recOf := func(e Entry) *Record { return &Record{Entry: e} }
	later := t0.Add(time.Second)
	sparse := DiffOptions{Checksum: ChecksumSHA1Sparse}
	for _, tc := range []struct {
		name string
		base *Record
		cur  *Entry
		o    DiffOptions
		want Change
	}{
		{"absent", nil, nil, sparse, Absent},
		{"created", nil, &small, sparse, Created},
		{"deleted", recOf(small), nil, sparse, Deleted},
		{"unchanged", recOf(small), &small, sparse, Unchanged},
		{"unchanged, no hash on the scan", recOf(small), mod(small, func(e *Entry) { e.Hash = "" }), sparse, Unchanged},
		{"error record is a base", &Record{Entry: small, Status: StatusError}, &small, sparse, Unchanged},
		{"conflict record counts as no base", &Record{Entry: small, Status: StatusConflict}, &small, sparse, Created},
		{"conflict record, entry gone", &Record{Entry: small, Status: StatusConflict}, nil, sparse, Absent},
		{"size changed", recOf(small), mod(small, func(e *Entry) { e.Size++; e.Token = "ino1:ct2" }), sparse, Modified},
		{"size changed, same hash field", recOf(small), mod(small, func(e *Entry) { e.Size++ }), sparse, Modified},
		{"mode changed (token kept)", recOf(small), mod(small, func(e *Entry) { e.Mode = 0o600 }), sparse, AttrChanged},
		{"chmod moved the token", recOf(small), mod(small, func(e *Entry) { e.Mode = 0o600; e.Token = "ino1:ct2"; e.Hash = "" }), sparse, AttrChanged},
		{"mode changed, --ignore-mode", recOf(small), mod(small, func(e *Entry) { e.Mode = 0o600 }), DiffOptions{Checksum: ChecksumSHA1Sparse, IgnoreMode: true}, Unchanged},
		{"owner changed, owners ignored", recOf(small), mod(small, func(e *Entry) { e.UID = 2 }), sparse, Unchanged},
		{"owner changed, -u", recOf(small), mod(small, func(e *Entry) { e.UID = 2; e.Token = "ino1:ct2" }), DiffOptions{Checksum: ChecksumSHA1Sparse, Owners: true}, AttrChanged},
		{"group changed, -j", recOf(small), mod(small, func(e *Entry) { e.GID = 2 }), DiffOptions{Checksum: ChecksumSHA1Sparse, Owners: true}, AttrChanged},
		{"token moved, same size and mtime, no hash", recOf(small), mod(small, func(e *Entry) { e.Token = "ino1:ct2"; e.Hash = "" }), sparse, Modified},
		{"token moved, other hash", recOf(small), mod(small, func(e *Entry) { e.Token = "ino1:ct2"; e.Hash = "sha1_sparse:0b" }), sparse, Modified},
		{"token moved, hash proves same", recOf(small), mod(small, func(e *Entry) { e.Token = "ino1:ct2" }), sparse, Unchanged},
		{"token moved, -k none", recOf(small), mod(small, func(e *Entry) { e.Token = "ino1:ct2"; e.Hash = "" }), DiffOptions{Checksum: ChecksumNone}, Modified},
		{"no token recorded, same size and mtime", recOf(*mod(small, func(e *Entry) { e.Token = "" })), mod(small, func(e *Entry) { e.Token = "x"; e.Hash = "" }), sparse, Unchanged},
		{"small file touched, same hash", recOf(small), mod(small, func(e *Entry) { e.MTime = later; e.Token = "ino1:ct2" }), sparse, AttrChanged},
		{"small file touched, other hash", recOf(small), mod(small, func(e *Entry) { e.MTime = later; e.Hash = "sha1_sparse:0b" }), sparse, Modified},
		{"small file touched, no hash", recOf(small), mod(small, func(e *Entry) { e.MTime = later; e.Hash = "" }), sparse, Modified},
		{"1 MiB file touched, same hash", recOf(*mod(small, func(e *Entry) { e.Size = SparseWhole })), mod(small, func(e *Entry) { e.Size = SparseWhole; e.MTime = later }), sparse, AttrChanged},
		{"1 MiB+1 file touched, same sparse hash", recOf(*mod(small, func(e *Entry) { e.Size = SparseWhole + 1 })), mod(small, func(e *Entry) { e.Size = SparseWhole + 1; e.MTime = later }), sparse, Modified},
		{"big file touched, same sparse hash", recOf(large), mod(large, func(e *Entry) { e.MTime = later }), sparse, Modified},
		{"big file touched, same full hash", recOf(*mod(large, func(e *Entry) { e.Hash = "sha1:0a" })), mod(large, func(e *Entry) { e.Hash = "sha1:0a"; e.MTime = later }), DiffOptions{Checksum: ChecksumSHA1}, AttrChanged},
		{"big file touched, same hash, -k none", recOf(large), mod(large, func(e *Entry) { e.MTime = later }), DiffOptions{Checksum: ChecksumNone}, Modified},
		{"big file, token moved only, no hash", recOf(large), mod(large, func(e *Entry) { e.Token = "ino1:ct2"; e.Hash = "" }), sparse, Modified},
		{"file became a directory", recOf(small), mod(dirE, func(e *Entry) { e.Path = "f" }), sparse, Modified},
		{"file became a link", recOf(small), mod(link, func(e *Entry) { e.Path = "f" }), sparse, Modified},
		{"dir unchanged", recOf(dirE), &dirE, sparse, Unchanged},
		{"dir mtime, size and token ignored", recOf(dirE), mod(dirE, func(e *Entry) { e.MTime = later; e.Size = 4096; e.Token = "ino2:ct9" }), sparse, Unchanged},
		{"dir mode", recOf(dirE), mod(dirE, func(e *Entry) { e.Mode = 0o700 }), sparse, AttrChanged},
		{"dir mode, --ignore-mode", recOf(dirE), mod(dirE, func(e *Entry) { e.Mode = 0o700 }), DiffOptions{Checksum: ChecksumSHA1Sparse, IgnoreMode: true}, Unchanged},
		{"dir owner, -u", recOf(dirE), mod(dirE, func(e *Entry) { e.UID = 5 }), DiffOptions{Owners: true}, AttrChanged},
		{"dir became a file", recOf(dirE), mod(small, func(e *Entry) { e.Path = "d" }), sparse, Modified},
		{"link target", recOf(link), mod(link, func(e *Entry) { e.Target = "b" }), sparse, Modified},
		{"link target, same mtime and token", recOf(link), mod(link, func(e *Entry) { e.Target = "b"; e.Token = "ino3:ct1" }), sparse, Modified},
		{"link touched", recOf(link), mod(link, func(e *Entry) { e.MTime = later; e.Token = "ino3:ct2" }), sparse, Unchanged},
	} {
		if got := Diff(tc.base, tc.cur, tc.o); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	for c := Absent; c <= Deleted; c++ {
		if want := c != Absent && c != Unchanged; c.Changed() != want {
			t.Errorf("%s.Changed() = %v", c, c.Changed())
		}
	}
}

func TestNeedsRehashCases(t *testing.T) {
	small := Entry{Path: "f", Type: TypeFile, Size: 100, MTime: t0, Mode: 0o644, Token: "ct1", Hash: "sha1_sparse:0a"}
	scan := func(e Entry, f func(e *Entry)) *Entry { e.Hash = ""; f(&e); return &e }
	later := t0.Add(time.Second)
	big := small
	big.Size = 5 << 20
	full := big
	full.Hash = "sha1:0a"
	dirE := Entry{Path: "d", Type: TypeDir, Mode: 0o755}
	sparse := DiffOptions{Checksum: ChecksumSHA1Sparse}
	for _, tc := range []struct {
		name string
		base *Record
		cur  *Entry
		o    DiffOptions
		want bool
	}{
		{"small file touched", &Record{Entry: small}, scan(small, func(e *Entry) { e.MTime = later }), sparse, true},
		{"small file, token moved", &Record{Entry: small}, scan(small, func(e *Entry) { e.Token = "ct2" }), sparse, true},
		{"unchanged", &Record{Entry: small}, scan(small, func(*Entry) {}), sparse, false},
		{"chmod moved the token", &Record{Entry: small}, scan(small, func(e *Entry) { e.Mode = 0o600; e.Token = "ct2" }), sparse, false},
		{"size changed", &Record{Entry: small}, scan(small, func(e *Entry) { e.Size = 101; e.MTime = later }), sparse, false},
		{"hash already there", &Record{Entry: small}, scan(small, func(e *Entry) { e.MTime = later; e.Hash = "sha1_sparse:0a" }), sparse, false},
		{"no recorded hash", &Record{Entry: *scan(small, func(*Entry) {})}, scan(small, func(e *Entry) { e.MTime = later }), sparse, false},
		{"recorded with another -k", &Record{Entry: small}, scan(small, func(e *Entry) { e.MTime = later }), DiffOptions{Checksum: ChecksumMD5Sparse}, false},
		{"-k none", &Record{Entry: small}, scan(small, func(e *Entry) { e.MTime = later }), DiffOptions{Checksum: ChecksumNone}, false},
		{"big file, sparse proves nothing", &Record{Entry: big}, scan(big, func(e *Entry) { e.MTime = later }), sparse, false},
		{"big file, full hash", &Record{Entry: full}, scan(full, func(e *Entry) { e.MTime = later }), DiffOptions{Checksum: ChecksumSHA1}, true},
		{"conflict record", &Record{Entry: small, Status: StatusConflict}, scan(small, func(e *Entry) { e.MTime = later }), sparse, false},
		{"no record", nil, scan(small, func(*Entry) {}), sparse, false},
		{"deleted", &Record{Entry: small}, nil, sparse, false},
		{"directory", &Record{Entry: dirE}, &Entry{Path: "d", Type: TypeDir, Mode: 0o755, MTime: later}, sparse, false},
		{"file became a directory", &Record{Entry: small}, &Entry{Path: "f", Type: TypeDir, Mode: 0o755}, sparse, false},
	} {
		if got := NeedsRehash(tc.base, tc.cur, tc.o); got != tc.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestContentEqualRule covers the equality rule of docs/reference.md §5.6.
func TestContentEqualRule(t *testing.T) {
	later := t0.Add(time.Hour)
	f := func(size int64, mt time.Time, h string) *Entry {
		return &Entry{Path: "f", Type: TypeFile, Size: size, MTime: mt, Mode: 0o644, Hash: h}
	}
	const big = 5 << 20
	for _, tc := range []struct {
		name      string
		a, b      *Entry
		algo      Checksum
		equal, ok bool
	}{
		// Full fingerprints decide alone.
		{"full: same hash", f(10, t0, "sha1:aa"), f(10, t0, "sha1:aa"), ChecksumSHA1, true, true},
		{"full: same hash, other mtime", f(big, t0, "sha1:aa"), f(big, later, "sha1:aa"), ChecksumSHA1, true, true},
		{"full: other hash", f(10, t0, "sha1:aa"), f(10, t0, "sha1:bb"), ChecksumSHA1, false, true},
		{"full: sha256", f(10, t0, "sha256:aa"), f(10, later, "sha256:aa"), ChecksumSHA256, true, true},
		{"full: one hash missing", f(10, t0, "sha1:aa"), f(10, t0, ""), ChecksumSHA1, false, false},
		{"full: both hashes missing", f(10, t0, ""), f(10, t0, ""), ChecksumSHA1, false, false},
		{"full: hashes of two algorithms", f(10, t0, "sha1:aa"), f(10, t0, "md5:aa"), ChecksumSHA1, false, false},
		{"full: size differs, no hash needed", f(10, t0, ""), f(11, t0, ""), ChecksumSHA1, false, true},
		// Sparse: whole-file for ≤ 1 MiB, else size, mtime and hash.
		{"sparse small: same hash, other mtime", f(10, t0, "sha1_sparse:aa"), f(10, later, "sha1_sparse:aa"), ChecksumSHA1Sparse, true, true},
		{"sparse 1 MiB: same hash, other mtime", f(SparseWhole, t0, "sha1_sparse:aa"), f(SparseWhole, later, "sha1_sparse:aa"), ChecksumSHA1Sparse, true, true},
		{"sparse small: other hash", f(10, t0, "sha1_sparse:aa"), f(10, t0, "sha1_sparse:bb"), ChecksumSHA1Sparse, false, true},
		{"sparse small: hash missing", f(10, t0, "sha1_sparse:aa"), f(10, later, ""), ChecksumSHA1Sparse, false, false},
		{"sparse big: size, mtime, hash", f(big, t0, "sha1_sparse:aa"), f(big, t0, "sha1_sparse:aa"), ChecksumSHA1Sparse, true, true},
		{"sparse big: other mtime", f(big, t0, "sha1_sparse:aa"), f(big, later, "sha1_sparse:aa"), ChecksumSHA1Sparse, false, true},
		{"sparse 1 MiB+1: other mtime", f(SparseWhole+1, t0, "sha1_sparse:aa"), f(SparseWhole+1, later, "sha1_sparse:aa"), ChecksumSHA1Sparse, false, true},
		{"sparse big: other mtime, no hash needed", f(big, t0, ""), f(big, later, ""), ChecksumSHA1Sparse, false, true},
		{"sparse big: other hash", f(big, t0, "sha1_sparse:aa"), f(big, t0, "sha1_sparse:bb"), ChecksumSHA1Sparse, false, true},
		{"sparse big: hash missing", f(big, t0, ""), f(big, t0, "sha1_sparse:aa"), ChecksumSHA1Sparse, false, false},
		{"md5 sparse big", f(big, t0, "md5_sparse:aa"), f(big, t0, "md5_sparse:aa"), ChecksumMD5Sparse, true, true},
		// none: size and mtime.
		{"none: size and mtime", f(10, t0, ""), f(10, t0, ""), ChecksumNone, true, true},
		{"none: other mtime", f(10, t0, ""), f(10, later, ""), ChecksumNone, false, true},
		{"none: other size", f(10, t0, ""), f(11, t0, ""), ChecksumNone, false, true},
		{"none: hashes ignored", f(10, t0, "sha1:aa"), f(10, t0, "sha1:bb"), ChecksumNone, true, true},
		{"empty -k is none", f(10, t0, ""), f(10, t0, ""), "", true, true},
		// Types.
		{"nil", nil, f(10, t0, ""), ChecksumSHA1, false, true},
		{"file vs dir", f(10, t0, ""), &Entry{Type: TypeDir}, ChecksumSHA1, false, true},
		{"dirs", &Entry{Type: TypeDir, Mode: 0o755}, &Entry{Type: TypeDir, Mode: 0o700, MTime: later}, ChecksumSHA1, true, true},
		{"links, same target", &Entry{Type: TypeSymlink, Target: "x"}, &Entry{Type: TypeSymlink, Target: "x", MTime: later}, ChecksumSHA1, true, true},
		{"links, other target", &Entry{Type: TypeSymlink, Target: "x"}, &Entry{Type: TypeSymlink, Target: "y"}, ChecksumSHA1, false, true},
	} {
		for _, swap := range []bool{false, true} {
			a, b := tc.a, tc.b
			if swap {
				a, b = b, a
			}
			eq, ok := ContentEqual(a, b, tc.algo)
			if eq != tc.equal || ok != tc.ok {
				t.Errorf("%s (swapped %v): equal=%v ok=%v, want %v %v", tc.name, swap, eq, ok, tc.equal, tc.ok)
			}
			if NeedsCompare(a, b, tc.algo) != !tc.ok {
				t.Errorf("%s: NeedsCompare = %v", tc.name, NeedsCompare(a, b, tc.algo))
			}
		}
	}
}

// Sparse fingerprints under a full -k must not prove a big file equal when
// its mtimes differ: a sparse fingerprint alone never proves equality.
func TestContentEqualSparseHashUnderFullAlgo(t *testing.T) {
	a := &Entry{Type: TypeFile, Size: 5 << 20, MTime: t0, Hash: "sha1_sparse:aa"}
	b := &Entry{Type: TypeFile, Size: 5 << 20, MTime: t0.Add(time.Hour), Hash: "sha1_sparse:aa"}
	if eq, _ := ContentEqual(a, b, ChecksumSHA1); eq {
		t.Errorf("sparse fingerprints of big files with different mtimes proved equal under -k sha1")
	}
}

// A permission or owner change moves a filesystem's change token (ctime).
// When such an attribute does not count (--ignore-mode, no -u/-j, or a side
// that cannot hold modes), its change still explains the moved token: the
// content is unchanged and nothing is to be sent (docs/reference.md §5.8: later mode
// changes are not pushed with --ignore-mode).
func TestDiffIgnoredAttrExplainsToken(t *testing.T) {
	big := Entry{Path: "f", Type: TypeFile, Size: 5 << 20, MTime: t0, Mode: 0o644, UID: 1, GID: 1, Token: "ct1", Hash: "sha1_sparse:0a"}
	chmod := big
	chmod.Mode, chmod.Token, chmod.Hash = 0o600, "ct2", ""
	chown := big
	chown.UID, chown.Token, chown.Hash = 2, "ct2", ""
	for _, tc := range []struct {
		name string
		cur  *Entry
		o    DiffOptions
	}{
		{"chmod, --ignore-mode", &chmod, DiffOptions{Checksum: ChecksumSHA1Sparse, IgnoreMode: true}},
		{"chmod, --ignore-mode, -k none", &chmod, DiffOptions{Checksum: ChecksumNone, IgnoreMode: true}},
		{"chown, owners not kept", &chown, DiffOptions{Checksum: ChecksumSHA1Sparse}},
	} {
		if got := Diff(&Record{Entry: big}, tc.cur, tc.o); got != Unchanged {
			t.Errorf("%s: %s, want unchanged", tc.name, got)
		}
	}
}

// TestEntrySize: an Entry is held per path and side; its fields stay
// packed (Type beside Mode), 160 bytes on 64-bit systems.
func TestEntrySize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are checked on 64-bit systems")
	}
	if n := unsafe.Sizeof(Entry{}); n > 160 {
		t.Errorf("Entry is %d bytes, want at most 160", n)
	}
}
