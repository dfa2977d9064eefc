package filter

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// rules parses "-E pat -I pat ..." into rules.
func rules(t *testing.T, spec string) *Filter {
	t.Helper()
	var rs []Rule
	f := strings.Fields(spec)
	for i := 0; i+1 < len(f); i += 2 {
		rs = append(rs, Rule{Include: f[i] == "-I", Pattern: f[i+1]})
	}
	flt, err := New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return flt
}

func TestGolden(t *testing.T) {
	const (
		in  = Include
		out = Exclude
		tr  = Traverse
	)
	worked := `-E .*~ -E *~ -E .*.thm -E *.thm -I .*/ -I /Raw/** -I /Jpg/Big/** -I /Jpg/Med/** -E * -E .*`
	// The manual's second worked example (docs/reference.md §5.9): a source
	// tree without version control, dependencies and objects, keeping only
	// the release build.
	code := `-E .git/ -E node_modules/ -E *.o -E *~ -I /build/release/** -E /build/*`
	for _, tc := range []struct {
		rules string
		path  string
		dir   bool
		want  Decision
	}{
		// The reference's worked example (§5.9).
		{worked, "Raw/2024/img.cr2", false, in},
		{worked, "Raw/2024/img.cr2~", false, out},
		{worked, "Raw/x.thm", false, out},
		{worked, "Jpg", true, tr},
		{worked, "Jpg/Big/a.jpg", false, in},
		{worked, "Jpg/Small", true, out},
		{worked, "notes.txt", false, out},
		{worked, ".config", true, in},
		{worked, ".profile", false, out},
		{worked, ".config/settings", false, out},
		{worked, "Jpg/Big", true, in},
		{worked, "Raw", true, in},
		{worked, "Jpg/Med/x/y.jpg", false, in},
		// The manual's source-tree example.
		{code, "src/main.c", false, in},
		{code, "src/main.o", false, out},
		{code, ".git", true, out},
		{code, "lib/.git", true, out},
		{code, "lib/.git", false, in}, // a submodule's .git file: .git/ names directories only
		{code, ".gitignore", false, in},
		{code, "web/node_modules", true, out},
		{code, "build", true, tr},
		{code, "build/release", true, in},
		{code, "build/release/app", false, in},
		{code, "build/release/app.o", false, out}, // *.o comes first
		{code, "build/debug", true, out},
		{code, "build/log.txt", false, out},
		{code, "notes.txt~", false, out},
		{code, ".notes.txt~", false, in}, // * never matches a leading dot
		// -E .git names files only; -E .git/ directories; .git/** both, and
		// everything below; .git* also .gitignore.
		{"-E .git", ".git", true, in},
		{"-E .git", ".git", false, out},
		{"-E .git", ".git/config", false, in},
		{"-E .git/", ".git", true, out},
		{"-E .git/", "sub/.git", true, out},
		{"-E .git/", ".git", false, in},
		{"-E /.git/", "sub/.git", true, in},
		{"-E .git/**", ".git", true, out},
		{"-E .git/**", "sub/.git", true, out},
		{"-E .git/**", ".git", false, out}, // DIR/** matches the name itself, file or directory
		{"-E .git*", ".git", true, out},
		{"-E .git*", ".gitignore", false, out},
		// No rules, no match: included.
		{"", "anything", false, in},
		{"-E *.tmp", "a.txt", false, in},
		// * and ?
		{"-E *.tmp", "a.tmp", false, out},
		{"-E *.tmp", "dir/a.tmp", false, out},
		{"-E *.tmp", ".a.tmp", false, in}, // * never matches a leading dot
		{"-E .*.tmp", ".a.tmp", false, out},
		{"-E a*", "abc", false, out},
		{"-E a*", "a", false, out},
		{"-E a*c", "a/c", false, in}, // * never crosses /
		{"-E ?.txt", "a.txt", false, out},
		{"-E ?.txt", "ab.txt", false, in},
		{"-E ?.txt", "..txt", false, in}, // ? never matches a leading dot
		{"-E a?c", "a/c", false, in},
		{"-E a?c", "abc", false, out},
		{"-E ?", "é", false, out}, // one character, not one byte
		// **
		{"-E /a/**", "a/b/c/d", false, out},
		{"-E /a/**", "a", true, out}, // DIR/** matches DIR
		{"-E /a/**", "a/.hidden/x", false, out},
		{"-E /a/**", "ab", true, in},
		{"-E **.log", "x/y/z.log", false, out},
		{"-E **.log", "x/.log", false, out},
		{"-E /x/**/z", "x/y/w/z", false, out},
		{"-E /x/**/z", "x/y/w/q", false, in},
		// Anchoring and tails at name boundaries.
		{"-E /a.txt", "a.txt", false, out},
		{"-E /a.txt", "d/a.txt", false, in},
		{"-E a.txt", "d/a.txt", false, out},
		{"-E b/c", "a/b/c", false, out},
		{"-E b/c", "a/xb/c", false, in},
		{"-E /b/c", "a/b/c", false, in},
		// Directories only, files only, both.
		{"-E node_modules", "node_modules", true, in},
		{"-E node_modules/", "node_modules", true, out},
		{"-E node_modules/", "node_modules", false, in},
		{"-E node_modules/", "src/node_modules", true, out},
		{"-E build*", "build", true, out},
		{"-E build*", "build", false, out},
		{"-E cache", "cache", false, out},
		{"-E /tmp/", "tmp", true, out},
		{"-E /tmp/", "x/tmp", true, in},
		// Classes.
		{"-E [abc].txt", "b.txt", false, out},
		{"-E [abc].txt", "d.txt", false, in},
		{"-E [a-c].txt", "c.txt", false, out},
		{"-E [!a-c].txt", "c.txt", false, in},
		{"-E [!a-c].txt", "z.txt", false, out},
		{"-E [^a-c].txt", "z.txt", false, out},
		{"-E [[:digit:]]*", "7up", false, out},
		{"-E [[:digit:]]*", "up7", false, in},
		{"-E [[:upper:]][[:lower:]]", "Ab", false, out},
		{"-E [[:upper:]][[:lower:]]", "AB", false, in},
		{"-E x[[:space:]]y", "x y", false, out},
		{"-E [.]x", ".x", false, in}, // a class never matches a leading dot
		{"-E a[.]x", "a.x", false, out},
		{"-E a[/]b", "a/b", false, in}, // nor a /
		{"-E []]", "]", false, out},
		{"-E [a-]", "-", false, out},
		// Escapes.
		{`-E \*`, "*", false, out},
		{`-E \*`, "a", false, in},
		{`-E a\?`, "a?", false, out},
		{`-E a\?`, "ab", false, in},
		{`-E \[x]`, "[x]", false, out},
		// Case-sensitive.
		{"-E *.JPG", "a.jpg", false, in},
		{"-E *.JPG", "a.JPG", false, out},
		// First match decides; order matters.
		{"-I keep.tmp -E *.tmp", "keep.tmp", false, in},
		{"-E *.tmp -I keep.tmp", "keep.tmp", false, out},
		{"-I *.go -E *", "main.go", false, in},
		{"-I *.go -E *", "main.c", false, out},
		// Anchored includes let scans through their literal path...
		{"-I /a/b/c/** -E *", "a", true, tr},
		{"-I /a/b/c/** -E *", "a/b", true, tr},
		{"-I /a/b/c/** -E *", "a/b/c", true, in},
		{"-I /a/b/c/** -E *", "a/x", true, out},
		{"-I /Jpg/B*/** -E *", "Jpg", true, tr},
		{"-I /Jpg/B*/** -E *", "Jpg/Big/x", false, in},
		{"-I /Raw/x.cr2 -E *", "Raw", true, tr},
		{"-I /Raw/x.cr2 -E *", "Raw/x.cr2", false, in},
		// ... unless an exclude comes first.
		{"-E /images/ -I /images/icons/", "images", true, out},
		{"-E /images/ -I /images/icons/", "images/icons", true, in},
		// Unanchored includes do not.
		{"-I b/** -E *", "a", true, out},
	} {
		got := rules(t, tc.rules).Decide(tc.path, tc.dir)
		if got != tc.want {
			t.Errorf("%s: /%s (dir %v) = %v, want %v", tc.rules, tc.path, tc.dir, got, tc.want)
		}
	}
}

func TestBadPatterns(t *testing.T) {
	for _, p := range []string{"", "/", "[abc", `a\`, "[[:nope:]]"} {
		if _, err := New([]Rule{{Pattern: p}}); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
}

func TestReadFile(t *testing.T) {
	files := map[string]string{
		"/r/main":       "# comment\n\n  *.tmp  \n+ keep.tmp\n- *.bak\n. sub/strict\n.+ more\ntrailing\\ \n",
		"/r/sub/strict": "+ a\n- b\n",
		"/r/more":       "inc\n",
		"/r/bad":        ". worse\n",
		"/r/worse":      "plain\n",
	}
	open := func(name string) (io.ReadCloser, error) {
		s, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
		}
		return io.NopCloser(strings.NewReader(s)), nil
	}
	got, err := ReadFile("/r/main", false, open)
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{false, "*.tmp"}, {true, "keep.tmp"}, {false, "*.bak"}, {true, "a"}, {false, "b"}, {true, "inc"}, {false, "trailing "}}
	if !slices.Equal(got, want) {
		t.Errorf("rules %v, want %v", got, want)
	}
	if _, err := ReadFile("/r/bad", true, open); err == nil || !strings.Contains(err.Error(), "starts with + or -") {
		t.Errorf("plain line in a strict file: %v", err)
	}
	if _, err := ReadFile("/r/none", true, open); err == nil {
		t.Errorf("missing file accepted")
	}
}
