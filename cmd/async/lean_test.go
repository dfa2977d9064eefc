package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/async-sync/async/internal/testnet"
)

// heavyModules are what a lean build (-tags lean) must not link: the
// bucket drivers, the plugin host and the experimental transports, whose
// initialisation every start would pay.
var heavyModules = []string{
	"github.com/aws/", "gocloud.dev/", "github.com/hashicorp/go-plugin",
	"google.golang.org/grpc", "cloud.google.com/", "github.com/Azure/",
	"github.com/quic-go/", "github.com/xtaci/kcp-go",
}

func TestLeanBuildLinksNoDrivers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tags  string
		heavy bool
	}{{"lean", false}, {"", true}} {
		out, err := exec.Command("go", "list", "-deps", "-tags", tc.tags, ".").Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tc.tags, err)
		}
		var found []string
		for _, p := range strings.Fields(string(out)) {
			for _, h := range heavyModules {
				if strings.HasPrefix(p, h) {
					found = append(found, p)
				}
			}
		}
		if (len(found) > 0) != tc.heavy {
			t.Errorf("-tags %q: links %d packages of the drivers or the plugin host (want some: %v): %.200v", tc.tags, len(found), tc.heavy, found)
		}
	}
}

// leanPair returns the lean async of make build (ASYNC_TEST_BIN) and
// skips the test when there is none: `make test` sets it.
func leanPair(t *testing.T) string {
	t.Helper()
	src := os.Getenv(testnet.BinaryEnv)
	if src == "" {
		t.Skip("no " + testnet.BinaryEnv + ": the lean build is make build's")
	}
	out, err := exec.Command("go", "version", "-m", src).Output()
	if err != nil || !strings.Contains(string(out), "-tags=lean") {
		t.Skipf("%s is not a lean build (%v)", src, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(asyncBin), testnet.FullName)); err != nil {
		t.Fatalf("make build put no %s beside the lean async: %v", testnet.FullName, err)
	}
	return asyncBin
}

// TestLeanBuildIsStatic: make build's lean async loads no C library at
// start (no program interpreter): the Go resolver and user database.
func TestLeanBuildIsStatic(t *testing.T) {
	t.Parallel()
	f, err := elf.Open(leanPair(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the lean async is dynamically linked: it starts the C library's loader")
		}
	}
}

// A lean async hands a run with a bucket side to async-full beside it,
// which carries it out; without async-full it says so in one line and
// touches nothing.
func TestLeanHandsBucketsToFull(t *testing.T) {
	t.Parallel()
	lean := leanPair(t)
	src, store, state := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"a": "1", "d/b": "22"})
	url := "blob+file://" + store
	r := runBin(t, lean, state, nil, "-N", "lean", "-d", src, "-r", url)
	if r.code != 0 {
		t.Fatalf("push to a bucket through the lean build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	back := t.TempDir()
	r = runBin(t, lean, state, nil, "-N", "back", "-d", back, "-r", url, "-K", "pull")
	if r.code != 0 {
		t.Fatalf("pull: exit %d\n%s", r.code, r.stderr)
	}
	if got := readTree(t, back); got["a"] != "1" || got["d/b"] != "22" {
		t.Errorf("pulled back %v", got)
	}
	// A saved plan with a bucket side is carried out by async-full too.
	writeTree(t, src, tree{"c": "333"})
	r = runBin(t, lean, state, nil, "-N", "lean", "-d", src, "-r", url, "--dry-run", "--plan-format=json")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(planFile, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runBin(t, lean, state, nil, "apply", planFile); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	r = runBin(t, lean, state, nil, "-N", "back", "-d", back, "-r", url, "-K", "pull")
	if got := readTree(t, back); r.code != 0 || got["c"] != "333" {
		t.Errorf("after apply, pulled back %v (exit %d %s)", got, r.code, r.stderr)
	}
	if r := runBin(t, lean, state, nil, "plugins", "--plugin-dir", t.TempDir()); r.code != 0 || r.stdout == "" {
		t.Errorf("async plugins through the lean build: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	alone := filepath.Join(t.TempDir(), "async")
	if err := os.Link(lean, alone); err != nil {
		data, err := os.ReadFile(lean)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(alone, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	state2, store2 := t.TempDir(), t.TempDir()
	r = runBin(t, alone, state2, nil, "-N", "alone", "-d", src, "-r", "blob+file://"+store2)
	if r.code != 1 || !strings.Contains(r.stderr, testnet.FullName) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("without %s: exit %d, stderr %q (want 1 and one line naming it)", testnet.FullName, r.code, r.stderr)
	}
	for _, d := range []string{state2, store2} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("without %s, %s was touched: %v", testnet.FullName, d, ents)
		}
	}
	// A local run needs no async-full.
	dst := t.TempDir()
	if r := runBin(t, alone, state2, nil, "-N", "local", "-d", src, "-r", dst); r.code != 0 || readTree(t, dst)["d/b"] != "22" {
		t.Errorf("a local run by the lean build alone: exit %d %s", r.code, r.stderr)
	}
}

// slowInits are standard packages whose initialisation costs every start
// a measurable share (GODEBUG=inittrace=1) and which the lean build has no
// need of: runtime/metrics builds its table of metrics at start (~1 ms,
// the most of any package linked).
var slowInits = []string{"runtime/metrics"}

func TestLeanBuildLinksNoSlowInits(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-tags", "lean,netgo,osusergo", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, p := range slowInits {
		if slices.Contains(deps, p) {
			t.Errorf("the lean build links %s", p)
		}
	}
}
