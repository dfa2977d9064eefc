package client

import (
	"context"

	"github.com/async-sync/async/backends/ssh/protocol"
)

// JournalSince asks the server's change journal service, through the
// agent, what changed below the remote root since the token prior that
// the session recorded at its last complete run (fp: the session's
// settings fingerprint). why says why the answer cannot stand for a scan
// ("" when it can); next is the token to record if this run completes.
func (c *Client) JournalSince(ctx context.Context, prior, fp string) (paths []string, next, why string, err error) {
	var e protocol.Enc
	e.Str(prior)
	e.Str(fp)
	f, err := c.call(ctx, protocol.OpJournal, e.B)
	if err != nil {
		return nil, "", "", err
	}
	d := protocol.Dec{B: f.Payload}
	why, next, paths = d.Str(), d.Str(), d.Strings()
	return paths, next, why, d.Err
}
