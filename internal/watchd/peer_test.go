package watchd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPeerMayRead: a user other than the service's is answered only about
// directories it may read, along the whole path, and named without links.
func TestPeerMayRead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the directories belong to other users")
	}
	base := t.TempDir()
	// The test's temporary directories are the test's: open them to
	// others (the system's temporary directory is).
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(base), 0o755)
	for p := filepath.Dir(base); p != "/"; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by others", p)
		}
	}
	mk := func(rel string, mode os.FileMode, uid, gid int) string {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, uid, gid)
		os.Chmod(p, mode)
		return p
	}
	const user, other = 65534, 65533
	open := mk("open", 0o755, 0, 0)
	closed := mk("closed", 0o700, 0, 0)
	below := mk("closed2/in", 0o755, user, user)
	os.Chmod(filepath.Join(base, "closed2"), 0o700)
	own := mk("own", 0o700, user, user)
	group := mk("group", 0o750, 0, user)
	searchOnly := mk("x", 0o711, 0, 0)
	link := filepath.Join(base, "link")
	os.Symlink(own, link)
	tests := []struct {
		dir  string
		want bool
	}{
		{open, true},
		{closed, false},
		{below, false}, // its parent is not searchable
		{own, true},
		{group, true},
		{searchOnly, false}, // not readable
		{link, false},       // names a link: the real path is asked for
		{open + "/../closed", false},
		{"relative", false},
	}
	p := peer{uid: user, gid: user}
	for _, tc := range tests {
		if got := p.mayRead(tc.dir); got != tc.want {
			t.Errorf("user %d mayRead(%s) = %v, want %v", user, tc.dir, got, tc.want)
		}
	}
	if (peer{uid: other, gid: other}).mayRead(own) {
		t.Errorf("another user reads %s", own)
	}
	if !(peer{self: true}).mayRead(closed) {
		t.Errorf("the service's own user is refused %s", closed)
	}
}

// TestSharedServiceAnswersUsersAboutTheirOwn: a shared service (run by
// root) answers another user about a directory it may read, and refuses
// one it may not, as that user connects (SO_PEERCRED).
func TestSharedServiceAnswersUsersAboutTheirOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	py := "/usr/bin/python3" // not a user's shim: the other user runs it
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3 to connect as another user")
	}
	base := t.TempDir()
	os.Chmod(base, 0o755)
	os.Chmod(filepath.Dir(base), 0o755)
	root := filepath.Join(base, "tree")
	mine, theirs := filepath.Join(root, "mine"), filepath.Join(root, "theirs")
	for _, d := range []string{mine, theirs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const nobody = 65534
	os.Chown(mine, nobody, nobody)
	os.Chmod(mine, 0o700)
	os.Chmod(theirs, 0o700) // root's
	hidden := filepath.Join(base, "hidden")
	if err := os.Mkdir(hidden, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "run", "w.sock")
	start(t, Options{Trees: []string{root, hidden}, Socket: sock, Shared: true})
	askAs := func(req Request) *Answer {
		t.Helper()
		b, _ := json.Marshal(req)
		script := `import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\n")
print(s.makefile().readline())`
		cmd := exec.Command(py, "-c", script, sock, string(b))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("as user %d: %v %s", nobody, err, out)
		}
		var a Answer
		if err := json.Unmarshal(out, &a); err != nil {
			t.Fatalf("answer %q: %v", out, err)
		}
		return &a
	}
	if a := askAs(Request{Op: "changes", Dir: mine}); a.Error != "" || a.Hole != "no cursor yet" {
		t.Errorf("its own directory: %+v", a)
	}
	if a := askAs(Request{Op: "changes", Dir: theirs}); !strings.Contains(a.Error, "permission denied") {
		t.Errorf("another's directory: %+v", a)
	}
	if a := askAs(Request{Op: "status"}); a.Status == nil || len(a.Status.Trees) != 1 || a.Status.Trees[0].Root != root {
		t.Errorf("status: want %s only (%s is root's, 0700): %+v", root, hidden, a.Status)
	}
}
