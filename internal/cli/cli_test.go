package cli

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var testSpecs = []Spec{
	{Short: 'N', Long: "name", Arg: ArgRequired, Group: "Session", ValueName: "NAME"},
	{Short: 'd', Long: "local-dir", Arg: ArgRequired, Group: "Session"},
	{Short: 't', Long: "preserve-time", Group: "Content"},
	{Short: 'u', Long: "preserve-uid", Group: "Content"},
	{Short: 'D', Long: "debug", Group: "Instance"},
	{Short: 'q', Long: "quiet", Group: "Instance"},
	{Long: "dedup", Arg: ArgOptional, ValueName: "MODE", Group: "Content"},
	{Short: 'I', Long: "include", Arg: ArgRequired},
	{Short: 'E', Long: "exclude", Arg: ArgRequired},
}

// render writes parsed options compactly: "N=job" or "t".
func render(p *Parsed) string {
	one := func(opts []Opt) string {
		var parts []string
		for _, o := range opts {
			s := o.Spec.Long
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
		{args: []string{"-N", "job1"}, want: "[] {name=job1}"},
		{args: []string{"-Njob1"}, want: "[] {name=job1}"},
		{args: []string{"--name=job1"}, want: "[] {name=job1}"},
		{args: []string{"--name", "job1"}, want: "[] {name=job1}"},
		{args: []string{"--name="}, want: "[] {name=}"},
		{args: []string{"-N", ""}, want: "[] {name=}"},
		{args: []string{"-tuj"}, err: `unknown option "-j"`},
		{args: []string{"-DD", "-N", "a", "-tu"}, want: "[debug debug] {name=a preserve-time preserve-uid}"},
		{args: []string{"-tN", "job1"}, want: "[preserve-time] {name=job1}"},
		{args: []string{"-tNjob1"}, want: "[preserve-time] {name=job1}"},
		{args: []string{"-N", "a", "-d", "x", "-N", "b", "-d", "y"}, want: "[] {name=a local-dir=x} {name=b local-dir=y}"},
		{args: []string{"-q", "-N", "a", "-D"}, want: "[quiet] {name=a debug}"},
		{args: []string{"--dedup", "-N", "a"}, want: "[dedup] {name=a}"},
		{args: []string{"--dedup=inode"}, want: "[dedup=inode]"},
		{args: []string{"pos", "-q", "--", "-N", "x"}, want: `[quiet] ["pos" "-N" "x"]`},
		{args: []string{"-"}, want: `[] ["-"]`},
		{args: []string{"--frob"}, err: `unknown option "--frob"`},
		{args: []string{"--nam=x"}, err: `unknown option "--nam"`},
		{args: []string{"-N"}, err: "option --name (-N) needs a value"},
		{args: []string{"--name"}, err: "option --name (-N) needs a value"},
		{args: []string{"--quiet=yes"}, err: "option --quiet takes no value"},
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

func TestIndexKeepsOrderAcrossFlags(t *testing.T) {
	p, err := Parse(testSpecs, []string{"-N", "a", "-E", "x", "--include=y", "-Ez"}, "name")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range p.Sessions[0] {
		got = append(got, fmt.Sprintf("%d:%s", o.Index, o.As+o.Value))
	}
	want := []string{"0:-Na", "1:-Ex", "2:--includey", "3:-Ez"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestUsage(t *testing.T) {
	var b bytes.Buffer
	Usage(&b, testSpecs)
	out := b.String()
	for _, want := range []string{"Session:", "Content:", "-N, --name=NAME", "--dedup[=MODE]"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Session:") > strings.Index(out, "Content:") {
		t.Errorf("groups out of order:\n%s", out)
	}
}
