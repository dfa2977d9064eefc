package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
	"github.com/async-sync/async/rate"
)

// dedupNames are the --dedup modes as a plan writes them.
var dedupNames = map[core.Dedup]string{core.DedupNone: "none", core.DedupHardlink: "hardlink", core.DedupInode: "inode", core.DedupCopy: "copy"}

// linkNames are the -n modes as a plan writes them.
var linkNames = [...]string{core.LinksCopy: "copy", core.LinksFollow: "follow", core.LinksSkip: "skip"}

// planOptions lists every option that changes what a plan's actions do or
// how they are done, so that `async apply` does what the run that printed
// the plan would have done (docs/plan-format.md lists them).
func planOptions(s *session, pol core.Policy) map[string]any {
	id := func(p *int) any {
		if p == nil {
			return nil
		}
		return *p
	}
	mode := func(on bool) string {
		if on {
			return "native"
		}
		return "none"
	}
	var tags any
	if len(s.tags) > 0 {
		tags = s.tags
	}
	threads := []string{}
	for _, c := range s.TransferThreads {
		if c.MaxSize > 0 {
			threads = append(threads, fmt.Sprintf("%d:%d", c.N, c.MaxSize))
		} else {
			threads = append(threads, strconv.Itoa(c.N))
		}
	}
	return map[string]any{
		"overwrite": pol.Overwrite.String(), "checksum": string(pol.Checksum),
		"preserve_time": pol.PreserveTime, "preserve_access_time": pol.PreserveATime,
		"preserve_uid": pol.PreserveUID, "preserve_gid": pol.PreserveGID,
		"write_uid": id(pol.WriteUID), "write_gid": id(pol.WriteGID),
		"preserve_xattrs": mode(pol.PreserveXattrs), "preserve_acls": mode(pol.PreserveACLs),
		"ignore_mode": pol.IgnoreMode, "ignore_delete": pol.IgnoreDelete, "mirror": pol.Mirror,
		"delete_before": s.DeleteBefore, "remove_after_transfer": s.RemoveAfterTransfer,
		"symbolic_links": linkNames[s.Links], "filters": s.Filter.Rules(),
		"keep_dir_local": pol.KeepDir[core.Local], "keep_dir_remote": pol.KeepDir[core.Remote],
		"dedup": dedupNames[pol.Dedup], "scan_file_rename": pol.RenameFiles, "scan_dir_rename": pol.RenameDirs,
		"support_resume": s.SupportResume, "tags": tags,
		"transfer_threads": threads, "target_rate": s.targetRate, "min_rate": s.minRate, "rate_policy": s.ratePolicy.String(),
	}
}

// planOptionReader reads a plan's options block with the types
// planOptions writes; the first problem is kept in err.
type planOptionReader struct {
	opts map[string]any
	err  error
}

func (r *planOptionReader) fail(k string, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("option %q: want %s, got %v", k, want, r.opts[k])
	}
}

func (r *planOptionReader) str(k string) string {
	v, ok := r.opts[k]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fail(k, "a string")
	}
	return s
}

func (r *planOptionReader) flag(k string) bool {
	v, ok := r.opts[k]
	if !ok || v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(k, "true or false")
	}
	return b
}

// num reads a whole number; ok is false when the option is absent or null.
func (r *planOptionReader) num(k string) (n int64, ok bool) {
	v, ok := r.opts[k]
	if !ok || v == nil {
		return 0, false
	}
	f, isNum := v.(float64)
	if !isNum || f != math.Trunc(f) || f < 0 || f > 1<<53 {
		r.fail(k, "a whole number")
		return 0, false
	}
	return int64(f), true
}

func (r *planOptionReader) strings(k string) []string {
	v, ok := r.opts[k]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.fail(k, "a list of strings")
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			r.fail(k, "a list of strings")
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (r *planOptionReader) stringMap(k string) map[string]string {
	v, ok := r.opts[k]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		r.fail(k, "an object of strings")
		return nil
	}
	out := make(map[string]string, len(m))
	for key, e := range m {
		s, ok := e.(string)
		if !ok {
			r.fail(k, "an object of strings")
			return nil
		}
		out[key] = s
	}
	return out
}

// setPlanOptions gives a session the options a plan was made with. An
// option this version does not know is refused: applying the plan could
// not do what the run that printed it would have done.
func setPlanOptions(s *session, opts map[string]any) error {
	known := planOptions(&session{}, core.Policy{})
	var unknown []string
	for k := range opts {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown option %q in the plan's options (made by a newer async?)", unknown[0])
	}
	r := &planOptionReader{opts: opts}
	p := &s.Policy
	var err error
	if p.Overwrite, err = core.ParseOverwrite(r.str("overwrite")); err != nil {
		return err
	}
	if p.Checksum, err = core.ParseChecksum(r.str("checksum")); err != nil {
		return err
	}
	s.checksumSet = true
	p.PreserveTime, p.PreserveATime = r.flag("preserve_time"), r.flag("preserve_access_time")
	p.PreserveUID, p.PreserveGID = r.flag("preserve_uid"), r.flag("preserve_gid")
	for k, dst := range map[string]**int{"write_uid": &p.WriteUID, "write_gid": &p.WriteGID} {
		if n, ok := r.num(k); ok {
			id := int(n)
			*dst = &id
		}
	}
	for k, dst := range map[string]*bool{"preserve_xattrs": &p.PreserveXattrs, "preserve_acls": &p.PreserveACLs} {
		switch v := r.str(k); v {
		case "", "none":
		case "native":
			*dst = true
		default:
			r.fail(k, "native or none")
		}
	}
	p.IgnoreMode, p.IgnoreDelete, p.Mirror = r.flag("ignore_mode"), r.flag("ignore_delete"), r.flag("mirror")
	s.DeleteBefore, s.RemoveAfterTransfer = r.flag("delete_before"), r.flag("remove_after_transfer")
	if l := r.str("symbolic_links"); l != "" {
		if s.Links, err = core.ParseLinkMode(l); err != nil {
			return err
		}
	}
	for _, text := range r.strings("filters") {
		kind, pat, ok := strings.Cut(text, " ")
		if !ok || kind != "-I" && kind != "-E" {
			return fmt.Errorf("option \"filters\": bad rule %q (want \"-I PATTERN\" or \"-E PATTERN\")", text)
		}
		s.rules = append(s.rules, filter.Rule{Include: kind == "-I", Pattern: pat})
	}
	s.keepDir = [2]string{r.str("keep_dir_local"), r.str("keep_dir_remote")}
	if d := r.str("dedup"); d != "" {
		found := false
		for mode, name := range dedupNames {
			if name == d {
				p.Dedup, found = mode, true
			}
		}
		if !found {
			r.fail("dedup", "hardlink, inode, copy or none")
		}
	}
	p.RenameFiles, p.RenameDirs = r.flag("scan_file_rename"), r.flag("scan_dir_rename")
	if n, ok := r.num("support_resume"); ok {
		s.SupportResume = n
	}
	s.tags = r.stringMap("tags")
	for _, v := range r.strings("transfer_threads") {
		c, err := parseThreads(v)
		if err != nil {
			return fmt.Errorf("option \"transfer_threads\": %v", err)
		}
		s.TransferThreads = append(s.TransferThreads, c)
	}
	s.targetRate, _ = r.num("target_rate")
	s.minRate, _ = r.num("min_rate")
	if v := r.str("rate_policy"); v != "" {
		if s.ratePolicy, err = rate.ParsePolicy(v); err != nil {
			return err
		}
	}
	return r.err
}
