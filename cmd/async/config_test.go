package main

import (
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/async-sync/async/core"
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
