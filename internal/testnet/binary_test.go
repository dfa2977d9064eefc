package testnet

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAsyncBinaryCopiesTheGivenBinary(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "built"), filepath.Join(dir, "copy")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinaryEnv, src)
	if err := AsyncBinary(dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o755 || fi.Size() != 10 {
		t.Errorf("copy: %v, %v", fi, err)
	}
	t.Setenv(BinaryEnv, filepath.Join(dir, "missing"))
	if err := AsyncBinary(dst); err == nil {
		t.Error("a missing binary was copied")
	}
}
