// Package entrytest helps the codecs of core.Entry (the agent wire
// protocol, the plugin messages, the snapshot records, the JSON plan)
// prove that they carry every field: Full sets every field by reflection,
// so a field added to core.Entry later is set too, and Diff names every
// field that did not come back, so a codec that forgets the new field
// fails its round-trip test until it carries it or says why it may not.
package entrytest

import (
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"time"

	"github.com/async-sync/async/core"
)

var (
	timeType = reflect.TypeFor[time.Time]()
	modeType = reflect.TypeFor[fs.FileMode]()
	typeType = reflect.TypeFor[core.Type]()
)

// Full returns an Entry with every field set to a value that is neither
// its zero value nor, for owners, core.NoID: strings name their field and
// hold a byte that needs escaping, numbers are distinct and need several
// varint bytes, times have nanoseconds and differ from each other. It
// panics on a field of a kind it does not know, so that a new kind of
// field is taught here rather than silently left zero.
func Full() core.Entry {
	var e core.Entry
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		switch {
		case sf.Name == "Path":
			f.SetString("dir/sub/file é")
		case sf.Type == timeType:
			f.Set(reflect.ValueOf(time.Unix(1700000000+int64(i)*1000, 123456789+int64(i)).UTC()))
		case sf.Type == modeType:
			f.Set(reflect.ValueOf(fs.FileMode(0o751) | fs.ModeSetgid))
		case sf.Type == typeType:
			f.Set(reflect.ValueOf(core.TypeSymlink))
		case f.Kind() == reflect.String:
			f.SetString(sf.Name + "-\"value\"\n")
		case f.CanInt():
			f.SetInt(int64(100000 + i))
		case f.CanUint():
			f.SetUint(uint64(100000 + i))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		default:
			panic(fmt.Sprintf("entrytest: cannot fill core.Entry.%s of type %s: teach Full", sf.Name, sf.Type))
		}
		if f.IsZero() {
			panic(fmt.Sprintf("entrytest: core.Entry.%s is still zero", sf.Name))
		}
	}
	return e
}

// Fields returns the names of core.Entry's fields.
func Fields() []string {
	t := reflect.TypeFor[core.Entry]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Name
	}
	return names
}

// Diff returns one line per field of core.Entry whose value in got differs
// from want (times compared with Equal), skipping the fields named in omit
// (field name to the reason the codec may drop it). It also reports every
// key of omit that is not a field, so that a stale omission is noticed,
// and every omitted field that came back anyway, so that an omission
// outliving its reason is noticed too.
func Diff(got, want core.Entry, omit map[string]string) []string {
	var out []string
	fields := Fields()
	for name := range omit {
		if !slices.Contains(fields, name) {
			out = append(out, fmt.Sprintf("omitted field %s does not exist", name))
		}
	}
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i, name := range fields {
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		same := reflect.DeepEqual(gf, wf)
		if gt, ok := gf.(time.Time); ok {
			same = gt.Equal(wf.(time.Time))
		}
		_, omitted := omit[name]
		switch {
		case !same && !omitted:
			out = append(out, fmt.Sprintf("%s: got %#v, want %#v", name, gf, wf))
		case same && omitted:
			out = append(out, fmt.Sprintf("%s is listed as omitted (%s) but came back", name, omit[name]))
		}
	}
	slices.Sort(out)
	return out
}
