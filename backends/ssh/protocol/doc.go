// Package protocol is the agent protocol both ends of an SSH session
// speak (backends/ssh/doc.go describes it): frames and their framing
// connection (Conn), the payload codec (Enc, Dec), the operations, the
// hello, the error codes, compression and the bounds on what the wire may
// ask. It depends on neither end: package agent serves it, package client
// speaks it.
package protocol
