package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/async-sync/async/internal/cli"
)

var updateMan = flag.Bool("update-man", false, "rewrite docs/async.1 from the option table (make man)")

// manPath is the generated man page, from this package's directory.
const manPath = "../../docs/async.1"

// roff escapes text for a man page: backslashes, and a leading dot or
// quote that would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffOpt writes an option's spellings in bold and its value in italics:
// "\fB\-N\fR, \fB\-\-name\fR=\fINAME\fR".
func roffOpt(s cli.Spec) string {
	var parts []string
	value := ""
	switch s.Arg {
	case cli.ArgRequired:
		value = `=\fI` + roff(s.ValueName) + `\fR`
	case cli.ArgOptional:
		value = `[=\fI` + roff(s.ValueName) + `\fR]`
	}
	if s.Short != 0 {
		short := `\fB\-` + string(s.Short) + `\fR`
		if s.Long == "" && s.Arg == cli.ArgRequired {
			short += ` \fI` + roff(s.ValueName) + `\fR`
		}
		parts = append(parts, short)
	}
	if s.Long != "" {
		parts = append(parts, `\fB\-\-`+strings.ReplaceAll(s.Long, "-", `\-`)+`\fR`+value)
	}
	return strings.Join(parts, ", ")
}

// renderMan writes the man page async(1) from the option tables.
func renderMan(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p(`.\" Generated from cmd/async/options.go by "make man"; do not edit.`)
	p(`.\" The full manual is docs/reference.md.`)
	p(`.TH ASYNC 1 "" "async" "User Commands"`)
	p(`.SH NAME`)
	p(`async \- keep two directory trees in step: push, pull or both ways, once or continuously`)
	p(`.SH SYNOPSIS`)
	p(`.B async`)
	p(`[\fIinstance options\fR] \fB\-N\fR \fINAME\fR \fB\-d\fR \fILOCAL\fR \fB\-r\fR \fIREMOTE\fR [\fIsession options\fR] [\fB\-N\fR \fINAME2\fR ...]`)
	for _, c := range subcommands() {
		p(`.br`)
		p(`.B async %s`, c.name)
		p(`%s`, strings.ReplaceAll(roff(c.args), "-", `\-`))
	}
	p(`.SH DESCRIPTION`)
	p(`\fBasync\fR keeps two trees in step, with the command line of IBM Aspera Sync's async.`)
	p(`Each \fB\-N\fR starts a session between a local endpoint (\fB\-d\fR) and a remote one (\fB\-r\fR):`)
	p(`local directories, SSH servers (\fI[user@]host:path\fR, \fIssh://\fR, \fIsftp://\fR), S3 buckets (\fIs3://bucket/prefix\fR),`)
	p(`gocloud.dev buckets (\fIgs://\fR, \fIazblob://\fR, \fImem://\fR, \fIblob+file://\fR) and plugins (\fIscheme://\fR).`)
	p(`Both sides are scanned, compared with the snapshot of the last agreed state, and the differences are carried out:`)
	p(`push copies \fB\-d\fR to \fB\-r\fR, pull the reverse, bidi both ways.`)
	p(`Nothing is overwritten or deleted unless the plan says so and the entry is still what the plan expects;`)
	p(`conflicts keep both versions.`)
	p(`.PP`)
	p(`Instance options come before the first \fB\-N\fR; session options follow the \fB\-N\fR they belong to.`)
	p(`Long options take \fB\-\-opt\fR=\fIvalue\fR or \fB\-\-opt\fR \fIvalue\fR; short ones \fB\-x\fR \fIvalue\fR or \fB\-x\fR\fIvalue\fR.`)
	p(`Rates are bits per second with k, m, g (a bare number is kbit/s); sizes bytes with k, m, g, t (binary);`)
	p(`durations 90s, 4h, 1w0d0h0m0s or seconds.`)
	p(`.SH OPTIONS`)
	group := ""
	for _, o := range options() {
		if o.Group != group {
			group = o.Group
			p(`.SS "%s"`, roff(group))
		}
		p(`.TP`)
		p(`%s`, roffOpt(o.Spec))
		help := roff(o.Help)
		switch o.support {
		case warned:
			help += ". Accepted with a warning, and ignored: it " + roff(o.why) + "."
		case refused:
			help += ". Refused (exit 2): it " + roff(o.why) + "."
		}
		p(`%s`, help)
	}
	for _, c := range subcommands() {
		specs := commandSpecs()[c.name]
		p(`.SH "ASYNC %s"`, strings.ToUpper(c.name))
		p(`\fBasync %s\fR %s: %s.`, c.name, strings.ReplaceAll(roff(c.args), "-", `\-`), roff(c.help))
		for _, s := range specs {
			p(`.TP`)
			p(`%s`, roffOpt(s))
			p(`%s`, roff(s.Help))
		}
	}
	p(`.SH OUTPUT`)
	p(`One line per entry on standard output as it finishes: the path, then its status:`)
	for _, st := range [][2]string{
		{"SYNCHRONIZED", "transferred or created"},
		{"SYNCHRONIZED(exs)", "already identical on both sides"},
		{"SYNCHRONIZED(skp)", "skipped: examined again next run"},
		{"SYNCHRONIZED(del)", "deleted"},
		{"SYNCHRONIZED(mov)", "attributes updated, or renamed (then the line reads OLD \\-> NEW)"},
		{"SYNCHRONIZED(ddp)", "a duplicate made a hard link or a local copy (\\-\\-dedup)"},
		{"CONFLICT", "changed on both sides: neither touched"},
		{"ERROR: reason", "failed; the rest of the run went on"},
	} {
		p(`.TP`)
		p(`\fB%s\fR`, st[0])
		p(`%s`, st[1])
	}
	p(`.PP`)
	p(`A summary line, warnings and errors go to standard error.`)
	p(`\fB\-\-dry\-run\fR prints the plan instead (\fB\-\-plan\-format\fR=\fIjson\fR: a stable JSON document).`)
	p(`.SH "EXIT STATUS"`)
	for _, e := range [][2]string{
		{"0", "everything is in sync"},
		{"1", "the run failed: connection, authentication, host key, snapshot in use or unreadable, mount signature missing, safety halt, a fatal error mid-run"},
		{"2", "bad command line or configuration (including a session reused with other endpoints or direction); nothing was touched"},
		{"3", "the run finished, but some entries are in CONFLICT or ERROR"},
	} {
		p(`.TP`)
		p(`.B %s`, e[0])
		p(`%s`, e[1])
	}
	p(`.SH ENVIRONMENT`)
	for _, e := range [][2]string{
		{"ASPERA_SCP_PASS", "SSH password"},
		{"ASPERA_SCP_TOKEN", "access-key token, as \\-W"},
		{"ASPERA_SCP_COOKIE", "cookie, as \\-\\-cookie"},
		{"ASYNC_PLUGIN_DIR", "plugin directories, after \\-\\-plugin\\-dir"},
		{"ASYNC_PLUGIN_CONFIG", "the file that pins plugin checksums (~/.config/async/plugins.conf)"},
		{"AWS_*", "S3 credentials and region (the standard AWS chain)"},
		{"XDG_STATE_HOME", "base of async's own state (~/.local/state)"},
	} {
		p(`.TP`)
		p(`.B %s`, e[0])
		p(`%s`, e[1])
	}
	p(`.SH FILES`)
	for _, f := range [][2]string{
		{"ROOT/.private\\-asp/NAME/", "a directory endpoint's snapshot (moved with \\-b, \\-B)"},
		{"~/.local/state/async/log/async\\-NAME.log", "the session log (\\-L)"},
		{"~/.local/state/async/sessions/", "snapshots of bucket, plugin and SFTP endpoints"},
		{"/etc/async/server.conf", "the remote agent's configuration: docroots, db_dir, log_dir, access keys"},
		{"~/.config/async/plugins/", "backend plugins (async\\-backend\\-SCHEME)"},
	} {
		p(`.TP`)
		p(`.I %s`, f[0])
		p(`%s`, f[1])
	}
	p(`.SH "SEE ALSO"`)
	p(`The full manual, docs/reference.md in async's source: endpoints, value syntax, every option, filters, state, output, the JSON plan.`)
	p(`.BR ssh (1),`)
	p(`.BR rsync (1)`)
}

// TestManPage checks that docs/async.1 is what the option table makes of
// it (make man rewrites it), and that it names every option.
func TestManPage(t *testing.T) {
	var b bytes.Buffer
	renderMan(&b)
	if *updateMan {
		if err := os.WriteFile(manPath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("%s is stale: run make man", manPath)
	}
	man := string(got)
	for _, o := range options() {
		if o.Long != "" && !strings.Contains(man, `\fB\-\-`+strings.ReplaceAll(o.Long, "-", `\-`)+`\fR`) {
			t.Errorf("man page misses --%s", o.Long)
		}
		if o.Short != 0 && !strings.Contains(man, `\fB\-`+string(o.Short)+`\fR`) {
			t.Errorf("man page misses -%c", o.Short)
		}
	}
	for _, c := range subcommands() {
		if !strings.Contains(man, `.SH "ASYNC `+strings.ToUpper(c.name)+`"`) {
			t.Errorf("man page misses async %s", c.name)
		}
	}
	// It renders without warnings where groff is installed.
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-ww", "-z", manPath)
		out, err := cmd.CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff: %v\n%s", err, out)
		}
	}
}

// TestManualNamesEveryOption checks that docs/reference.md documents every
// option of the table, and every subcommand, and keeps the section
// numbers §1 to §11 that code comments cite.
func TestManualNamesEveryOption(t *testing.T) {
	b, err := os.ReadFile("../../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	manual := string(b)
	for _, o := range options() {
		if o.Long != "" && !regexp.MustCompile("--"+regexp.QuoteMeta(o.Long)+"[`=\\[ ,]").MatchString(manual) {
			t.Errorf("docs/reference.md does not document --%s", o.Long)
		}
		if o.Short != 0 && !strings.Contains(manual, "`-"+string(o.Short)+"`") {
			t.Errorf("docs/reference.md does not document -%c", o.Short)
		}
	}
	for _, c := range subcommands() {
		if !strings.Contains(manual, "async "+c.name) {
			t.Errorf("docs/reference.md does not document async %s", c.name)
		}
	}
	for _, s := range adminOptions() {
		if !strings.Contains(manual, "`--"+s.Long) && !strings.Contains(manual, "`--"+s.Long+"`") {
			t.Errorf("docs/reference.md does not document async admin --%s", s.Long)
		}
	}
	last := 0
	for _, m := range regexp.MustCompile(`(?m)^## (\d+)\. `).FindAllStringSubmatch(manual, -1) {
		n, _ := strconv.Atoi(m[1])
		if n != last+1 {
			t.Errorf("section %d follows section %d", n, last)
		}
		last = n
	}
	if last != 11 {
		t.Errorf("docs/reference.md has sections 1 to %d, want 1 to 11", last)
	}
}
