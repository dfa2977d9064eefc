package core

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"
	"unicode/utf8"
)

// PlanVersion is the version of the JSON plan format (docs/plan-format.md).
// It changes whenever the format changes incompatibly.
const PlanVersion = 1

// PlanHeader is what a JSON plan says about the run that made it.
type PlanHeader struct {
	Session   string
	Direction Direction
	Local     string // canonical endpoints
	Remote    string
	// Options are every option that changes what actions do, by long name.
	Options map[string]any
}

type jsonPlan struct {
	Version   int            `json:"version"`
	Session   string         `json:"session"`
	Direction string         `json:"direction"`
	Local     string         `json:"local"`
	Remote    string         `json:"remote"`
	Options   map[string]any `json:"options"`
	Actions   []jsonAction   `json:"actions"`
	Totals    jsonTotals     `json:"totals"`
}

type jsonAction struct {
	Op           string     `json:"op"`
	Side         string     `json:"side"`
	Path         string     `json:"path,omitempty"`
	PathB64      string     `json:"path_b64,omitempty"`
	To           string     `json:"to,omitempty"`
	ToB64        string     `json:"to_b64,omitempty"`
	Size         *int64     `json:"size,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Early        bool       `json:"early,omitempty"`
	ExpectSource *jsonEntry `json:"expect_source,omitempty"`
	ExpectDest   *jsonEntry `json:"expect_dest"`
}

type jsonEntry struct {
	Type   string `json:"type"`
	Size   *int64 `json:"size,omitempty"`
	MTime  string `json:"mtime,omitempty"`
	Mode   string `json:"mode,omitempty"`
	UID    *int   `json:"uid,omitempty"`
	GID    *int   `json:"gid,omitempty"`
	ATime  string `json:"atime,omitempty"`
	Target string `json:"target,omitempty"`
	Hash   string `json:"hash,omitempty"`
	Token  string `json:"token,omitempty"`
}

type jsonTotals struct {
	Mkdir     int   `json:"mkdir"`
	Copy      int   `json:"copy"`
	CopyBytes int64 `json:"copy_bytes"`
	SetAttr   int   `json:"setattr"`
	Rename    int   `json:"rename"`
	Delete    int   `json:"delete"`
	Keep      int   `json:"keep"`
	Conflict  int   `json:"conflict"`
	Link      int   `json:"link"`
	Unchanged int   `json:"unchanged"`
	Equal     int   `json:"equal"`
}

// WritePlanJSON writes p as one JSON document (docs/reference.md §6).
func WritePlanJSON(w io.Writer, h PlanHeader, p *Plan) error {
	t := p.Totals()
	doc := jsonPlan{
		Version: PlanVersion, Session: h.Session, Direction: h.Direction.String(),
		Local: h.Local, Remote: h.Remote, Options: h.Options, Actions: []jsonAction{},
		Totals: jsonTotals{Mkdir: t.Mkdir, Copy: t.Copy, CopyBytes: t.CopyBytes, SetAttr: t.SetAttr,
			Rename: t.Rename, Delete: t.Delete, Keep: t.Keep, Conflict: t.Conflict, Link: t.Link,
			Unchanged: t.Unchanged, Equal: t.Equal},
	}
	if doc.Options == nil {
		doc.Options = map[string]any{}
	}
	for i := range p.Actions {
		a := &p.Actions[i]
		ja := jsonAction{Op: a.Op.String(), Side: a.Side.String(), Reason: a.Reason, Early: a.Early,
			ExpectDest: entryJSON(a.Dest)}
		ja.Path, ja.PathB64 = jsonPath(a.Path)
		if a.To != "" {
			ja.To, ja.ToB64 = jsonPath(a.To)
		}
		if a.Op == OpCopy && a.Source != nil && a.Source.Type == TypeFile {
			n := a.Source.Size
			ja.Size = &n
		}
		if a.Op != OpDelete && a.Op != OpRename && a.Op != OpKeep {
			ja.ExpectSource = entryJSON(a.Source)
		}
		doc.Actions = append(doc.Actions, ja)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(doc)
}

// jsonPath returns a path for a JSON plan: as "/path" when it is valid
// UTF-8, otherwise base64 of its raw bytes (with the leading slash).
func jsonPath(p string) (plain, b64 string) {
	if utf8.ValidString(p) {
		return "/" + p, ""
	}
	return "", base64.StdEncoding.EncodeToString([]byte("/" + p))
}

func entryJSON(e *Entry) *jsonEntry {
	if e == nil {
		return nil
	}
	j := &jsonEntry{Type: e.Type.String(), Target: e.Target, Hash: e.Hash, Token: e.Token}
	if e.Type != TypeDir {
		n := e.Size
		j.Size = &n
		j.MTime = e.MTime.UTC().Format(time.RFC3339Nano)
	}
	if e.Mode != 0 {
		j.Mode = "0" + strconv.FormatUint(uint64(unixMode(e.Mode)), 8)
	}
	// Owners and the access time: what -u, -j and --preserve-access-time
	// give the entries written.
	if e.UID != NoID {
		n := e.UID
		j.UID = &n
	}
	if e.GID != NoID {
		n := e.GID
		j.GID = &n
	}
	if !e.ATime.IsZero() {
		j.ATime = e.ATime.UTC().Format(time.RFC3339Nano)
	}
	return j
}

// ReadPlanJSON reads a plan written by WritePlanJSON. The actions keep
// their expectations, so that applying the plan later refuses what no
// longer holds.
func ReadPlanJSON(r io.Reader) (PlanHeader, *Plan, error) {
	var doc jsonPlan
	dec := json.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil {
		return PlanHeader{}, nil, fmt.Errorf("read plan: %w", err)
	}
	if doc.Version != PlanVersion {
		return PlanHeader{}, nil, fmt.Errorf("read plan: version %d, this async reads version %d", doc.Version, PlanVersion)
	}
	dir, err := ParseDirection(doc.Direction)
	if err != nil {
		return PlanHeader{}, nil, fmt.Errorf("read plan: %w", err)
	}
	h := PlanHeader{Session: doc.Session, Direction: dir, Local: doc.Local, Remote: doc.Remote, Options: doc.Options}
	p := &Plan{}
	for i, ja := range doc.Actions {
		a, err := ja.action()
		if err != nil {
			return PlanHeader{}, nil, fmt.Errorf("read plan: action %d: %w", i+1, err)
		}
		p.Actions = append(p.Actions, a)
	}
	return h, p, nil
}

func (ja *jsonAction) action() (Action, error) {
	op, err := ParseOp(ja.Op)
	if err != nil {
		return Action{}, err
	}
	a := Action{Op: op, Reason: ja.Reason, Early: ja.Early}
	switch ja.Side {
	case "local":
		a.Side = Local
	case "remote":
		a.Side = Remote
	default:
		return Action{}, fmt.Errorf("unknown side %q", ja.Side)
	}
	if a.Path, err = planPath(ja.Path, ja.PathB64); err != nil {
		return Action{}, err
	}
	if ja.To != "" || ja.ToB64 != "" {
		if a.To, err = planPath(ja.To, ja.ToB64); err != nil {
			return Action{}, err
		}
	}
	if a.Source, err = ja.ExpectSource.entry(a.Path); err != nil {
		return Action{}, err
	}
	if a.Dest, err = ja.ExpectDest.entry(a.Path); err != nil {
		return Action{}, err
	}
	if (op == OpCopy || op == OpMkdir || op == OpSetAttr) && a.Source == nil {
		return Action{}, fmt.Errorf("%s %s without expect_source", op, DisplayPath(a.Path))
	}
	return a, nil
}

// planPath decodes a plan path ("/a/b" or base64 of it) to core's form.
func planPath(plain, b64 string) (string, error) {
	p := plain
	if b64 != "" {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return "", fmt.Errorf("bad path_b64: %w", err)
		}
		p = string(raw)
	}
	return CleanPath(p)
}

func (j *jsonEntry) entry(p string) (*Entry, error) {
	if j == nil {
		return nil, nil
	}
	t, err := ParseType(j.Type)
	if err != nil {
		return nil, err
	}
	e := &Entry{Path: p, Type: t, Target: j.Target, Hash: j.Hash, Token: j.Token, UID: NoID, GID: NoID}
	if j.Size != nil {
		e.Size = *j.Size
	}
	if j.MTime != "" {
		if e.MTime, err = planTime(j.MTime); err != nil {
			return nil, fmt.Errorf("bad mtime %q", j.MTime)
		}
	}
	if j.UID != nil {
		e.UID = *j.UID
	}
	if j.GID != nil {
		e.GID = *j.GID
	}
	if j.ATime != "" {
		if e.ATime, err = planTime(j.ATime); err != nil {
			return nil, fmt.Errorf("bad atime %q", j.ATime)
		}
	}
	if j.Mode != "" {
		m, err := strconv.ParseUint(j.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("bad mode %q", j.Mode)
		}
		e.Mode = fileMode(uint32(m))
	}
	return e, nil
}

// planTime parses a plan's time. It refuses a time whose UTC form, which
// is what a plan is written with, would fall outside the years RFC 3339
// can write (0 to 9999), so that every plan read can be written and read
// again.
func planTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("year %d in UTC", y)
	}
	return t, nil
}

// The Unix bits of the mode's special flags, as a plan writes them.
const (
	unixSetuid = 0o4000
	unixSetgid = 0o2000
	unixSticky = 0o1000
)

// unixMode returns m's permission bits and special flags as a Unix mode
// (0o7777 at most).
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unixSetuid
	}
	if m&fs.ModeSetgid != 0 {
		u |= unixSetgid
	}
	if m&fs.ModeSticky != 0 {
		u |= unixSticky
	}
	return u
}

// fileMode is the inverse of unixMode.
func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u) & fs.ModePerm
	if u&unixSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if u&unixSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if u&unixSticky != 0 {
		m |= fs.ModeSticky
	}
	return m
}
