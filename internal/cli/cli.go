// Package cli tokenizes async's command line: short and long options with
// the exact syntax of IBM Aspera's async (-x value, -xvalue, bundled
// boolean flags, --opt=value, --opt value), sessions started by a given
// option, and positional arguments. It knows nothing of what options mean.
package cli

import (
	"fmt"
	"io"
	"strings"
)

// Arg says whether an option takes a value.
type Arg int

// Value kinds.
const (
	ArgNone     Arg = iota // a flag
	ArgRequired            // -x value, -xvalue, --opt=value, --opt value
	ArgOptional            // only --opt=value gives it a value
)

// Spec describes one option.
type Spec struct {
	Short     rune   // 0 when there is none
	Long      string // without dashes
	Arg       Arg
	Help      string // one line, for -h
	Group     string // heading for -h
	ValueName string // shown in help, e.g. "NAME"
}

// Display returns how messages name the option: "--name (-N)" or "--dry-run".
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
	Spec     *Spec
	Value    string // "" when none
	HasValue bool
	As       string // as typed: "-N" or "--name"
	Index    int    // position among all options parsed
}

// Parsed is a tokenized command line.
type Parsed struct {
	Instance   []Opt   // options before the first session-starting option
	Sessions   [][]Opt // each starts with the session-starting option itself
	Positional []string
}

// Parse tokenizes args (without the program name). sessionStart is the long
// name of the option that starts a session ("" for none).
func Parse(specs []Spec, args []string, sessionStart string) (*Parsed, error) {
	short := map[rune]*Spec{}
	long := map[string]*Spec{}
	for i := range specs {
		s := &specs[i]
		if s.Short != 0 {
			short[s.Short] = s
		}
		if s.Long != "" {
			long[s.Long] = s
		}
	}
	p := &Parsed{}
	index := 0
	add := func(o Opt) {
		o.Index = index
		index++
		if sessionStart != "" && o.Spec.Long == sessionStart {
			p.Sessions = append(p.Sessions, []Opt{o})
			return
		}
		if n := len(p.Sessions); n > 0 {
			p.Sessions[n-1] = append(p.Sessions[n-1], o)
			return
		}
		p.Instance = append(p.Instance, o)
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
				return nil, fmt.Errorf("unknown option %q", "--"+name)
			}
			o := Opt{Spec: s, As: "--" + name}
			switch s.Arg {
			case ArgNone:
				if hasVal {
					return nil, fmt.Errorf("option --%s takes no value", name)
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
			rs := []rune(a[1:])
			for j := 0; j < len(rs); j++ {
				s := short[rs[j]]
				if s == nil {
					return nil, fmt.Errorf("unknown option %q", "-"+string(rs[j]))
				}
				o := Opt{Spec: s, As: "-" + string(rs[j])}
				if s.Arg == ArgRequired {
					if rest := string(rs[j+1:]); rest != "" {
						o.Value = rest
					} else if i+1 < len(args) {
						i++
						o.Value = args[i]
					} else {
						return nil, fmt.Errorf("option %s needs a value", s.Display())
					}
					o.HasValue = true
					add(o)
					break
				}
				add(o)
			}
		default:
			p.Positional = append(p.Positional, a)
		}
	}
	return p, nil
}

// Usage writes the options grouped by Spec.Group, groups in the order they
// first appear.
func Usage(w io.Writer, specs []Spec) {
	var groups []string
	byGroup := map[string][]*Spec{}
	for i := range specs {
		s := &specs[i]
		if _, ok := byGroup[s.Group]; !ok {
			groups = append(groups, s.Group)
		}
		byGroup[s.Group] = append(byGroup[s.Group], s)
	}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, s := range byGroup[g] {
			left := "    "
			if s.Short != 0 {
				left = fmt.Sprintf("-%c, ", s.Short)
			}
			if s.Long != "" {
				left += "--" + s.Long
			}
			switch s.Arg {
			case ArgRequired:
				left += "=" + s.ValueName
			case ArgOptional:
				left += "[=" + s.ValueName + "]"
			}
			fmt.Fprintf(w, "  %-38s %s\n", left, s.Help)
		}
	}
}
