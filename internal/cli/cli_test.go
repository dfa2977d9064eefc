package cli

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var testSpecs = []Spec{
	{Short: 'N', Long: "name", Arg: ArgRequired, Group: "Session", ValueName: "NAME", Help: "session name"},
	{Short: 'd', Long: "local-dir", Arg: ArgRequired, Group: "Session", ValueName: "DIR"},
	{Short: 't', Long: "preserve-time", Group: "Content", Help: "keep times"},
	{Short: 'u', Long: "preserve-uid", Group: "Content"},
	{Short: 'j', Long: "preserve-gid", Group: "Content"},
	{Short: 'D', Long: "debug", Group: "Instance"},
	{Short: 'q', Long: "quiet", Group: "Instance"},
	{Long: "dedup", Arg: ArgOptional, ValueName: "MODE", Group: "Content"},
	{Short: 'k', Long: "support-resume", Arg: ArgOptional, ValueName: "MINSIZE", Group: "Content"},
	{Long: "dry-run", Group: "Instance"},
	{Short: 'I', Long: "include", Arg: ArgRequired},
	{Short: 'E', Long: "exclude", Arg: ArgRequired},
	{Short: 'x', Arg: ArgRequired, ValueName: "N"},
}

// render writes parsed options compactly: "[instance] {session} ...
// [positional]", each option as its long name (or short letter) with
// "=value" when it has one.
func render(p *Parsed) string {
	one := func(opts []Opt) string {
		var parts []string
		for _, o := range opts {
			s := o.Spec.Long
			if s == "" {
				s = string(o.Spec.Short)
			}
			if o.HasValue {
				s += "=" + o.Value
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	out := []string{"[" + one(p.Instance) + "]"}
	for _, s := range p.Sessions {
		out = append(out, "{"+one(s)+"}")
	}
	if len(p.Positional) > 0 {
		out = append(out, fmt.Sprintf("%q", p.Positional))
	}
	return strings.Join(out, " ")
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		err  string
	}{
		// Required values, every form.
		{args: []string{"-N", "job1"}, want: "[] {name=job1}"},
		{args: []string{"-Njob1"}, want: "[] {name=job1}"},
		{args: []string{"--name=job1"}, want: "[] {name=job1}"},
		{args: []string{"--name", "job1"}, want: "[] {name=job1}"},
		{args: []string{"--name=a=b"}, want: "[] {name=a=b}"},
		{args: []string{"--name="}, want: "[] {name=}"},
		{args: []string{"--name", ""}, want: "[] {name=}"},
		{args: []string{"-N", ""}, want: "[] {name=}"},
		{args: []string{"-N", "-d"}, want: "[] {name=-d}"},
		{args: []string{"--name", "--"}, want: "[] {name=--}"},
		{args: []string{"-x", "5"}, want: "[x=5]"},
		{args: []string{"-x5"}, want: "[x=5]"},

		// Bundles.
		{args: []string{"-tuj"}, want: "[preserve-time preserve-uid preserve-gid]"},
		{args: []string{"-DD"}, want: "[debug debug]"},
		{args: []string{"-DD", "-N", "a", "-tu"}, want: "[debug debug] {name=a preserve-time preserve-uid}"},
		{args: []string{"-tN", "job1"}, want: "[preserve-time] {name=job1}"},
		{args: []string{"-tNjob1"}, want: "[preserve-time] {name=job1}"},
		{args: []string{"-tNjob1", "-u"}, want: "[preserve-time] {name=job1 preserve-uid}"},
		{args: []string{"-Ntu"}, want: "[] {name=tu}"},
		{args: []string{"-tQ"}, err: `unknown option "-Q"`},
		{args: []string{"-tN"}, err: "option --name (-N) needs a value"},

		// Optional values: only --opt=value.
		{args: []string{"--dedup", "-N", "a"}, want: "[dedup] {name=a}"},
		{args: []string{"--dedup=inode"}, want: "[dedup=inode]"},
		{args: []string{"--dedup="}, want: "[dedup=]"},
		{args: []string{"--dedup", "inode"}, want: `[dedup] ["inode"]`},
		{args: []string{"-k", "100"}, want: `[support-resume] ["100"]`},
		{args: []string{"-kt"}, want: "[support-resume preserve-time]"},
		{args: []string{"--support-resume=1m"}, want: "[support-resume=1m]"},

		// Booleans.
		{args: []string{"--quiet", "--dry-run"}, want: "[quiet dry-run]"},
		{args: []string{"--quiet=yes"}, err: "option --quiet takes no value"},
		{args: []string{"--dry-run="}, err: "option --dry-run takes no value"},

		// Positional arguments and "--".
		{args: []string{"pos", "-q", "--", "-N", "x"}, want: `[quiet] ["pos" "-N" "x"]`},
		{args: []string{"a", "-q", "b"}, want: `[quiet] ["a" "b"]`},
		{args: []string{"-"}, want: `[] ["-"]`},
		{args: []string{"--"}, want: "[]"},
		{args: []string{}, want: "[]"},

		// Sessions.
		{args: []string{"-N", "a", "-d", "x", "-N", "b", "-d", "y"}, want: "[] {name=a local-dir=x} {name=b local-dir=y}"},
		{args: []string{"-q", "-N", "a", "-D"}, want: "[quiet] {name=a debug}"},
		{args: []string{"-D", "--name", "a", "--name=b", "-Nc", "-t"}, want: "[debug] {name=a} {name=b} {name=c preserve-time}"},

		// Errors.
		{args: []string{"--frob"}, err: `unknown option "--frob"`},
		{args: []string{"--frob=1"}, err: `unknown option "--frob"`},
		{args: []string{"--nam=x"}, err: `unknown option "--nam"`},
		{args: []string{"--name-x"}, err: `unknown option "--name-x"`},
		{args: []string{"--=x"}, err: `unknown option "--=x"`},
		{args: []string{"-Q"}, err: `unknown option "-Q"`},
		{args: []string{"-N"}, err: "option --name (-N) needs a value"},
		{args: []string{"--name"}, err: "option --name (-N) needs a value"},
		{args: []string{"-N", "a", "-d"}, err: "option --local-dir (-d) needs a value"},
		{args: []string{"-x"}, err: "option -x needs a value"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			p, err := Parse(testSpecs, tc.args, "name")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(p); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseWithoutSessions(t *testing.T) {
	p, err := Parse(testSpecs, []string{"-N", "a", "-t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(p), "[name=a preserve-time]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name         string
		specs        []Spec
		sessionStart string
		err          string
	}{
		{"short twice", []Spec{{Short: 'a', Long: "one"}, {Short: 'a', Long: "two"}}, "", "option -a defined twice"},
		{"long twice", []Spec{{Long: "one"}, {Short: 'b', Long: "one"}}, "", "option --one defined twice"},
		{"nameless", []Spec{{Long: "one"}, {Help: "?"}}, "", "option 2 of 2 has no name"},
		{"no session option", []Spec{{Long: "one"}}, "name", "session option --name is not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.specs, nil, tc.sessionStart); err == nil || err.Error() != tc.err {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestOptFields(t *testing.T) {
	p, err := Parse(testSpecs, []string{"-q", "-N", "a", "-E", "x", "--include=y", "-tEz", "--dedup", "--exclude", ""}, "name")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, opts := range append([][]Opt{p.Instance}, p.Sessions...) {
		for _, o := range opts {
			if o.Spec != &testSpecs[slices.IndexFunc(testSpecs, func(s Spec) bool { return s.Long == o.Spec.Long })] {
				t.Errorf("%s: Spec does not point into the specs", o.As)
			}
			got = append(got, fmt.Sprintf("%d %s %t %q", o.Index, o.As, o.HasValue, o.Value))
		}
	}
	want := []string{
		`0 -q false ""`,
		`1 -N true "a"`,
		`2 -E true "x"`,
		`3 --include true "y"`,
		`4 -t false ""`,
		`5 -E true "z"`,
		`6 --dedup false ""`,
		`7 --exclude true ""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDisplay(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Short: 'N', Long: "name"}, "--name (-N)"},
		{Spec{Long: "dry-run"}, "--dry-run"},
		{Spec{Short: 'x'}, "-x"},
	} {
		if got := tc.spec.Display(); got != tc.want {
			t.Errorf("Display() = %q, want %q", got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	var b bytes.Buffer
	Usage(&b, testSpecs)
	out := b.String()
	for _, want := range []string{
		"\nSession:\n",
		"\nContent:\n",
		"\nInstance:\n",
		"\nOptions:\n",
		// The column is as wide as the widest option, --support-resume.
		"  -N, --name=NAME" + strings.Repeat(" ", 17) + "session name\n",
		"  -d, --local-dir=DIR\n",
		"  -t, --preserve-time" + strings.Repeat(" ", 13) + "keep times\n",
		"      --dedup[=MODE]\n",
		"  -k, --support-resume[=MINSIZE]\n",
		"      --dry-run\n",
		"  -I, --include=VALUE\n",
		"  -x N\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	var order []int
	for _, g := range []string{"Session:", "Content:", "Instance:", "Options:"} {
		order = append(order, strings.Index(out, g))
	}
	if !slices.IsSorted(order) {
		t.Errorf("groups out of order:\n%s", out)
	}
	if strings.Count(out, "Content:") != 1 {
		t.Errorf("a group listed twice:\n%s", out)
	}
}
