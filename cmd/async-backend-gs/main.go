// Command async-backend-gs serves gs:// buckets (Google Cloud Storage) to async:
// a plugin (package plugins) that async starts for a gs:// URL. It holds
// gocloud's gcsblob driver, which async itself leaves out to start fast.
// make build puts it beside async, where async finds it.
package main

import (
	_ "gocloud.dev/blob/gcsblob" // gs://

	"github.com/async-sync/async/backends/blob"
	"github.com/async-sync/async/plugins"
)

func main() { plugins.Serve(blob.OpenBackend) }
