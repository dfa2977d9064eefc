package memfs_test

import (
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/core/memfs"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend { return memfs.New(memfs.Options{}) })
}
