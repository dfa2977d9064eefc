package testnet

import (
	"fmt"
	"runtime"
	"testing"
)

// fakeT records how a test ended; Skip and Fatal end it as testing's do.
type fakeT struct{ ended string }

func (f *fakeT) Helper()                   {}
func (f *fakeT) Cleanup(func())            {}
func (f *fakeT) Fatal(args ...any)         { f.ended = "fail: " + fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeT) Fatalf(s string, a ...any) { f.Fatal(fmt.Sprintf(s, a...)) }

type skipT struct{ fakeT }

func (f *skipT) Skip(args ...any) { f.ended = "skip: " + fmt.Sprint(args...); runtime.Goexit() }

// run calls fn in a goroutine of its own, as testing runs a test.
func run(fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	<-done
}

func TestMissingSkipsOutsideCIAndFailsInCI(t *testing.T) {
	for _, c := range []struct {
		ci      string
		canSkip bool
		want    string
	}{
		{"", true, "skip: no sshd"},
		{"false", true, "skip: no sshd"},
		{"true", true, "fail: no sshd (CI=true: every test must run)"},
		{"1", true, "fail: no sshd (CI=true: every test must run)"},
		{"", false, "fail: no sshd"}, // a benchmark program cannot skip
	} {
		t.Setenv("CI", c.ci)
		var got string
		if c.canSkip {
			f := &skipT{}
			run(func() { Missing(f, "no sshd") })
			got = f.ended
		} else {
			f := &fakeT{}
			run(func() { Missing(f, "no sshd") })
			got = f.ended
		}
		if got != c.want {
			t.Errorf("CI=%q skip=%v: %q, want %q", c.ci, c.canSkip, got, c.want)
		}
	}
}
