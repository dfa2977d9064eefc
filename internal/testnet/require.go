package testnet

import (
	"os"
	"strconv"
)

// InCI reports whether the tests run under CI (CI=true, as CI services
// and .ci/run set it). There every test must run: a missing prerequisite
// fails the test instead of skipping it.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Missing ends a test whose prerequisite is missing: it skips with reason
// (one line), or fails when InCI, so that a CI run that would skip tests
// fails instead. A T without Skip (a benchmark program) fails.
func Missing(t T, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI=true: every test must run)", reason)
	}
	if s, ok := t.(interface{ Skip(args ...any) }); ok {
		s.Skip(reason)
	}
	t.Fatal(reason)
}

// NeedRoot skips the test (fails it under CI) unless the process runs as
// root; why says what the test does that needs root.
func NeedRoot(t T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "not root: "+why)
	}
}
