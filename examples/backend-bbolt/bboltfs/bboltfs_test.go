package bboltfs_test

import (
	"path/filepath"
	"testing"

	"example.com/async-backend-bbolt/bboltfs"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b, err := bboltfs.OpenFile(filepath.Join(t.TempDir(), "t.db"), bboltfs.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
