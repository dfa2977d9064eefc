package core

import (
	"encoding/base64"
	"encoding/json"
	"io"
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
	Unchanged int   `json:"unchanged"`
	Equal     int   `json:"equal"`
}

// WritePlanJSON writes p as one JSON document (reference §6).
func WritePlanJSON(w io.Writer, h PlanHeader, p *Plan) error {
	t := p.Totals()
	doc := jsonPlan{
		Version: PlanVersion, Session: h.Session, Direction: h.Direction.String(),
		Local: h.Local, Remote: h.Remote, Options: h.Options, Actions: []jsonAction{},
		Totals: jsonTotals{Mkdir: t.Mkdir, Copy: t.Copy, CopyBytes: t.CopyBytes, SetAttr: t.SetAttr,
			Rename: t.Rename, Delete: t.Delete, Keep: t.Keep, Conflict: t.Conflict,
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
		j.Mode = "0" + strconv.FormatUint(uint64(e.Mode.Perm()), 8)
	}
	return j
}
