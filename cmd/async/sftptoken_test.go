package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/async-sync/async/core/lifecycle"
)

func TestSFTPTempToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "remote")
	if tok, err := sftpTempToken(dir, true); err != nil || tok != "" {
		t.Fatalf("dry run: %q, %v; want none", tok, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a dry run wrote %s", dir)
	}
	tok, err := sftpTempToken(dir, false)
	if err != nil || len(tok) != 16 || !isHexToken(tok) {
		t.Fatalf("first run: %q, %v", tok, err)
	}
	if again, err := sftpTempToken(dir, false); err != nil || again != tok {
		t.Errorf("later run: %q, %v; want %q", again, err, tok)
	}
	// A dry run removes nothing, even while the session runs.
	if again, err := sftpTempToken(dir, true); err != nil || again != "" {
		t.Errorf("later dry run: %q, %v; want none", again, err)
	}
	// --reset drops the snapshot, not the token.
	snaps := &sftpSnapshots{&lifecycle.Dir{Path: dir}, tok}
	if err := snaps.Remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again, err := sftpTempToken(dir, false); err != nil || again != tok {
		t.Errorf("after --reset: %q, %v; want %q", again, err, tok)
	}
	// A damaged token file gets a new token.
	os.WriteFile(filepath.Join(dir, tempTokenFile), []byte("../../x\n"), 0o600)
	if again, err := sftpTempToken(dir, false); err != nil || again == tok || !isHexToken(again) {
		t.Errorf("damaged token file: %q, %v", again, err)
	}
}
