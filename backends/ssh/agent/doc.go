// Package agent is the server side of the SSH backend: the program a
// client starts on the server (`async server --stdio`), which resolves
// the session's paths inside the user's docroot, serves requests through
// a filesystem the caller wires in (Options.Open; the command gives it the
// local backend), keeps the remote snapshot and log, and serves the data
// path. backends/ssh/doc.go describes the protocol and the docroot.
package agent
