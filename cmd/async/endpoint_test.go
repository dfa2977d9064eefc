package main

import (
	"strings"
	"testing"
)

func TestParseSSHEndpoints(t *testing.T) {
	t.Parallel()
	def := sshDefaults{port: 22, user: "me"}
	tests := []struct {
		raw, user, host string
		def             sshDefaults
		want            endpoint
		url             string
	}{
		{"morgan@10.0.0.1:/data", "", "", def, endpoint{scheme: "ssh", user: "morgan", host: "10.0.0.1", port: 22, path: "/data"}, "ssh://morgan@10.0.0.1:22/data"},
		{"10.0.0.1:/data", "morgan", "", def, endpoint{scheme: "ssh", user: "morgan", host: "10.0.0.1", port: 22, path: "/data"}, ""},
		{"/data", "morgan", "10.0.0.1", def, endpoint{scheme: "ssh", user: "morgan", host: "10.0.0.1", port: 22, path: "/data"}, ""},
		{"/a:b", "", "h", def, endpoint{scheme: "ssh", user: "me", host: "h", port: 22, path: "/a:b"}, ""},
		{"h:/x@y", "u", "", def, endpoint{scheme: "ssh", user: "u", host: "h", port: 22, path: "/x@y"}, ""},
		{"u@[::1]:/d", "", "", def, endpoint{scheme: "ssh", user: "u", host: "::1", port: 22, path: "/d"}, "ssh://u@[::1]:22/d"},
		{"h:rel/dir", "", "", def, endpoint{scheme: "ssh", user: "me", host: "h", port: 22, path: "rel/dir"}, "ssh://me@h:22/~/rel/dir"},
		{"h:", "", "", def, endpoint{scheme: "ssh", user: "me", host: "h", port: 22, path: "~"}, ""},
		{"ssh://u@h:2222/abs/p", "", "", def, endpoint{scheme: "ssh", user: "u", host: "h", port: 2222, path: "/abs/p"}, "ssh://u@h:2222/abs/p"},
		{"ssh://h/~/dst", "", "", sshDefaults{port: 2200, user: "me"}, endpoint{scheme: "ssh", user: "me", host: "h", port: 2200, path: "~/dst"}, "ssh://me@h:2200/~/dst"},
		{"sftp://u@h/p", "", "", def, endpoint{scheme: "ssh", user: "u", host: "h", port: 22, path: "/p", sftp: true}, "sftp://u@h:22/p"},
		{"h:/x@y/z:w", "", "", def, endpoint{scheme: "ssh", user: "me", host: "h", port: 22, path: "/x@y/z:w"}, ""},
		{"u@h:/x@y:z", "", "", def, endpoint{scheme: "ssh", user: "u", host: "h", port: 22, path: "/x@y:z"}, ""},
		{"[::1]:/x@y:z", "", "", def, endpoint{scheme: "ssh", user: "me", host: "::1", port: 22, path: "/x@y:z"}, ""},
		{"h:/p", "", "", sshDefaults{port: 22, user: "me", sftp: true}, endpoint{scheme: "ssh", user: "me", host: "h", port: 22, path: "/p", sftp: true}, ""},
	}
	schemes := newRegistry()
	for _, tc := range tests {
		got, err := schemes.parse("-r", tc.raw, tc.user, tc.host, tc.def)
		if err != nil {
			t.Errorf("%q: %v", tc.raw, err)
			continue
		}
		if got.kind != schemes.ssh {
			t.Errorf("%q: not of the SSH scheme", tc.raw)
		}
		tc.want.kind = got.kind
		if got != tc.want {
			t.Errorf("%q (--user %q --host %q) = %+v, want %+v", tc.raw, tc.user, tc.host, got, tc.want)
		}
		if tc.url != "" && got.URL() != tc.url {
			t.Errorf("%q: URL %s, want %s", tc.raw, got.URL(), tc.url)
		}
	}
}

func TestParseSSHEndpointErrors(t *testing.T) {
	t.Parallel()
	def := sshDefaults{port: 22, user: "me"}
	for _, tc := range []struct{ raw, user, host string }{
		{"ssh://u:secret@h/p", "", ""}, // password in a URL
		{"ssh://u@h:99999/p", "", ""},  // port
		{"ssh://u@h/p", "u", ""},       // --user with a URL
		{"ssh://u@h/p?x=1", "", ""},    // query
		{"h:../etc", "", ""},           // ..
		{"h:/a/../../etc", "", ""},     // ..
		{"u@[::1/d", "", ""},           // malformed address
		{"@h:/p", "", ""},              // empty user
		{"ssh:///p", "", ""},           // no host
		{"u:secret@h:/p", "", ""},      // scp's user:password@host:path
		{"u:s:e@cret@h:p", "", ""},     // the same, with ':' and '@' in the password
		{"u:se/cr@et@[::1]:/p", "", ""},
	} {
		_, err := newRegistry().parse("-r", tc.raw, tc.user, tc.host, def)
		if !isUsage(err) {
			t.Errorf("%q: err = %v, want a usage error", tc.raw, err)
		}
	}
}

// TestPasswordFormNotEchoed: the refusal of user:password@host:path names
// the option but never the password.
func TestPasswordFormNotEchoed(t *testing.T) {
	_, err := newRegistry().parse("-r", "morgan:hunter2@example.invalid:/data", "", "", sshDefaults{port: 22, user: "me"})
	if !isUsage(err) || !strings.Contains(err.Error(), "option -r") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v, want a usage error naming -r without the password", err)
	}
}

// TestRegistry: each form of -r finds its scheme, which gives its
// canonical form and says where its state lives.
func TestRegistry(t *testing.T) {
	t.Parallel()
	schemes := newRegistry()
	def := sshDefaults{port: 22, user: "me"}
	for _, tc := range []struct {
		raw, user, host string
		name            string // the endpoint's scheme
		url             string
		local, object   bool
	}{
		{raw: "/data/x", name: "file", url: "file:///data/x", local: true},
		{raw: "file:///data/x/", name: "file", url: "file:///data/x", local: true},
		{raw: "FILE:///data/x", name: "file", url: "file:///data/x", local: true},
		{raw: "h:/d", name: "ssh", url: "ssh://me@h:22/d"},
		{raw: "/d", host: "h", user: "u", name: "ssh", url: "ssh://u@h:22/d"},
		{raw: "sftp://u@h:2/d", name: "ssh", url: "sftp://u@h:2/d"},
		{raw: "s3://b/p/?region=r&endpoint=http://127.0.0.1:9", name: "s3", url: "s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A9", object: true},
		{raw: "mem://b?b=1&a=2", name: "blob", url: "mem://b?a=2&b=1", object: true},
		{raw: "blob+file:///tmp/b", name: "blob", url: "blob+file:///tmp/b", object: true},
		{raw: "gs://b/p", name: "blob", url: "gs://b/p", object: true},
		{raw: "azblob://c", name: "blob", url: "azblob://c", object: true},
		{raw: "bbolt:///tmp/db", name: "plugin", url: "bbolt:///tmp/db", object: true},
	} {
		e, err := schemes.parse("-r", tc.raw, tc.user, tc.host, def)
		if err != nil {
			t.Errorf("%q: %v", tc.raw, err)
			continue
		}
		if e.scheme != tc.name || e.URL() != tc.url || e.local() != tc.local || e.object() != tc.object {
			t.Errorf("%q: scheme %s, URL %s, local %v, object %v; want %s, %s, %v, %v",
				tc.raw, e.scheme, e.URL(), e.local(), e.object(), tc.name, tc.url, tc.local, tc.object)
		}
	}
	for _, raw := range []string{"", "ftp://u:pw@h/p", "s3:///p", "file://h/p", "file://rel"} {
		if _, err := schemes.parse("-r", raw, "", "", def); err == nil {
			t.Errorf("%q: parsed, want a usage error", raw)
		}
	}
	if _, err := schemes.parse("-r", "s3://b", "", "h", def); err == nil {
		t.Error("--host with a URL: parsed, want a usage error")
	}
	if e, _ := schemes.parse("-r", "blob+file:///tmp/b", "", "", def); e.dataDir() == "" {
		t.Error("a blob+file:// bucket has no data directory")
	}
}
