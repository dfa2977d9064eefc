package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// pluginSums reads the pinned checksums of file (none when it is missing):
// lines "SCHEME sha256:HEX"; '#' starts a comment.
func pluginSums(file string) (map[string][]byte, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) || file == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin config: %w", err)
	}
	defer f.Close()
	return parsePluginSums(file, f)
}

func parsePluginSums(file string, r io.Reader) (map[string][]byte, error) {
	sums := map[string][]byte{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		hexSum, ok := strings.CutPrefix(f[len(f)-1], "sha256:")
		sum, err := hex.DecodeString(hexSum)
		if len(f) != 2 || !ok || err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("plugin config %s line %d: want SCHEME sha256:HEX (64 hex digits)", file, n)
		}
		sums[f[0]] = sum
	}
	return sums, sc.Err()
}
