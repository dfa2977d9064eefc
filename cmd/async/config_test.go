package main

import (
	"fmt"
	"io/fs"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/cli"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "4h", want: now.Add(-4 * time.Hour)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "1w0d0h0m0s", want: now.Add(-7 * 24 * time.Hour)},
		{in: "2d12h", want: now.Add(-60 * time.Hour)},
		{in: "300", want: now.Add(-300 * time.Second)},
		{in: "2026-01-31T00:00:00Z", want: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)},
		{in: "yesterday", bad: true},
		{in: "1x", bad: true},
		{in: "-4h", bad: true},
		{in: "", bad: true},
	} {
		got, err := parseTime(tc.in, now)
		if (err != nil) != tc.bad || (!tc.bad && !got.Equal(tc.want)) {
			t.Errorf("parseTime(%q) = %v, %v; want %v (bad=%v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestOneOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v       string
		choices []string
		want    string
	}{
		{v: "zlib", choices: []string{"none", "zlib", "zstd"}},
		{v: "lz4", choices: []string{"none", "zlib", "zstd"}, want: `option --compression: unknown compression "lz4" (want none, zlib or zstd)`},
		{v: "Zlib", choices: []string{"none", "zlib", "zstd"}, want: `option --compression: unknown compression "Zlib" (want none, zlib or zstd)`},
		{v: "", choices: []string{"a", "b"}, want: `option --compression: unknown compression "" (want a or b)`},
		{v: "xml", choices: []string{"json"}, want: `option --compression: unknown compression "xml" (want json)`},
	} {
		got, err := oneOf("--compression", "compression", tc.v, tc.choices...)
		if tc.want == "" {
			if err != nil || got != tc.v {
				t.Errorf("oneOf(%q) = %q, %v; want it back", tc.v, got, err)
			}
			continue
		}
		if !isUsage(err) || err.Error() != tc.want {
			t.Errorf("oneOf(%q) = %q, %v; want the usage error %q", tc.v, got, err, tc.want)
		}
	}
}

// TestExitCodeOfErrors: the command's one error type carries its exit
// code; the engine's configuration errors are usage errors; anything else
// is a failure. Wrapping keeps the code and the message.
func TestExitCodeOfErrors(t *testing.T) {
	usage := usagef("option %s: bad value %q", "-K", "sideways")
	for _, c := range []struct {
		err  error
		code int
		msg  string
	}{
		{nil, exitOK, ""},
		{usage, exitUsage, `option -K: bad value "sideways"`},
		{fmt.Errorf("session s: %w", usage), exitUsage, `session s: option -K: bad value "sideways"`},
		{&core.ConfigError{Err: fmt.Errorf("run with --reset")}, exitUsage, "run with --reset"},
		{&fatal{exitFailed, fmt.Errorf("session s is running")}, exitFailed, "session s is running"},
		{fmt.Errorf("scan: %w", fs.ErrPermission), exitFailed, "scan: permission denied"},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
		if c.err != nil && c.err.Error() != c.msg {
			t.Errorf("message %q, want %q", c.err, c.msg)
		}
		if isUsage(c.err) != (c.code == exitUsage) {
			t.Errorf("isUsage(%v) = %v", c.err, isUsage(c.err))
		}
	}
}

// TestOptionTable: every row of the option table says where it applies
// and how it is stored: a supported option has exactly one setter, of its
// scope (instance options in the instance group, before -N); a warned or
// refused one has none, as it never gets that far.
func TestOptionTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, o := range options() {
		if o.Long == "" || seen[o.Long] {
			t.Errorf("option -%c: no long name, or given twice", o.Short)
		}
		seen[o.Long] = true
		setters := 0
		if o.setIn != nil {
			setters++
		}
		if o.setS != nil {
			setters++
		}
		switch {
		case o.support != supported && setters != 0:
			t.Errorf("--%s is warned or refused but has a setter", o.Long)
		case o.support == supported && setters != 1:
			t.Errorf("--%s has %d setters, want 1", o.Long, setters)
		case o.support == supported && (o.Group == gInstance) != (o.setIn != nil):
			t.Errorf("--%s: group %q does not match its scope", o.Long, o.Group)
		case o.support == supported && o.Group != gInstance && o.scope == forInstance:
			t.Errorf("--%s: a session option with the instance scope", o.Long)
		}
	}
}

// parseSession parses args (options after -N) into an instance and a
// session with the table's setters, without the cross-option checks.
func parseSession(t *testing.T, args ...string) (*instance, *session) {
	t.Helper()
	byLong := map[string]option{}
	var specs []cli.Spec
	for _, o := range options() {
		byLong[o.Long] = o
		specs = append(specs, o.Spec)
	}
	p, err := cli.Parse(specs, args, "name")
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	in, s := newInstance(), newSession(new(bool))
	for _, op := range p.Instance {
		if err := byLong[op.Spec.Long].apply(in, nil, op); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
	}
	for _, opts := range p.Sessions {
		for _, op := range opts {
			if err := byLong[op.Spec.Long].apply(in, s, op); err != nil {
				t.Fatalf("%q: %v", args, err)
			}
		}
	}
	s.warnings = nil // the setters' own warnings; Validate's are looked at
	return in, s
}

// TestValidate: the checks that involve more than one option, each with
// its message or warning.
func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		err  string // the usage error, "" none
		warn string // a warning Validate adds
	}{
		{name: "complete", args: []string{"-N", "s", "-d", "/a", "-r", "/b"}},
		{name: "no -d", args: []string{"-N", "s", "-r", "/b"}, err: "session s: missing -d/--local-dir"},
		{name: "no -r", args: []string{"-N", "s", "-d", "/a"}, err: "session s: missing -r/--remote-dir"},
		{name: "--host stands for -r", args: []string{"-N", "s", "-d", "/a", "--host", "h"}},
		{name: "-C with --dry-run", args: []string{"--dry-run", "-N", "s", "-d", "/a", "-r", "/b", "-C"},
			err: "session s: --dry-run shows one plan; it cannot be combined with -C"},
		{name: "dedup needs a full checksum", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "--dedup"},
			err: "session s: --dedup=hardlink needs a full checksum (-k sha1, md5 or sha256)"},
		{name: "dedup copy needs a full checksum", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "--dedup=copy", "-k", "sha1_sparse"},
			err: "session s: --dedup=copy needs a full checksum (-k sha1, md5 or sha256)"},
		{name: "dedup with sha1", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "--dedup", "-k", "sha1"}},
		{name: "-m above -l", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "-l", "1m", "-m", "2m"},
			err: "session s: -m 2000000 bit/s is above -l 1000000 bit/s"},
		{name: "-m without -l", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "-m", "2m"},
			warn: "warning: option -m applies with -l (a target rate); ignored"},
		{name: "remove after transfer in bidi", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "-K", "bidi", "--remove-after-transfer"},
			err: "session s: --remove-after-transfer cannot be used with -K bidi"},
		{name: "SSH option, local -r", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "--compression", "zstd"},
			warn: "warning: option --compression applies to SSH endpoints and -r is not one; ignored"},
		{name: "SSH option, SSH -r", args: []string{"-N", "s", "-d", "/a", "-r", "h:/b", "--compression", "zstd"}},
		{name: "SSH option, sftp:// -r", args: []string{"-N", "s", "-d", "/a", "-r", "sftp://h/b", "-P", "2222"}},
		{name: "SSH option, --host", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "--host", "h", "-P", "2222"}},
		{name: "SSH option, bucket -r", args: []string{"-N", "s", "-d", "/a", "-r", "s3://b/p", "--data-path", "tcp"},
			warn: "warning: option --data-path applies to SSH endpoints and -r is not one; ignored"},
		{name: "SSH option, file:// -r", args: []string{"-N", "s", "-d", "/a", "-r", "file:///b", "-P", "2222"},
			warn: "warning: option -P applies to SSH endpoints and -r is not one; ignored"},
		{name: "-R, local -r: refused later", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "-R", "/logs"}},
		{name: "bad filter", args: []string{"-N", "s", "-d", "/a", "-r", "/b", "-E", "a[b"}, err: "session s: "},
	} {
		in, s := parseSession(t, tc.args...)
		err := s.Validate(in, newRegistry())
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (!isUsage(err) || !strings.HasPrefix(err.Error(), tc.err)):
			t.Errorf("%s: err = %v, want the usage error %q", tc.name, err, tc.err)
		case tc.warn != "" && !slices.Contains(s.warnings, tc.warn):
			t.Errorf("%s: warnings %q, want %q", tc.name, s.warnings, tc.warn)
		case tc.warn == "" && len(s.warnings) > 0:
			t.Errorf("%s: unexpected warnings %q", tc.name, s.warnings)
		}
	}
}

// TestInstanceValidate: --events reports a run, which --dry-run does not
// make.
func TestInstanceValidate(t *testing.T) {
	t.Parallel()
	in, _ := parseSession(t, "--events", "json", "--dry-run")
	if err := in.Validate(); err == nil || !strings.Contains(err.Error(), "--events reports a run") {
		t.Errorf("--events with --dry-run: %v", err)
	}
	in, _ = parseSession(t, "--events", "json")
	if err := in.Validate(); err != nil {
		t.Errorf("--events: %v", err)
	}
}

// TestLookupID: numbers stand for themselves; names resolve through the
// user database, and through getent (the system's name services) when the
// files alone do not have them.
func TestLookupID(t *testing.T) {
	for _, tc := range []struct {
		v     string
		group bool
		want  int
		ok    bool
	}{
		{"0", false, 0, true},
		{"1234", true, 1234, true},
		{"root", false, 0, true},
		{"root", true, 0, true},
		{"no-such-user-async", false, 0, false},
		{"no-such-group-async", true, 0, false},
		{"-1", false, 0, false},
	} {
		got, err := lookupID(tc.v, tc.group)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("lookupID(%q, group %v) = %d, %v; want %d, ok %v", tc.v, tc.group, got, err, tc.want, tc.ok)
		}
	}
	if _, err := exec.LookPath("getent"); err != nil {
		t.Skip("no getent here")
	}
	for _, tc := range []struct{ db, name, want string }{
		{"passwd", "root", "0"}, {"group", "root", "0"},
		{"passwd", "no-such-user-async", ""}, {"passwd", "-s", ""}, {"passwd", "", ""},
	} {
		if got := getentID(tc.db, tc.name); got != tc.want {
			t.Errorf("getentID(%s, %q) = %q, want %q", tc.db, tc.name, got, tc.want)
		}
	}
}
