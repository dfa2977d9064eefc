package filter

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Opener opens a rule file by name ("-" is standard input).
type Opener func(name string) (io.ReadCloser, error)

// ReadFile reads the rules of a rule file (--include-from when include,
// --exclude-from otherwise). One rule per line; surrounding whitespace
// (unless escaped with "\"), empty lines and lines starting with "#" are
// skipped. A plain line takes the file's default action; "+ PAT" includes,
// "- PAT" excludes, ". FILE" reads FILE (whose lines must each start with
// "+" or "-"), ".+ FILE" and ".- FILE" read FILE as --include-from and
// --exclude-from would. A FILE named inside a rule file is relative to
// that file's directory.
func ReadFile(name string, include bool, open Opener) ([]Rule, error) {
	return readFile(name, &include, open, 0)
}

// readFile reads one rule file; def is the default action, nil when every
// line must say "+" or "-".
func readFile(name string, def *bool, open Opener, depth int) ([]Rule, error) {
	if depth > 20 {
		return nil, fmt.Errorf("rule file %s: nested too deeply", name)
	}
	rc, err := open(name)
	if err != nil {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	defer rc.Close()
	var out []Rule
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := trim(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, line)
		op, arg, hasArg := strings.Cut(text, " ")
		arg = trim(arg)
		switch {
		case hasArg && (op == "+" || op == "-"):
			out = append(out, Rule{Include: op == "+", Pattern: arg})
		case hasArg && (op == "." || op == ".+" || op == ".-"):
			var d *bool
			if op != "." {
				v := op == ".+"
				d = &v
			}
			sub := arg
			if sub != "-" && !filepath.IsAbs(sub) && name != "-" {
				sub = filepath.Join(filepath.Dir(name), sub)
			}
			rs, err := readFile(sub, d, open, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			out = append(out, rs...)
		case def == nil:
			return nil, fmt.Errorf("%s: %q: every line of a file read with \".\" starts with + or -", where, text)
		default:
			out = append(out, Rule{Include: *def, Pattern: text})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rule file %s: %w", name, err)
	}
	return out, nil
}

// trim removes surrounding whitespace, keeping a trailing space escaped
// with a backslash.
func trim(s string) string {
	s = strings.TrimLeft(s, " \t")
	t := strings.TrimRight(s, " \t\r")
	if strings.HasSuffix(t, "\\") && len(t) < len(s) {
		return t[:len(t)-1] + " "
	}
	return t
}
