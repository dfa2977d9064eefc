package agent

import (
	"context"
	"io"
)

// ServePipes runs an agent with the options o in this process, over a
// pair of pipes instead of an SSH session: what the model test and the
// client's tests talk to. It returns the client's ends, and end, which
// closes the agent's input (as a session's end does) and returns what
// Serve returned.
func ServePipes(o Options) (r io.Reader, w io.Writer, end func() error) {
	cr, aw := io.Pipe()
	ar, cw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), ar, aw, o)
		aw.Close()
	}()
	return cr, cw, func() error {
		cw.Close()
		return <-done
	}
}
