package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/lifecycle"
	"github.com/async-sync/async/internal/watchd"
)

// watchdArgs joins IBM's "--watchd VALUE" (a separate word naming a
// datastore) into "--watchd=VALUE", since --watchd alone is a valid flag.
func watchdArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == "--" {
			return append(out, args[i:]...)
		}
		if args[i] == "--watchd" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && strings.Contains(args[i+1], ":") {
			out = append(out, "--watchd="+args[i+1])
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// watchdSocket resolves --watchd's value to the service's socket: none is
// the local service's default socket, unix:PATH a given one. IBM's
// datastore:HOST:PORT names a Redis datastore: warned, and the local
// service is asked instead.
func watchdSocket(opt, v, stateDir string) (sock, warning string, err error) {
	def := filepath.Join(stateDir, "watchd", watchd.SocketName)
	switch {
	case v == "":
		return def, "", nil
	case strings.HasPrefix(v, "unix:"):
		p, err := expandHome(strings.TrimPrefix(v, "unix:"))
		if err != nil || p == "" {
			return "", "", usagef("option %s: %q: want unix:PATH", opt, v)
		}
		p, err = filepath.Abs(p)
		if err != nil {
			return "", "", usagef("option %s: %v", opt, err)
		}
		return p, "", nil
	case strings.HasPrefix(v, "datastore:") || strings.Count(v, ":") >= 2:
		return def, fmt.Sprintf("warning: option %s=%s names Aspera's watchd datastore; async asks its own local service (async watchd) at %s", opt, v, def), nil
	}
	return "", "", usagef("option %s: %q: want no value (the local service) or unix:PATH", opt, v)
}

// scanFingerprint digests the settings that decide what a side's scan
// sees and what a run does with it (filters, link handling, keep and
// private directories, the policy): a change means the records do not describe what a scan would find
// now, and the journal cannot stand for a scan.
func scanFingerprint(s *session, side core.Side, private []string) string {
	h := sha256.New()
	pol := s.Policy
	pol.WriteUID, pol.WriteGID = nil, nil
	pol.ConflictSuffix = "" // carries the run's time
	fmt.Fprintf(h, "side %d\nlinks %d\nkeep %q\npolicy %+v\n", side, s.Links, s.keepDir, pol)
	for _, id := range []*int{s.Policy.WriteUID, s.Policy.WriteGID} {
		if id != nil {
			fmt.Fprintf(h, "id %d\n", *id)
		}
	}
	for _, r := range s.Filter.Rules() {
		fmt.Fprintf(h, "filter %s\n", r)
	}
	for _, p := range private {
		fmt.Fprintf(h, "private %s\n", p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// journalHints asks the change journal service, for each local side, and
// the server's, through the SSH agent, for a remote side, what changed
// since the cursor the session recorded at its last complete run
// (journals: a remote side's, nil for one without).
// A side with a trustworthy answer gets a hint (its paths are looked at
// instead of a scan) unless it has one already (a -C watcher's); a side
// with any doubt is scanned in full, with one info line saying why. It
// returns the tokens to record if this run completes. metas reads each
// side's stored session identity (its snapshot, or the copy of it that
// snapshot.PeekMeta reads; nil for a side without one). With quiet
// nothing is logged or warned (a try whose answer may be thrown away).
func (a *app) journalHints(ctx context.Context, in *instance, p *prepared, metas [2]metaReader, journals [2]remoteJournal, hints [2]*core.Hint, log *slog.Logger, quiet bool) (_ [2]*core.Hint, tokens [2]string, fromJournal [2]bool) {
	private := p.privateDirs()
	for side := range 2 {
		e := p.ends[side]
		jr, remote := journals[side], journals[side] != nil
		if !e.local() && !remote || p.missing[side] || metas[side] == nil || !lifecycle.IsSource(p.s.Policy.Direction, core.Side(side)) {
			// A destination of push or pull is looked at where the
			// source changed; the journal is for sides whose changes
			// matter. Its record says only that the run completed.
			tokens[side] = completeToken
			continue
		}
		full := func(why string) {
			if quiet {
				return
			}
			msg := fmt.Sprintf("watchd: the %s side is scanned in full: %s", core.Side(side), why)
			log.Info(msg)
			if !in.quiet {
				a.out.warn(p.s.name, msg)
			}
		}
		fp := scanFingerprint(p.s, core.Side(side), private[side])
		dir := ""
		if !remote {
			var err error
			if dir, err = filepath.EvalSymlinks(e.path); err != nil {
				full(fmt.Sprintf("its root cannot be resolved: %v", err))
				continue
			}
		}
		m, ok, err := metas[side].Meta(ctx)
		prior, why := "", ""
		switch {
		case err != nil:
			why = fmt.Sprintf("the snapshot cannot be read: %v", err)
		case !ok:
			why = "no cursor yet (a new session, or --reset)"
		case m.Stopped.IsZero():
			why = "the last run did not end (killed?): its cursor is unknown"
		case m.Journal == "":
			why = "no cursor from a complete run (the last run had no --watchd, or did not settle everything)"
		default:
			prior = m.Journal
		}
		var changed []string
		var next, hole string
		if remote {
			// The server's service, asked by the agent about the
			// remote root only.
			if changed, next, hole, err = jr.JournalSince(ctx, prior, fp); err != nil {
				next, hole = watchd.Token{Epoch: "-", FP: fp}.String(), fmt.Sprintf("the server's journal cannot be asked: %v", err)
			}
		} else {
			changed, next, hole = watchd.Since(ctx, in.watchd, dir, prior, fp)
		}
		tokens[side] = next
		if hints[side] != nil {
			continue // a -C watcher's hints: they are this round's truth
		}
		if t, _ := watchd.ParseToken(next); t.Epoch == "-" {
			why = hole // the service is down: say so first
		}
		if why = cmp.Or(why, hole); why != "" {
			full(why)
			continue
		}
		paths := make([]string, 0, len(changed))
		for _, q := range changed {
			if !privatePath(q, private[side]) {
				paths = append(paths, q)
			}
		}
		if !quiet {
			log.Info("watchd: changes from the journal", "side", core.Side(side).String(), "paths", len(paths), "from", prior, "to", next)
		}
		hints[side] = &core.Hint{Paths: paths}
		fromJournal[side] = true
	}
	return hints, tokens, fromJournal
}

// metaReader reads a side's stored session identity (a core.Store, or
// peekedMeta).
type metaReader interface {
	Meta(ctx context.Context) (core.Meta, bool, error)
}

// peekedMeta is a stored session identity read without opening the
// snapshot (lifecycle.Session.PeekMetas).
type peekedMeta core.Meta

// Meta returns the identity.
func (m peekedMeta) Meta(context.Context) (core.Meta, bool, error) { return core.Meta(m), true, nil }

// storeMetas returns the endpoints' snapshots as metaReaders (nil where a
// side has none).
func storeMetas(eps [2]*core.Endpoint) [2]metaReader {
	var metas [2]metaReader
	for side := range 2 {
		if eps[side].Store != nil {
			metas[side] = eps[side].Store
		}
	}
	return metas
}

// journalPeek settles a one-time push or pull with --watchd before its
// snapshots are opened, when it can: both sides are local directories
// whose stored identities can be read without opening the snapshots
// (lifecycle.Session.PeekMetas, under their locks), and the journal says
// that the source did not change since the last complete run
// (journalUnchanged, on the same identities the snapshots hold). Then
// the run has nothing to do, and it costs no Badger Open and Close, which
// touch every table of a large snapshot. Otherwise, or at any doubt, it
// reports false without a word and the run goes on as usual.
func (a *app) journalPeek(ctx context.Context, in *instance, p *prepared, eps [2]*core.Endpoint, life *lifecycle.Session, log *slog.Logger) bool {
	if in.watchd == "" || in.dryRun || p.plan != nil || !p.ends[core.Local].local() || !p.ends[core.Remote].local() {
		return false
	}
	pol := roundPolicy(p.s, eps)
	if pol.Direction == core.Bidi || pol.Mirror {
		return false
	}
	peeked, release, ok := life.PeekMetas()
	if !ok {
		return false
	}
	defer release()
	metas := [2]metaReader{peekedMeta(peeked[0]), peekedMeta(peeked[1])}
	hints, tokens, fromJournal := a.journalHints(ctx, in, p, metas, [2]remoteJournal{}, [2]*core.Hint{}, log, true)
	if !journalUnchanged(ctx, p, pol, [2]string{eps[0].URL, eps[1].URL}, metas, hints, fromJournal) {
		return false
	}
	src := core.Local
	if pol.Direction == core.Pull {
		src = core.Remote
	}
	log.Info("watchd: changes from the journal", "side", src.String(), "paths", 0, "from", peeked[src].Journal, "to", tokens[src])
	log.Info("watchd: nothing changed at the source since the last complete run")
	stats := &core.Stats{}
	p.lastStats = stats
	p.stats.Store(stats)
	a.out.summary(in, p.s.name, pol.Direction, 0, stats)
	return true
}

// remoteJournal is a remote side whose server answers from its own
// change journal service (the SSH agent).
type remoteJournal interface {
	JournalSince(ctx context.Context, prior, fp string) (paths []string, next, why string, err error)
}

// completeToken is recorded for a side that does not read the journal:
// its last run completed.
const completeToken = "complete"

// journalUnchanged reports whether a push or pull has nothing to do
// because the journal says its source did not change since the last
// complete run, whose cursor and settings it recorded: the engine would
// take both sides' records as they are (the destination is looked at only
// where the source changed) and plan nothing, so it is not run at all.
//
// The destination must be a local directory that is not empty (besides
// the private area): an emptied or unmounted one goes through the engine,
// whose safety checks stop the run.
func journalUnchanged(ctx context.Context, p *prepared, pol core.Policy, urls [2]string, metas [2]metaReader, hints [2]*core.Hint, fromJournal [2]bool) bool {
	if pol.Direction == core.Bidi || pol.Mirror {
		return false
	}
	src, dst := core.Local, core.Remote
	if pol.Direction == core.Pull {
		src, dst = dst, src
	}
	if !fromJournal[src] || hints[src] == nil || len(hints[src].Paths) > 0 || !p.ends[dst].local() || !hasEntries(p.ends[dst].path) {
		return false
	}
	for side := range 2 {
		// Both records come from one complete run of this very session:
		// same endpoints, same direction.
		if metas[side] == nil {
			return false
		}
		m, ok, err := metas[side].Meta(ctx)
		if err != nil || !ok || m.Stopped.IsZero() || m.Journal == "" ||
			m.Local != urls[core.Local] || m.Remote != urls[core.Remote] || m.Direction != pol.Direction.String() {
			return false
		}
	}
	return true
}

// privatePath reports whether p lies in async's own state: the private
// area at the root or one of the side's private directories.
func privatePath(p string, private []string) bool {
	if p == core.PrivateDir || strings.HasPrefix(p, core.PrivateDir+"/") {
		return true
	}
	for _, d := range private {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// hasEntries reports whether a directory holds anything besides async's
// private area.
func hasEntries(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(2)
	return slices.ContainsFunc(names, func(n string) bool { return n != core.PrivateDir })
}
