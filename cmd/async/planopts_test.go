package main

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/filter"
	"github.com/async-sync/async/rate"
)

// Every option a plan records is read back as it was: the options block
// survives JSON, and what setPlanOptions makes of it writes the same block.
func TestPlanOptionsRoundTrip(t *testing.T) {
	uid, gid := 4321, 4322
	f, err := filter.New([]filter.Rule{{Pattern: "*.tmp"}, {Include: true, Pattern: "keep/***"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &session{Options: core.Options{DeleteBefore: true, RemoveAfterTransfer: true, Links: core.LinksFollow, Filter: f,
		SupportResume: 1 << 20, TransferThreads: []core.ThreadClass{{N: 16, MaxSize: 1 << 20}, {N: 2}}},
		tags: map[string]string{"k": "v"}, targetRate: 8e6, minRate: 1e6, ratePolicy: rate.High}
	pol := core.Policy{Direction: core.Push, Overwrite: core.OverwriteOlder, Checksum: core.ChecksumSHA1,
		PreserveTime: true, PreserveATime: true, PreserveUID: true, PreserveGID: true, WriteUID: &uid, WriteGID: &gid,
		PreserveXattrs: true, PreserveACLs: true, IgnoreMode: true, IgnoreDelete: true, Mirror: true,
		Dedup: core.DedupHardlink, RenameFiles: true, RenameDirs: true, KeepDir: [2]string{"kl", "kr"}}
	want := planOptions(s, pol)
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	s2 := &session{}
	if err := setPlanOptions(s2, back); err != nil {
		t.Fatal(err)
	}
	if s2.Filter, err = filter.New(s2.rules); err != nil {
		t.Fatal(err)
	}
	s2.Policy.KeepDir = s2.keepDir // prepare resolves them so
	s2.Policy.Direction = pol.Direction
	got := planOptions(s2, s2.Policy)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !reflect.DeepEqual(jsonValue(t, got[k]), jsonValue(t, want[k])) {
			t.Errorf("option %s: read back as %v, written as %v", k, got[k], want[k])
		}
	}
	// Every field of the default policy that a run sets from the command
	// line is in the block: a zero block reads back as the zero session.
	zero := planOptions(&session{}, core.Policy{})
	if len(zero) != len(want) {
		t.Errorf("the option block has %d keys for defaults, %d when set", len(zero), len(want))
	}
}

func jsonValue(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(raw, &out)
	return out
}

// A plan's options with a wrong type or an unknown name are refused.
func TestPlanOptionsRefused(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"overwrite": "always", "checksum": "sha1_sparse"}
	}
	for name, edit := range map[string]func(map[string]any){
		"unknown option": func(m map[string]any) { m["fancy"] = true },
		"flag not bool":  func(m map[string]any) { m["mirror"] = "yes" },
		"uid not number": func(m map[string]any) { m["write_uid"] = "root" },
		"uid negative":   func(m map[string]any) { m["write_uid"] = -1.0 },
		"bad dedup":      func(m map[string]any) { m["dedup"] = "maybe" },
		"bad filter":     func(m map[string]any) { m["filters"] = []any{"*.tmp"} },
		"bad xattrs":     func(m map[string]any) { m["preserve_xattrs"] = "metafile-ish" },
		"bad threads":    func(m map[string]any) { m["transfer_threads"] = []any{"0"} },
		"bad links":      func(m map[string]any) { m["symbolic_links"] = "hard" },
	} {
		m := base()
		edit(m)
		if err := setPlanOptions(&session{}, m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := setPlanOptions(&session{}, base()); err != nil {
		t.Errorf("minimal options refused: %v", err)
	}
}
