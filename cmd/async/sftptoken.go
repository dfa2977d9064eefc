package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempTokenFile names the file, in the local snapshot directory of an
// SFTP side, that holds the session's temporary file token: the temporary
// files the session writes on the server carry it, so that a later run
// can remove those a killed run left there, and only those.
const tempTokenFile = "temp-token"

// sftpTempToken returns the SFTP side's token, kept in dir, making one on
// the first run. A dry run makes none (it writes nothing) and gets "".
func sftpTempToken(dir string, dryRun bool) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, tempTokenFile))
	if err == nil {
		if t := strings.TrimSpace(string(b)); len(t) == 16 && isHexToken(t) {
			return t, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("temporary file token: %w", err)
	}
	if dryRun {
		return "", nil
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("temporary file token: %w", err)
	}
	t := hex.EncodeToString(r[:])
	return t, writeTempToken(dir, t)
}

// writeTempToken stores the token in dir, atomically.
func writeTempToken(dir, token string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("temporary file token: %w", err)
	}
	tmp := filepath.Join(dir, tempTokenFile+".new")
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("temporary file token: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, tempTokenFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("temporary file token: %w", err)
	}
	return nil
}

func isHexToken(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// sftpSnapshots is the local snapshot of an SFTP side; dropping it
// (--reset) keeps the temporary file token, so that what an earlier run
// left on the server is still known as the session's.
type sftpSnapshots struct {
	*localSnapshots
	token string
}

func (s *sftpSnapshots) remove(ctx context.Context) error {
	if err := s.localSnapshots.remove(ctx); err != nil {
		return err
	}
	if s.token == "" {
		return nil
	}
	return writeTempToken(s.dir, s.token)
}
