package protocol

import "github.com/async-sync/async/core"

// Hello is the session a client opens.
type Hello struct {
	Root        string // -r's path
	Create      bool   // --create-dir
	FollowLinks bool
	Token       string
	Cookie      string
	Session     string
	LogDir      string // -R (empty: the default)
	LogMB       int
	Debug       bool
	Compression string // --compression: what both sides send compressed
}

// Encode appends the hello's session (after the magic and the version).
func (h *Hello) Encode(e *Enc) {
	e.Str(h.Root)
	e.Bool(h.Create)
	e.Bool(h.FollowLinks)
	e.Str(h.Token)
	e.Str(h.Cookie)
	e.Str(h.Session)
	e.Str(h.LogDir)
	e.Int(int64(h.LogMB))
	e.Bool(h.Debug)
	e.Str(h.Compression)
}

// DecodeHello reads what Encode wrote.
func DecodeHello(d *Dec) Hello {
	var h Hello
	h.Root = d.Str()
	h.Create = d.Bool()
	h.FollowLinks = d.Bool()
	h.Token = d.Str()
	h.Cookie = d.Str()
	h.Session = d.Str()
	h.LogDir = d.Str()
	h.LogMB = int(d.Int())
	h.Debug = d.Bool()
	h.Compression = d.Str()
	return h
}

// CapsBits encodes core.Caps for the hello's answer.
func CapsBits(c core.Caps) uint64 {
	var b uint64
	for i, v := range []bool{c.Dirs, c.Rename, c.SetMTime, c.SetMode, c.Owners, c.Symlinks, c.FileIDs, c.Filesystem, c.MTimeFromFS, c.OrderedScan} {
		if v {
			b |= 1 << i
		}
	}
	return b
}

// CapsFrom decodes CapsBits.
func CapsFrom(b uint64) core.Caps {
	bit := func(i int) bool { return b&(1<<i) != 0 }
	return core.Caps{Dirs: bit(0), Rename: bit(1), SetMTime: bit(2), SetMode: bit(3), Owners: bit(4),
		Symlinks: bit(5), FileIDs: bit(6), Filesystem: bit(7), MTimeFromFS: bit(8),
		OrderedScan: bit(9)}
}

// wireFeatures are the optional interfaces the protocol carries, in the
// order of their bits on the wire (a later one is newer). The hello's
// answer ends with them: the ones the agent's backend has.
var wireFeatures = []core.Features{core.FeatureLinker, core.FeatureHasher, core.FeatureHardLinker,
	core.FeatureXattrer, core.FeatureWatcher}

// WireFeatures are the optional interfaces the protocol carries.
const WireFeatures = core.FeatureLinker | core.FeatureHasher | core.FeatureHardLinker |
	core.FeatureXattrer | core.FeatureWatcher

// LegacyFeatures are what an agent that tells none has: every one the
// protocol carries, as the local backend it always served has.
const LegacyFeatures = WireFeatures

// FeaturesBits encodes the features f (those the protocol carries).
func FeaturesBits(f core.Features) uint64 {
	var b uint64
	for i, w := range wireFeatures {
		if f.Has(w) {
			b |= 1 << i
		}
	}
	return b
}

// FeaturesFrom decodes FeaturesBits; bits it does not know (a newer
// agent's) are ignored.
func FeaturesFrom(b uint64) core.Features {
	var f core.Features
	for i, w := range wireFeatures {
		if b&(1<<i) != 0 {
			f |= w
		}
	}
	return f
}
