package core

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkReconcileFirstCopy plans a push of 100,000 files in 1,000
// directories to an empty side: an action on every path.
func BenchmarkReconcileFirstCopy(b *testing.B) {
	const files, perDir = 100000, 100
	mtime := time.Unix(1700000000, 0)
	var states []PathState
	for d := range files / perDir {
		dir := fmt.Sprintf("d%04d", d)
		states = append(states, PathState{Path: dir, Cur: [2]*Entry{{Path: dir, Type: TypeDir, Mode: 0o755, MTime: mtime}}})
		for f := range perDir {
			p := fmt.Sprintf("%s/f%06d", dir, d*perDir+f)
			states = append(states, PathState{Path: p, Cur: [2]*Entry{{Path: p, Type: TypeFile, Size: 100, Mode: 0o644, MTime: mtime}}})
		}
	}
	p := Policy{Direction: Push}
	b.ReportAllocs()
	for b.Loop() {
		if plan := Reconcile(states, p); len(plan.Actions) != len(states) {
			b.Fatalf("%d actions for %d paths", len(plan.Actions), len(states))
		}
	}
}
