package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCompletionCoversEveryOption checks that both scripts name every
// option of the table and every subcommand, and that bash and zsh (where
// installed) accept their syntax.
func TestCompletionCoversEveryOption(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := completion([]string{shell}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			script := out.String()
			for cmd, specs := range commandSpecs() {
				for _, s := range specs {
					for _, n := range names(s) {
						// bash lists "--name"; zsh writes "*--name=[".
						if !regexp.MustCompile(`[ "*']` + regexp.QuoteMeta(n) + `[ "=+\[|)]`).MatchString(script) {
							t.Errorf("async %s: %s missing", cmd, n)
						}
					}
				}
			}
			for _, c := range subcommands() {
				if !strings.Contains(script, c.name) {
					t.Errorf("subcommand %s missing", c.name)
				}
			}
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("%s not installed: syntax not checked", shell)
			}
			f := filepath.Join(t.TempDir(), "async."+shell)
			os.WriteFile(f, out.Bytes(), 0o644)
			if b, err := exec.Command(shell, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, b)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := completion([]string{"fish"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), `unknown shell "fish"`) {
		t.Errorf("fish: exit %d, %q", code, errOut.String())
	}
}

// TestBashCompletionCompletes runs the bash script's function on command
// lines and checks what it offers.
func TestBashCompletionCompletes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	var script bytes.Buffer
	completion([]string{"bash"}, &script, &bytes.Buffer{})
	f := filepath.Join(t.TempDir(), "async.bash")
	os.WriteFile(f, script.Bytes(), 0o644)
	for _, tc := range []struct {
		words []string // the last one is being completed
		want  []string // all offered
		not   []string // none offered
	}{
		{[]string{"async", "ad"}, []string{"admin"}, []string{"apply"}},
		{[]string{"async", "--dire"}, []string{"--direction"}, nil},
		{[]string{"async", "-N", "a", "-K", ""}, []string{"push", "pull", "bidi"}, nil},
		{[]string{"async", "-N", "a", "--direction", "=", "b"}, []string{"bidi"}, []string{"push"}},
		{[]string{"async", "-N", "a", "-k", "sha"}, []string{"sha1", "sha1_sparse", "sha256"}, []string{"md5"}},
		{[]string{"async", "--plan-format", ""}, []string{"text", "json"}, nil},
		{[]string{"async", "admin", "--erase"}, []string{"--erase", "--erase-match"}, []string{"--direction"}},
		{[]string{"asyncadmin", "--fi"}, []string{"--file-info"}, nil},
		{[]string{"async", "completion", ""}, nil, []string{"--direction"}},
		{[]string{"async", "-N", "x", "--preserve-x"}, []string{"--preserve-xattrs"}, nil},
	} {
		var words strings.Builder
		for _, w := range tc.words {
			words.WriteString(" '" + w + "'")
		}
		prog := "source " + f + "; COMP_WORDS=(" + words.String() + "); COMP_CWORD=" +
			strconv.Itoa(len(tc.words)-1) + "; _async; printf '%s\\n' \"${COMPREPLY[@]}\""
		out, err := exec.Command("bash", "-c", prog).CombinedOutput()
		if err != nil {
			t.Errorf("%v: %v\n%s", tc.words, err, out)
			continue
		}
		got := strings.Fields(string(out))
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%v: %q not offered (got %v)", tc.words, w, got)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("%v: %q offered (got %v)", tc.words, w, got)
			}
		}
	}
}

// TestHelpListsSubcommands checks that async -h names every subcommand
// and points to the manual.
func TestHelpListsSubcommands(t *testing.T) {
	r := runAsync(t, "-h")
	mustCode(t, r, 0)
	for _, c := range []string{"admin", "apply", "plugins", "server", "completion"} {
		if !strings.Contains(r.stdout, "async "+c+" ") {
			t.Errorf("async -h does not list async %s:\n%s", c, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "docs/reference.md") || !strings.Contains(r.stdout, "--direction") {
		t.Errorf("async -h:\n%s", r.stdout)
	}
	r = runAsync(t, "completion", "bash")
	mustCode(t, r, 0)
	if !strings.Contains(r.stdout, "complete -o filenames -F _async async asyncadmin") {
		t.Errorf("async completion bash:\n%s", r.stdout)
	}
}

func TestDescribeBuild(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}}
		if rev != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.revision", Value: rev})
		}
		if modified != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		return bi
	}
	tagged := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}}
	for _, tc := range []struct {
		version, commit string
		bi              *debug.BuildInfo
		want            string
	}{
		// Stamped by the Makefile: the stamp wins over the build info.
		{"v1.0.0", "abc123", vcs("def456", "true"), "async v1.0.0 (commit abc123) go1.99"},
		{"v1.0.0-3-gabc1234-dirty", "abc1234f", nil, "async v1.0.0-3-gabc1234-dirty (commit abc1234f) go"},
		// go install module@v1.2.3: the module version.
		{"", "", tagged, "async v1.2.3 (commit unknown) go1.99"},
		// go build in a checkout with VCS stamping.
		{"", "", vcs("0123abcd", "false"), "async devel (commit 0123abcd) go1.99"},
		{"", "", vcs("0123abcd", "true"), "async devel (commit 0123abcd, modified) go1.99"},
		// -buildvcs=false and no stamp.
		{"", "", vcs("", ""), "async devel (commit unknown) go1.99"},
		{"", "", nil, "async devel (commit unknown) go"},
	} {
		if got := describeBuild(tc.version, tc.commit, tc.bi); !strings.HasPrefix(got, tc.want) {
			t.Errorf("describeBuild(%q, %q) = %q, want prefix %q", tc.version, tc.commit, got, tc.want)
		}
	}
}

// TestVersionStamp builds the binary as the Makefile does, with
// -buildvcs=false as .ci/run sets it, and checks that -A (and async admin
// -A) show the stamped version and commit.
func TestVersionStamp(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "async")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.version=v9.8.7-test -X main.commit=0123456789abcdef", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"-A"}, {"--version"}, {"admin", "-A"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if want := "async v9.8.7-test (commit 0123456789abcdef) go"; !strings.HasPrefix(string(out), want) {
			t.Errorf("async %v = %q, want %q...", args, out, want)
		}
	}
}

// TestVersionOnly: -A or --version alone takes main's short way (the
// version line without a run's set-up); with anything else the command
// line goes to run, which checks it whole.
func TestVersionOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-A"}, true},
		{[]string{"--version"}, true},
		{nil, false},
		{[]string{"-h"}, false},
		{[]string{"-A", "-N", "x"}, false},
		{[]string{"-N", "x", "-A"}, false},
		{[]string{"-AK"}, false},
	} {
		if got := versionOnly(tc.args); got != tc.want {
			t.Errorf("versionOnly(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
