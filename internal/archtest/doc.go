// Package archtest holds the test that keeps the import rules of
// docs/architecture.md: core imports no backend, a backend imports no
// other backend. It has no code of its own.
package archtest
