package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/async-sync/async/internal/watchd"
)

func TestWatchdOptionForms(t *testing.T) {
	def := filepath.Join(watchdDir(), watchd.SocketName)
	for _, c := range []struct {
		value, sock, warn string
		bad               bool
	}{
		{value: "", sock: def},
		{value: "unix:/run/w.sock", sock: "/run/w.sock"},
		{value: "datastore:localhost:6379", sock: def, warn: "names Aspera's watchd datastore"},
		{value: "ds:localhost:1", sock: def, warn: "async asks its own local service"},
		{value: "unix:", bad: true},
		{value: "redis", bad: true},
	} {
		sock, warn, err := watchdSocket("--watchd", c.value, stateDir())
		switch {
		case c.bad:
			if err == nil {
				t.Errorf("%q: no error", c.value)
			}
		case err != nil || sock != c.sock || !strings.Contains(warn, c.warn) || (c.warn == "") != (warn == ""):
			t.Errorf("%q: %q %q %v, want %q %q", c.value, sock, warn, err, c.sock, c.warn)
		}
	}
	for _, c := range []struct{ in, want []string }{
		{[]string{"--watchd", "-N", "x"}, []string{"--watchd", "-N", "x"}},
		{[]string{"--watchd", "datastore:h:1", "-N", "x"}, []string{"--watchd=datastore:h:1", "-N", "x"}},
		{[]string{"--watchd=unix:/s", "-N", "x"}, []string{"--watchd=unix:/s", "-N", "x"}},
		{[]string{"--", "--watchd", "a:b:c"}, []string{"--", "--watchd", "a:b:c"}},
	} {
		if got := watchdArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("watchdArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
