package s3test

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBinaryLooksInTheToolsCache(t *testing.T) {
	t.Setenv("ASYNC_VERSITYGW", "")
	t.Setenv("PATH", "")
	dir := t.TempDir()
	t.Setenv("ASYNC_TOOLS", dir)
	want := filepath.Join(dir, "versitygw-"+Version, "versitygw")
	if got := CachePath(); got != want {
		t.Fatalf("CachePath = %s, want %s", got, want)
	}
	if _, err := Binary(); err == nil {
		t.Fatal("found a versitygw in an empty cache")
	}
	writeExec(t, want)
	if got, err := Binary(); err != nil || got != want {
		t.Errorf("Binary = %s, %v; want %s", got, err, want)
	}
	t.Setenv("ASYNC_VERSITYGW", "/elsewhere/versitygw")
	if got, _ := Binary(); got != "/elsewhere/versitygw" {
		t.Errorf("ASYNC_VERSITYGW not preferred: %s", got)
	}
}

func writeExec(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
