package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/async-sync/async/backends/ssh"
	"github.com/async-sync/async/internal/sshdtest"
)

// docrootServer prepares, on the test server, a docroot configured for
// the test user and an agent that reads that configuration: the
// environment that makes the client install and run it.
func docrootServer(t *testing.T, s *sshdtest.Server, extra string) (base, doc string, env []string) {
	t.Helper()
	base = s.TempDir(t)
	doc = filepath.Join(base, "doc")
	os.MkdirAll(filepath.Join(doc, "data"), 0o755)
	os.MkdirAll(filepath.Join(base, "outside"), 0o755)
	os.Symlink(filepath.Join(base, "outside"), filepath.Join(doc, "link"))
	conf := filepath.Join(base, "server.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[user %s]\ndocroot = %s\n%s", s.User, doc, extra)), 0o644)
	wrapper := filepath.Join(base, "agent.sh")
	os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" --config %s\n", asyncBin, conf)), 0o755)
	s.Chown(t, base)
	return base, doc, []string{envAgent + "=" + wrapper}
}

// TestSSHConfiguredDocroot: with a docroot configured for the user, "/"
// is the docroot, and every remote path that would leave it (-r, -B, -R,
// with or without --create-dir) is bad input: exit 2, nothing made.
func TestSSHConfiguredDocroot(t *testing.T) {
	s := testServer(t)
	base, doc, env := docrootServer(t, s, "")
	src := t.TempDir()
	writeTree(t, src, tree{"f": "x"})
	r := sshRun(t, t.TempDir(), env, append(keyArgs(s, "dr"), "-d", src, "-r", remote(s, "/data"))...)
	mustCode(t, r, 0)
	if _, err := os.Stat(filepath.Join(doc, "data", "f")); err != nil {
		t.Fatalf("-r /data is not DOCROOT/data: %v", err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"-r through a link out", []string{"-r", remote(s, "/link")}, "outside your docroot"},
		{"-r through a link out, created", []string{"-r", remote(s, "/link/sub"), "--create-dir"}, "outside your docroot"},
		{"-B with ..", []string{"-r", remote(s, "/data"), "-B", "/../db"}, "outside the docroot"},
		{"-B through a link out", []string{"-r", remote(s, "/data"), "-B", "/link/db"}, "outside the docroot"},
		{"-R through a link out", []string{"-r", remote(s, "/data"), "-R", "/link/logs"}, "option -R"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(keyArgs(s, "dx"), "-d", src)
			r := sshRun(t, t.TempDir(), env, append(args, c.args...)...)
			msg := strings.TrimSpace(r.stderr)
			t.Log(msg)
			if r.code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", r.code, msg, c.want)
			}
			if ents, _ := os.ReadDir(filepath.Join(base, "outside")); len(ents) != 0 {
				t.Errorf("something was made outside the docroot: %v", ents)
			}
		})
	}
}

// TestSSHPasswordInHostPath: scp's user:password@host:path is refused
// before any name lookup, and the password is not repeated.
func TestSSHPasswordInHostPath(t *testing.T) {
	src := t.TempDir()
	r := sshRun(t, t.TempDir(), nil, "-N", "pw", "-d", src, "-r", "morgan:hunter2secret@no-such-host.invalid:/data")
	msg := strings.TrimSpace(r.stderr)
	t.Log(msg)
	if r.code != 2 || !strings.Contains(msg, "option -r") || strings.Contains(msg, "hunter2secret") ||
		strings.Contains(msg, "lookup") || strings.Count(msg, "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want exit 2, one line naming -r without the password", r.code, msg)
	}
}

// TestSSHNoFallbackForAToken: plain SFTP cannot confine a -W session to
// its key's root, so an agent that cannot run is a failure (exit 1), not
// a fallback.
func TestSSHNoFallbackForAToken(t *testing.T) {
	s := testServer(t)
	src, dst := t.TempDir(), s.TempDir(t)
	writeTree(t, src, tree{"f": "x"})
	broken := filepath.Join(t.TempDir(), "not-an-agent")
	os.WriteFile(broken, []byte("#!/bin/sh\necho 'cannot run here' >&2\nexit 3\n"), 0o755)
	token := "Basic " + base64.StdEncoding.EncodeToString([]byte("AK:secret"))
	r := sshRun(t, t.TempDir(), []string{envAgent + "=" + broken, envToken + "=" + token},
		append(keyArgs(s, "tk"), "-d", src, "-r", remote(s, dst))...)
	t.Log(r.stderr)
	if r.code != 1 || !strings.Contains(r.stderr, "refusing to fall back") || strings.Contains(r.stderr, "secret") {
		t.Errorf("exit %d, stderr %q; want exit 1 refusing the fallback", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 0 {
		t.Errorf("the refused run wrote %v", ents)
	}
}

// TestFallbackAllowed reads the server's configuration over SFTP: a
// docroot for the user (or for every user) forbids the fallback, none or
// no file allows it.
func TestFallbackAllowed(t *testing.T) {
	s := testServer(t)
	conn, err := ssh.Dial(context.Background(), ssh.Options{Host: s.Host, Port: s.Port, User: s.User,
		KeyFiles: []string{s.KeyFile}, KnownHosts: []string{s.KnownHosts}, Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dir := s.TempDir(t)
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), mode)
		os.Chmod(p, mode)
		return p
	}
	for _, c := range []struct {
		name, conf string
		token, ok  bool
	}{
		{"no file", filepath.Join(dir, "missing.conf"), false, true},
		{"another user's docroot", write("other.conf", "[user someoneelse]\ndocroot = /srv\n", 0o644), false, true},
		{"the user's docroot", write("mine.conf", fmt.Sprintf("[user %s]\ndocroot = /srv\n", s.User), 0o644), false, false},
		{"every user's docroot", write("all.conf", "[user *]\ndocroot = /srv\n", 0o644), false, false},
		{"unreadable", write("secret.conf", "[user *]\ndocroot = /srv\n", 0o600), false, false},
		{"a token", filepath.Join(dir, "missing.conf"), true, false},
	} {
		err := fallbackAllowed(conn, s.User, c.conf, c.token)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want allowed %v", c.name, err, c.ok)
		}
	}
}

// TestSSHNoDocrootServerPaths: without a configured docroot, -r names the
// server's own paths, outside the home directory too, as scp and rsync
// do; a relative one is relative to home.
func TestSSHNoDocrootServerPaths(t *testing.T) {
	s := testServer(t)
	outside, err := os.MkdirTemp("", "async-srv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(outside)
	os.Chmod(outside, 0o755)
	s.Chown(t, outside)
	src := t.TempDir()
	writeTree(t, src, tree{"f": "x", "d/g": "y"})
	mustCode(t, sshRun(t, t.TempDir(), nil, append(keyArgs(s, "srv"), "-d", src, "-r", remote(s, outside+"/data"), "--create-dir")...), 0)
	equalTrees(t, readTree(t, filepath.Join(outside, "data")), readTree(t, src))
	rel := filepath.Base(s.TempDir(t))
	mustCode(t, sshRun(t, t.TempDir(), nil, append(keyArgs(s, "rel"), "-d", src, "-P", fmt.Sprint(s.Port),
		"-r", s.User+"@"+s.Host+":"+rel)...), 0)
	equalTrees(t, readTree(t, filepath.Join(s.Home, rel)), readTree(t, src))
}
