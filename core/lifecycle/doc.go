// Package lifecycle runs a session over time, around the engine's single
// run (core.Sync): it restores both sides' snapshots from their store
// directories, holds them open (and so locked against another run of the
// session) while runs go on, and saves them afterwards (Session); it is
// the continuous controller that turns watcher events and rescan
// intervals into runs (Follow, Controller); and it fills in the policy
// choices a session leaves to the two backends (RoundPolicy).
//
// It sits beside core, not inside it: a snapshot in a local directory is
// the snapshot package's Badger database, which core cannot import (the
// snapshot package imports core), and core stays the pure engine of one
// run. Backends reach it through the Snapshots interface; the command
// line wires its own kinds (the SSH agent's remote snapshot) in.
package lifecycle
