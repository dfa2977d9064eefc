// Package cli tokenizes async's command line: short and long options with
// the exact syntax of IBM Aspera's async (-x value, -xvalue, bundled
// boolean flags, --opt=value, --opt value), sessions started by a given
// option, and positional arguments. It knows nothing of what options mean.
package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Arg says whether an option takes a value.
type Arg int

// Value kinds.
const (
	ArgNone     Arg = iota // a flag: -x, --opt; --opt=value is an error
	ArgRequired            // -x value, -xvalue, --opt=value, --opt value
	ArgOptional            // only --opt=value gives it a value; -x and --opt have none
)

// Spec describes one option.
type Spec struct {
	Short     rune   // 0 when there is none
	Long      string // without dashes; "" when there is none
	Arg       Arg
	Help      string // one line, for -h
	Group     string // heading for -h ("Instance options", ...)
	ValueName string // shown in help, e.g. "NAME", "DIR[:MB]"
	// Values are the values a shell completes, when ValueName does not
	// spell them ("a|b|c"); nil: ValueName decides.
	Values []string
}

// Display returns how messages name the option: "--name (-N)", "--dry-run"
// or "-x".
func (s *Spec) Display() string {
	switch {
	case s.Long != "" && s.Short != 0:
		return fmt.Sprintf("--%s (-%c)", s.Long, s.Short)
	case s.Long != "":
		return "--" + s.Long
	}
	return fmt.Sprintf("-%c", s.Short)
}

// Opt is one option found on the command line.
type Opt struct {
	Spec     *Spec  // points into the specs given to Parse
	Value    string // "" when none
	HasValue bool   // a value was given, possibly ""
	As       string // as typed, without the value: "-N" or "--name"
	Index    int    // position among all options parsed, from 0
}

// Parsed is a tokenized command line.
type Parsed struct {
	Instance   []Opt   // options before the first session-starting option
	Sessions   [][]Opt // each starts with the session-starting option itself
	Positional []string
}

// add files o under the instance or the current session, or starts a new
// session when o is the session-starting option.
func (p *Parsed) add(o Opt, sessionStart string) {
	switch n := len(p.Sessions); {
	case sessionStart != "" && o.Spec.Long == sessionStart:
		p.Sessions = append(p.Sessions, []Opt{o})
	case n > 0:
		p.Sessions[n-1] = append(p.Sessions[n-1], o)
	default:
		p.Instance = append(p.Instance, o)
	}
}

// Parse tokenizes args (without the program name). sessionStart is the
// long name of the option that starts a session ("name"), or "" for none.
// Errors are one line naming the option; an invalid specs table (an option
// defined twice, or without a name) is an error too.
func Parse(specs []Spec, args []string, sessionStart string) (*Parsed, error) {
	short, long, err := index(specs)
	if err != nil {
		return nil, err
	}
	if sessionStart != "" && long[sessionStart] == nil {
		return nil, fmt.Errorf("session option --%s is not defined", sessionStart)
	}
	p := &Parsed{}
	count := 0
	add := func(o Opt) {
		o.Index = count
		count++
		p.add(o, sessionStart)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			p.Positional = append(p.Positional, args[i+1:]...)
			return p, nil

		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			s := long[name]
			if s == nil {
				if name == "" { // "--=value"
					return nil, fmt.Errorf("unknown option %q", a)
				}
				return nil, fmt.Errorf("unknown option %q", "--"+name)
			}
			o := Opt{Spec: s, As: "--" + name}
			switch s.Arg {
			case ArgNone:
				if hasVal {
					return nil, fmt.Errorf("option %s takes no value", o.As)
				}
			case ArgOptional:
				o.Value, o.HasValue = val, hasVal
			case ArgRequired:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("option %s needs a value", s.Display())
					}
					i++
					val = args[i]
				}
				o.Value, o.HasValue = val, true
			}
			add(o)

		case len(a) > 1 && a[0] == '-':
			// A bundle of short options; one that takes a value ends it.
			for rest := a[1:]; rest != ""; {
				r, size := utf8.DecodeRuneInString(rest)
				name := rest[:size]
				rest = rest[size:]
				s := short[r]
				if s == nil {
					return nil, fmt.Errorf("unknown option %q", "-"+name)
				}
				o := Opt{Spec: s, As: "-" + name}
				if s.Arg == ArgRequired {
					switch {
					case rest != "":
						o.Value = rest
					case i+1 < len(args):
						i++
						o.Value = args[i]
					default:
						return nil, fmt.Errorf("option %s needs a value", s.Display())
					}
					o.HasValue = true
					rest = ""
				}
				add(o)
			}

		default: // including "-" alone
			p.Positional = append(p.Positional, a)
		}
	}
	return p, nil
}

// index maps the short and long names of specs to them, refusing
// duplicates and nameless specs.
func index(specs []Spec) (map[rune]*Spec, map[string]*Spec, error) {
	short := make(map[rune]*Spec, len(specs))
	long := make(map[string]*Spec, len(specs))
	for i := range specs {
		s := &specs[i]
		if s.Short == 0 && s.Long == "" {
			return nil, nil, fmt.Errorf("option %d of %d has no name", i+1, len(specs))
		}
		if s.Short != 0 {
			if short[s.Short] != nil {
				return nil, nil, fmt.Errorf("option -%c defined twice", s.Short)
			}
			short[s.Short] = s
		}
		if s.Long != "" {
			if long[s.Long] != nil {
				return nil, nil, fmt.Errorf("option --%s defined twice", s.Long)
			}
			long[s.Long] = s
		}
	}
	return short, long, nil
}

// maxColumn caps the width of the option column of Usage; longer entries
// push their help text to the right.
const maxColumn = 36

// Usage writes the options grouped by Spec.Group, groups in the order they
// first appear, one line per option: "  -N, --name=NAME   help". Each
// group's heading is preceded by an empty line, so the text can follow a
// usage line. Options without a group are listed under "Options".
func Usage(w io.Writer, specs []Spec) {
	var groups []string
	byGroup := map[string][]*Spec{}
	width := 0
	for i := range specs {
		s := &specs[i]
		if _, ok := byGroup[s.Group]; !ok {
			groups = append(groups, s.Group)
		}
		byGroup[s.Group] = append(byGroup[s.Group], s)
		width = max(width, min(len(synopsis(s)), maxColumn))
	}
	for _, g := range groups {
		heading := g
		if heading == "" {
			heading = "Options"
		}
		fmt.Fprintf(w, "\n%s:\n", heading)
		for _, s := range byGroup[g] {
			line := fmt.Sprintf("  %-*s  %s", width, synopsis(s), s.Help)
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
	}
}

// synopsis returns the option column of Usage for s: "-N, --name=NAME",
// "    --dedup[=MODE]", "-t, --preserve-time" or "-x VALUE".
func synopsis(s *Spec) string {
	value := s.ValueName
	if value == "" {
		value = "VALUE"
	}
	if s.Long == "" {
		if s.Arg == ArgRequired {
			return fmt.Sprintf("-%c %s", s.Short, value)
		}
		return fmt.Sprintf("-%c", s.Short)
	}
	b := "    "
	if s.Short != 0 {
		b = fmt.Sprintf("-%c, ", s.Short)
	}
	b += "--" + s.Long
	switch s.Arg {
	case ArgRequired:
		b += "=" + value
	case ArgOptional:
		b += "[=" + value + "]"
	}
	return b
}
