// Package filter is async's include/exclude engine (docs/reference.md §5.9): rules
// from -I, -E, --include-from and --exclude-from, tested in order against
// an entry's path from the sync root ("/Raw/a.cr2"); the first matching
// rule decides, and an entry no rule matches is included.
//
// Pattern syntax: "*" matches a run of characters other than "/" and never
// a leading "." of a name; "?" one such character; "**" anything, "/" and
// leading dots included; "[abc]", "[a-z]", "[!x]", "[^x]" and POSIX classes
// ("[[:digit:]]") one character, never "/" nor a leading dot; "\" makes the
// next character literal. A pattern ending in "/" matches directories only;
// one ending in "*" (or "/**") files and directories; any other files only.
// A leading "/" anchors a pattern at the root; otherwise it may match any
// tail of the path that starts at a name. "DIR/**" also matches DIR. An
// anchored include rule lets a scan pass through the directories on its
// literal path, without including them.
package filter

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule is one include or exclude rule.
type Rule struct {
	Include bool
	Pattern string
}

// String returns the rule as a command line would give it ("-E *.tmp").
func (r Rule) String() string {
	if r.Include {
		return "-I " + r.Pattern
	}
	return "-E " + r.Pattern
}

// Decision is what the rules say about an entry.
type Decision uint8

// Decisions.
const (
	Include  Decision = iota // synchronized
	Exclude                  // left out; an excluded directory is not descended into
	Traverse                 // a directory descended into but not itself synchronized
)

// Filter is a compiled list of rules. The zero Filter includes everything.
type Filter struct {
	rules []compiled
}

type compiled struct {
	Rule
	pat      string // without the anchoring "/" and the trailing "/"
	anchored bool
	dirs     bool // matches directories
	files    bool // matches files (and links)
	literal  []string
}

// New compiles rules, in order.
func New(rules []Rule) (*Filter, error) {
	f := &Filter{}
	for _, r := range rules {
		c, err := compile(r)
		if err != nil {
			return nil, err
		}
		f.rules = append(f.rules, c)
	}
	return f, nil
}

func compile(r Rule) (compiled, error) {
	p := r.Pattern
	if p == "" || p == "/" {
		return compiled{}, fmt.Errorf("empty filter pattern %q", r.Pattern)
	}
	c := compiled{Rule: r}
	switch {
	case strings.HasSuffix(p, "/") && !strings.HasSuffix(p, "\\/"):
		c.dirs, p = true, strings.TrimSuffix(p, "/")
	case strings.HasSuffix(p, "*") && !strings.HasSuffix(p, "\\*"):
		c.dirs, c.files = true, true
	default:
		c.files = true
	}
	if strings.HasPrefix(p, "/") {
		c.anchored, p = true, p[1:]
	}
	if err := checkSyntax(p); err != nil {
		return compiled{}, fmt.Errorf("filter pattern %q: %w", r.Pattern, err)
	}
	c.pat = p
	if c.anchored && r.Include {
		for _, comp := range strings.Split(p, "/") {
			if hasWildcard(comp) {
				break
			}
			c.literal = append(c.literal, unescape(comp))
		}
	}
	return c, nil
}

// checkSyntax refuses unterminated classes and a trailing backslash.
func checkSyntax(p string) error {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 >= len(p) {
				return fmt.Errorf("trailing backslash")
			}
			i++
		case '[':
			if _, _, ok := parseClass(p[i:]); !ok {
				return fmt.Errorf("unterminated character class")
			}
			_, n, _ := parseClass(p[i:])
			i += n - 1
		}
	}
	return nil
}

func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Rules returns the rules as given, for the snapshot's record.
func (f *Filter) Rules() []string {
	out := []string{}
	if f == nil {
		return out
	}
	for _, c := range f.rules {
		out = append(out, c.Rule.String())
	}
	return out
}

// Empty reports whether f has no rules.
func (f *Filter) Empty() bool { return f == nil || len(f.rules) == 0 }

// Decide applies the rules to the entry at p (core's path form, "a/b")
// of the given kind.
func (f *Filter) Decide(p string, isDir bool) Decision {
	if f == nil {
		return Include
	}
	for i := range f.rules {
		c := &f.rules[i]
		if (isDir && c.dirs || !isDir && c.files) && c.matches(p) {
			if c.Include {
				return Include
			}
			return Exclude
		}
		if isDir && c.Include && c.onLiteralPath(p) {
			return Traverse
		}
	}
	return Include
}

// onLiteralPath reports whether directory p is a proper ancestor within
// the literal part of an anchored include rule.
func (c *compiled) onLiteralPath(p string) bool {
	if len(c.literal) == 0 {
		return false
	}
	parts := strings.Split(p, "/")
	if len(parts) >= len(c.literal) && !(len(parts) == len(c.literal) && len(c.literal) < len(strings.Split(c.pat, "/"))) {
		return false
	}
	for i, part := range parts {
		if part != c.literal[i] {
			return false
		}
	}
	return true
}

// matches reports whether the rule's pattern matches path p.
func (c *compiled) matches(p string) bool {
	try := func(s string) bool {
		if match(c.pat, s, true) {
			return true
		}
		// DIR/** also matches DIR itself.
		if base, ok := strings.CutSuffix(c.pat, "/**"); ok && match(base, s, true) {
			return true
		}
		return false
	}
	if c.anchored {
		return try(p)
	}
	for s := p; ; {
		if try(s) {
			return true
		}
		i := strings.IndexByte(s, '/')
		if i < 0 {
			return false
		}
		s = s[i+1:]
	}
}

// match reports whether pattern p matches all of s. start tells whether s
// begins a name (where "*", "?" and classes do not match a dot).
func match(p, s string, start bool) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			if strings.HasPrefix(p, "**") {
				rest := strings.TrimLeft(p, "*")
				for i := 0; i <= len(s); i++ {
					if match(rest, s[i:], i == 0 && start || i > 0 && s[i-1] == '/') {
						return true
					}
				}
				return false
			}
			for i := 0; ; i++ {
				if match(p[1:], s[i:], i == 0 && start) {
					return true
				}
				if i == len(s) || s[i] == '/' || (i == 0 && start && s[0] == '.') {
					return false
				}
			}
		case '?':
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 || r == '/' || (start && r == '.') {
				return false
			}
			p, s, start = p[1:], s[n:], false
		case '[':
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 || r == '/' || (start && r == '.') {
				return false
			}
			cls, used, _ := parseClass(p)
			if !cls(r) {
				return false
			}
			p, s, start = p[used:], s[n:], false
		default:
			lit := p[0]
			used := 1
			if lit == '\\' && len(p) > 1 {
				lit, used = p[1], 2
			}
			if len(s) == 0 || s[0] != lit {
				return false
			}
			p, s, start = p[used:], s[1:], lit == '/'
		}
	}
	return len(s) == 0
}

// parseClass parses a bracket expression at the start of p. It returns the
// class, the bytes it used, and false when it is not terminated.
func parseClass(p string) (func(rune) bool, int, bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate, i = true, i+1
	}
	type span struct{ lo, hi rune }
	var spans []span
	var named []func(rune) bool
	first := true
	for {
		if i >= len(p) {
			return nil, 0, false
		}
		if p[i] == ']' && !first {
			i++
			break
		}
		first = false
		if strings.HasPrefix(p[i:], "[:") {
			end := strings.Index(p[i+2:], ":]")
			if end < 0 {
				return nil, 0, false
			}
			fn := posixClass(p[i+2 : i+2+end])
			if fn == nil {
				return nil, 0, false
			}
			named = append(named, fn)
			i += 2 + end + 2
			continue
		}
		if p[i] == '\\' && i+1 < len(p) {
			i++
		}
		lo, n := utf8.DecodeRuneInString(p[i:])
		i += n
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			i++
			if p[i] == '\\' && i+1 < len(p) {
				i++
			}
			hi, n = utf8.DecodeRuneInString(p[i:])
			i += n
		}
		spans = append(spans, span{lo, hi})
	}
	return func(r rune) bool {
		in := false
		for _, s := range spans {
			if s.lo <= r && r <= s.hi {
				in = true
			}
		}
		for _, fn := range named {
			if fn(r) {
				in = true
			}
		}
		return in != negate
	}, i, true
}

func posixClass(name string) func(rune) bool {
	switch name {
	case "alnum":
		return func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	case "alpha":
		return unicode.IsLetter
	case "digit":
		return func(r rune) bool { return '0' <= r && r <= '9' }
	case "lower":
		return unicode.IsLower
	case "upper":
		return unicode.IsUpper
	case "space":
		return unicode.IsSpace
	case "punct":
		return unicode.IsPunct
	case "xdigit":
		return func(r rune) bool { return strings.ContainsRune("0123456789abcdefABCDEF", r) }
	case "blank":
		return func(r rune) bool { return r == ' ' || r == '\t' }
	case "cntrl":
		return unicode.IsControl
	case "print":
		return unicode.IsPrint
	case "graph":
		return func(r rune) bool { return unicode.IsPrint(r) && r != ' ' }
	}
	return nil
}

// List returns the rules, in order.
func (f *Filter) List() []Rule {
	if f == nil {
		return nil
	}
	out := make([]Rule, len(f.rules))
	for i, c := range f.rules {
		out[i] = c.Rule
	}
	return out
}
