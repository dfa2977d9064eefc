// Package modeltest holds async's randomized model test of bidirectional
// sync: random file and directory operations on both sides of a
// local↔local session, with syncs in between, checked against the
// invariants every sync must keep (no content lost, convergence,
// idempotence). It has no non-test code.
package modeltest
