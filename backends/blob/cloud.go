//go:build !async_nocloud

package blob

// The cloud drivers. They double the size of the async binary and add
// about 10 ms to its start (their package initialisation): a build with
// -tags async_nocloud leaves them out, for slim agents; gs:// and azblob://
// are then refused with gocloud's "no driver" error.
import (
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/gcsblob"   // gs://
)
