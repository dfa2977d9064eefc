// Command async-backend-bbolt is an async backend plugin that keeps a whole
// tree in one bbolt database file (URLs bbolt:///abs/path/to/file.db). Put
// it where async looks for plugins; async starts it when it needs it.
package main

import (
	"example.com/async-backend-bbolt/bboltfs"
	"github.com/async-sync/async/plugins"
)

func main() {
	plugins.Serve(bboltfs.Open)
}
