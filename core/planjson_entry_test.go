package core_test

import (
	"bytes"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/entrytest"
)

// planOmits are the fields of core.Entry a JSON plan does not carry in an
// expectation, and why.
var planOmits = map[string]string{
	"FileID": "identity across renames is for the snapshot and rename detection, not a precondition",
}

// TestPlanJSONEveryField: every field of core.Entry a plan carries comes
// back from its JSON, in both expectations of an action.
func TestPlanJSONEveryField(t *testing.T) {
	want := entrytest.Full()
	in := &core.Plan{Actions: []core.Action{{Op: core.OpCopy, Side: core.Remote, Path: want.Path, Source: &want, Dest: &want}}}
	var buf bytes.Buffer
	if err := core.WritePlanJSON(&buf, core.PlanHeader{Direction: core.Push}, in); err != nil {
		t.Fatal(err)
	}
	_, out, err := core.ReadPlanJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Actions) != 1 || out.Actions[0].Source == nil || out.Actions[0].Dest == nil {
		t.Fatalf("actions %+v", out.Actions)
	}
	for _, l := range entrytest.Diff(*out.Actions[0].Source, want, planOmits) {
		t.Errorf("expect_source: %s", l)
	}
	for _, l := range entrytest.Diff(*out.Actions[0].Dest, want, planOmits) {
		t.Errorf("expect_dest: %s", l)
	}
}
