package agent

import (
	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
)

// withLocal returns o serving through the local backend, as the command
// wires it.
func withLocal(o Options) Options {
	o.Open = func(dir string, fo FSOptions) (core.Backend, error) {
		fs, err := local.Open(dir, local.Options{FollowLinks: fo.FollowLinks, Confined: fo.Confined})
		if err != nil {
			return nil, err
		}
		return fs, nil
	}
	return o
}
