package main

import (
	"context"
	"errors"

	"github.com/async-sync/async/backends/objstore"
)

func openBlob(ctx context.Context, raw string) (objstore.Bucket, string, error) {
	return nil, "", errors.New("gocloud.dev buckets are not available in this build")
}
