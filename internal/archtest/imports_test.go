package archtest

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// knownViolations are imports the rules forbid that exist today and are
// to be removed: listed so that nothing new creeps in, and checked to
// still exist so that the list stays true.
var knownViolations = map[string]string{}

// sshJobs are the packages of backends/ssh, one job each, and which of
// their siblings each may import: the wire protocol depends on neither
// end; the agent (the server side) and the client (the core.Backend over
// the protocol) never import each other; dialing and installing start a
// client. A package of backends/ssh missing here is an error, so that a
// new one gets its rule.
var sshJobs = map[string][]string{
	"backends/ssh":          {"backends/ssh/client", "backends/ssh/protocol", "backends/ssh/datapath"},
	"backends/ssh/protocol": nil,
	"backends/ssh/agent":    {"backends/ssh/protocol", "backends/ssh/datapath"},
	"backends/ssh/client":   {"backends/ssh/protocol", "backends/ssh/datapath"},
	"backends/ssh/datapath": nil,
	"backends/ssh/sftpfs":   {"backends/ssh"},
}

// leaves are packages that import nothing of the module (only the
// standard library): any package may import them.
var leaves = map[string]bool{"internal/varint": true, "internal/badgerfix": true}

// rule says whether package pkg (a path inside the module) may import
// dep (another path inside the module), and why not.
func rule(pkg, dep string) (ok bool, why string) {
	switch {
	case leaves[dep]:
		return true, "" // imports nothing of the module: anyone may use it
	case under(dep, "core/lifecycle") && pkg != "core/lifecycle" && !under(pkg, "cmd"):
		return false, "only a command wires a session's lifecycle: the engine, backends and snapshots know nothing of it"
	case pkg == "core/lifecycle" && dep == "snapshot":
		return true, "" // a snapshot in a local directory is the snapshot package's database
	case under(pkg, "core") && !under(dep, "core"):
		return false, "core imports nothing of the module outside core"
	case under(pkg, "snapshot") && !under(dep, "core"):
		return false, "snapshot imports only core"
	case under(pkg, "plugins") && under(dep, "backends"):
		return false, "the plugin host imports no backend"
	case under(pkg, "backends/ssh") && under(dep, "backends/ssh"):
		allowed, known := sshJobs[pkg]
		if !known {
			return false, "a package of backends/ssh without a rule in sshJobs"
		}
		if !slices.Contains(allowed, dep) {
			return false, "backends/ssh's jobs: " + pkg + " may import only " + fmt.Sprint(allowed) + " of its siblings"
		}
		return true, ""
	case under(pkg, "backends") && under(dep, "backends"):
		if backendOf(pkg) == backendOf(dep) || dep == "backends/objstore" {
			return true, "" // its own packages; the object-store layer its drivers share
		}
		return false, "a backend imports no other backend"
	case under(pkg, "backends") && (under(dep, "cmd") || under(dep, "plugins")):
		return false, "a backend imports neither the command nor the plugin host"
	case under(dep, "cmd"):
		return false, "nothing imports a command"
	}
	return true, ""
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// backendOf returns "backends/NAME" for a package under backends/NAME.
func backendOf(p string) string {
	parts := strings.SplitN(p, "/", 3)
	if len(parts) < 2 {
		return p
	}
	return parts[0] + "/" + parts[1]
}

// TestImportRules reads the imports of every non-test Go file of the
// module (without the toolchain: build tags do not hide a file) and
// checks them against rule.
func TestImportRules(t *testing.T) {
	root, module := moduleRoot(t)
	imports := map[string]map[string]bool{} // package dir → module-internal imports
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir // another module (examples)
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(ip, module+"/"); ok {
				if imports[pkg] == nil {
					imports[pkg] = map[string]bool{}
				}
				imports[pkg][dep] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports["cmd/async"]) == 0 || !imports["backends/s3"]["core"] {
		t.Fatalf("the walk found too little (cmd/async imports %v): wrong root %s?", imports["cmd/async"], root)
	}
	for leaf := range leaves {
		if deps := imports[leaf]; len(deps) > 0 {
			t.Errorf("%s is a leaf (anyone may import it) but imports %v", leaf, slices.Sorted(maps.Keys(deps)))
		}
	}
	seen := map[string]bool{}
	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		for _, dep := range slices.Sorted(maps.Keys(imports[pkg])) {
			ok, why := rule(pkg, dep)
			if ok {
				continue
			}
			key := pkg + " -> " + dep
			if _, known := knownViolations[key]; known {
				seen[key] = true
				continue
			}
			t.Errorf("%s imports %s: %s", pkg, dep, why)
		}
	}
	for key, why := range knownViolations {
		if !seen[key] {
			t.Errorf("known violation %s (%s) is gone: remove it from knownViolations", key, why)
		}
	}
}

// TestRules checks rule itself on examples, so that a rule that allows
// everything cannot pass unnoticed.
func TestRules(t *testing.T) {
	tests := []struct {
		pkg, dep string
		ok       bool
	}{
		{"core", "core/filter", true},
		{"core", "backends/local", false},
		{"core", "snapshot", false},
		{"core/backendtest", "internal/treewalk", false},
		{"backends/local", "core", true},
		{"backends/local", "internal/treewalk", true},
		{"backends/ssh", "backends/ssh/datapath", true},
		{"backends/ssh/sftpfs", "backends/ssh", true},
		{"backends/s3", "backends/objstore", true},
		{"backends/ssh", "backends/local", false},
		{"backends/ssh/agent", "backends/local", false},
		{"backends/ssh/client", "backends/local", false},
		{"backends/ssh/agent", "backends/ssh/protocol", true},
		{"backends/ssh/agent", "backends/ssh/client", false},
		{"backends/ssh/agent", "backends/ssh", false},
		{"backends/ssh/client", "backends/ssh/agent", false},
		{"backends/ssh/client", "backends/ssh/protocol", true},
		{"backends/ssh/client", "backends/ssh", false},
		{"backends/ssh", "backends/ssh/client", true},
		{"backends/ssh", "backends/ssh/agent", false},
		{"backends/ssh/protocol", "backends/ssh/client", false},
		{"backends/ssh/protocol", "backends/ssh/datapath", false},
		{"backends/ssh/protocol", "core", true},
		{"backends/ssh/agent", "snapshot", true},
		{"backends/ssh/newjob", "backends/ssh/protocol", false},
		{"cmd/async", "backends/ssh/agent", true},
		{"backends/blob", "backends/s3", false},
		{"backends/local", "plugins", false},
		{"backends/local", "cmd/async", false},
		{"plugins", "backends/local", false},
		{"snapshot", "core", true},
		{"snapshot", "backends/local", false},
		{"snapshot", "internal/varint", true},
		{"snapshot", "internal/treewalk", false},
		{"cmd/async", "backends/ssh", true},
		{"cmd/async", "core/lifecycle", true},
		{"core/lifecycle", "core", true},
		{"core/lifecycle", "snapshot", true},
		{"core/lifecycle", "backends/local", false},
		{"core/lifecycle", "cmd/async", false},
		{"core/memfs", "snapshot", false},
		{"core", "core/lifecycle", false},
		{"core/memfs", "core/lifecycle", false},
		{"snapshot", "core/lifecycle", false},
		{"backends/ssh", "core/lifecycle", false},
		{"plugins", "core/lifecycle", false},
		{"internal/watchd", "cmd/async", false},
	}
	for _, tc := range tests {
		if ok, why := rule(tc.pkg, tc.dep); ok != tc.ok {
			t.Errorf("rule(%s, %s) = %v (%s), want %v", tc.pkg, tc.dep, ok, why, tc.ok)
		}
	}
}

// moduleRoot finds the directory of the module's go.mod above the test's
// and the module path it declares.
func moduleRoot(t *testing.T) (dir, module string) {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
					return dir, strings.TrimSpace(m)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("no go.mod above the test")
	return "", ""
}
