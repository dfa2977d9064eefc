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

	"github.com/async-sync/async/core/lifecycle"
)

// tempTokenFile names the file, in the local snapshot directory of an
// SFTP side, that holds the session's temporary file token: the temporary
// files the session writes on the server carry it, so that a later run
// can remove those a killed run left there, and only those.
const tempTokenFile = "temp-token"

// sftpTempToken returns the SFTP side's token, kept in dir, making one on
// the first run. A dry run gets "": it writes nothing, and its scan must
// not remove the temporaries of a run of the session going on meanwhile
// (a dry run does not take the session's lock).
func sftpTempToken(dir string, dryRun bool) (string, error) {
	if dryRun {
		return "", nil
	}
	for range 2 {
		b, err := os.ReadFile(filepath.Join(dir, tempTokenFile))
		if err == nil {
			if t := strings.TrimSpace(string(b)); len(t) == 16 && isHexToken(t) {
				return t, nil
			}
			os.Remove(filepath.Join(dir, tempTokenFile)) // damaged: a new one
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("temporary file token: %w", err)
		}
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("temporary file token: %w", err)
		}
		t := hex.EncodeToString(r[:])
		switch err := placeTempToken(dir, t, false); {
		case err == nil:
			return t, nil
		case !errors.Is(err, fs.ErrExist):
			return "", err
		}
		// Another run of the session made one meanwhile: use it.
	}
	return "", errors.New("temporary file token: the token file keeps changing")
}

// writeTempToken stores the token in dir, replacing any other.
func writeTempToken(dir, token string) error { return placeTempToken(dir, token, true) }

// placeTempToken stores the token in dir, whole: written aside, then
// renamed (replace) or linked (not replacing: fs.ErrExist when one is
// there) into place.
func placeTempToken(dir, token string, replace bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("temporary file token: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tempTokenFile+".*.new")
	if err != nil {
		return fmt.Errorf("temporary file token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(token + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if replace {
			err = os.Rename(tmp.Name(), filepath.Join(dir, tempTokenFile))
		} else if err = os.Link(tmp.Name(), filepath.Join(dir, tempTokenFile)); err != nil && !errors.Is(err, fs.ErrExist) {
			err = os.Rename(tmp.Name(), filepath.Join(dir, tempTokenFile)) // a file system without hard links
		}
	}
	if err != nil {
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
	*lifecycle.Dir
	token string
}

// Remove drops the snapshot and writes the token back.
func (s *sftpSnapshots) Remove(ctx context.Context) error {
	if err := s.Dir.Remove(ctx); err != nil {
		return err
	}
	if s.token == "" {
		return nil
	}
	return writeTempToken(s.Path, s.token)
}
