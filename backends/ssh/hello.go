package ssh

import "github.com/async-sync/async/core"

// hello is the session a client opens.
type hello struct {
	root        string // -r's path
	create      bool   // --create-dir
	followLinks bool
	token       string
	cookie      string
	session     string
	logDir      string // -R (empty: the default)
	logMB       int
	debug       bool
	compression string // --compression: what both sides send compressed
}

func (h *hello) encode(e *enc) {
	e.s(h.root)
	e.bool(h.create)
	e.bool(h.followLinks)
	e.s(h.token)
	e.s(h.cookie)
	e.s(h.session)
	e.s(h.logDir)
	e.i(int64(h.logMB))
	e.bool(h.debug)
	e.s(h.compression)
}

func decodeHello(d *dec) hello {
	var h hello
	h.root = d.s()
	h.create = d.bool()
	h.followLinks = d.bool()
	h.token = d.s()
	h.cookie = d.s()
	h.session = d.s()
	h.logDir = d.s()
	h.logMB = int(d.i())
	h.debug = d.bool()
	h.compression = d.s()
	return h
}

func capsBits(c core.Caps) uint64 {
	var b uint64
	for i, v := range []bool{c.Dirs, c.Rename, c.SetMTime, c.SetMode, c.Owners, c.Symlinks, c.FileIDs, c.Filesystem, c.MTimeFromFS} {
		if v {
			b |= 1 << i
		}
	}
	return b
}

func capsFrom(b uint64) core.Caps {
	bit := func(i int) bool { return b&(1<<i) != 0 }
	return core.Caps{Dirs: bit(0), Rename: bit(1), SetMTime: bit(2), SetMode: bit(3), Owners: bit(4),
		Symlinks: bit(5), FileIDs: bit(6), Filesystem: bit(7), MTimeFromFS: bit(8)}
}
