// Command async-backend-azblob serves azblob:// buckets (Azure Blob Storage) to async:
// a plugin (package plugins) that async starts for a azblob:// URL. It holds
// gocloud's azureblob driver, which async itself leaves out to start fast.
// make build puts it beside async, where async finds it.
package main

import (
	_ "gocloud.dev/blob/azureblob" // azblob://

	"github.com/async-sync/async/backends/blob"
	"github.com/async-sync/async/plugins"
)

func main() { plugins.Serve(blob.OpenBackend) }
