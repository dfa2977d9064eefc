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

func CapsBits(c core.Caps) uint64 {
	var b uint64
	for i, v := range []bool{c.Dirs, c.Rename, c.SetMTime, c.SetMode, c.Owners, c.Symlinks, c.FileIDs, c.Filesystem, c.MTimeFromFS} {
		if v {
			b |= 1 << i
		}
	}
	return b
}

func CapsFrom(b uint64) core.Caps {
	bit := func(i int) bool { return b&(1<<i) != 0 }
	return core.Caps{Dirs: bit(0), Rename: bit(1), SetMTime: bit(2), SetMode: bit(3), Owners: bit(4),
		Symlinks: bit(5), FileIDs: bit(6), Filesystem: bit(7), MTimeFromFS: bit(8)}
}
